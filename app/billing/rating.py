"""Rating: the price of a delivery from the rate card. Quotes, order intake and fee
collection all call ``rate``, so a partner is charged what it was quoted."""
from __future__ import annotations

import time
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


@dataclass(frozen=True)
class Card:
    """A rate card as read: safe to keep between transactions."""

    id: int
    service_level: str
    currency: str
    base_amount: int
    per_km_amount: int
    per_kg_amount: int
    return_amount: int


_cards: dict[tuple, tuple[float, Card]] = {}
#: Seconds a process keeps a rate card; new cards take effect from a date, so a minute is safe.
CARD_TTL = 60.0


def rate_card_for(session: Session, service_level: str, currency: str, on: date) -> Card:
    """The card in force on ``on`` (the newest one effective by then)."""
    key = (str(session.get_bind().url), service_level, currency, on)
    hit = _cards.get(key)
    if hit and time.monotonic() - hit[0] < CARD_TTL:
        return hit[1]
    row = session.execute(
        select(RateCard.__table__).where(RateCard.service_level == service_level,
                                         RateCard.currency == currency, RateCard.effective_from <= on)
        .order_by(RateCard.effective_from.desc()).limit(1)
    ).first()
    if row is None:
        raise NoRate(f"no {currency} rate card for {service_level} on {on.isoformat()}")
    card = Card(row.id, row.service_level, row.currency, row.base_amount, row.per_km_amount,
                row.per_kg_amount, row.return_amount)
    _cards[key] = (time.monotonic(), card)
    return card


def invalidate_rate_cards() -> None:
    _cards.clear()


def rate(card: Card, *, distance_km: float, grams: int) -> Rate:
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


def return_rate(card: Card) -> Rate:
    return Rate(Money(card.return_amount, card.currency), card.id, {"return": card.return_amount,
                                                                     "total": card.return_amount})
