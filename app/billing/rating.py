"""Rating: the price of a delivery from the rate card. Quotes, order intake and fee
collection all call ``rate``, so a partner is charged what it was quoted."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.billing.models import RateCard
from app.billing.money import Money, round_minor

SERVICE_LEVELS = ("standard", "express", "same_day")
#: Divisor for volumetric weight: L x W x H in cm / 5000 = kg (the industry's usual factor).
VOLUMETRIC_DIVISOR_CM3_PER_KG = 5000


class NoRate(LookupError):
    pass


def billable_grams(parcels) -> int:
    """Sum over parcels of the greater of actual and volumetric weight, in grams."""
    total = 0
    for p in parcels:
        volumetric = (p.length_cm * p.width_cm * p.height_cm * 1000) // VOLUMETRIC_DIVISOR_CM3_PER_KG
        total += max(p.weight_grams, volumetric)
    return total


@dataclass(frozen=True)
class Rate:
    amount: Money
    rate_card_id: int
    breakdown: dict


def rate_card_for(session: Session, service_level: str, currency: str, on: date) -> RateCard:
    card = session.scalars(
        select(RateCard).where(RateCard.service_level == service_level,
                               RateCard.currency == currency, RateCard.effective_from <= on)
        .order_by(RateCard.effective_from.desc()).limit(1)
    ).first()
    if card is None:
        raise NoRate(f"no {currency} rate card for {service_level} on {on.isoformat()}")
    return card


def rate(card: RateCard, *, distance_km: float, grams: int) -> Rate:
    """base + per_km x km + per_kg x kg, rounded once to minor units."""
    km = Decimal(str(distance_km))
    kg = Decimal(grams) / 1000
    distance_part = card.per_km_amount * km
    weight_part = card.per_kg_amount * kg
    total = round_minor(card.base_amount + distance_part + weight_part)
    breakdown = {"base": card.base_amount, "distance_km": float(km),
                 "distance": round_minor(distance_part), "weight_kg": float(kg),
                 "weight": round_minor(weight_part), "total": total}
    return Rate(Money(total, card.currency), card.id, breakdown)


def return_rate(card: RateCard) -> Rate:
    return Rate(Money(card.return_amount, card.currency), card.id, {"return": card.return_amount,
                                                                     "total": card.return_amount})
