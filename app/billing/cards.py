"""Rate cards and contracts as finance keeps them: a new version of a card (the default of
a service level, or a partner's contract card) from a later date, the fuel surcharge from
a later date, and what a parcel would cost on a card not yet saved. Nothing is edited: a
version that takes effect tomorrow replaces today's from then on."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.billing.models import FuelSurcharge, RateCard
from app.billing.money import CurrencyError, check_currency
from app.billing.rating import (
    SERVICE_LEVELS,
    Card,
    CardError,
    Rate,
    Shipped,
    check_tariff,
    invalidate_rate_cards,
    rate,
    tariff_of,
)

#: The surcharges of a card, as its columns name them; ``_bp`` are basis points.
SURCHARGES = ("return_amount", "failed_attempt_amount", "cod_fee_bp", "cod_fee_min", "remote_amount",
              "remote_beyond_km", "insurance_bp", "vat_bp")


@dataclass(frozen=True)
class Draft:
    """A card version as finance fills it in: checked by ``check``, saved by ``save``."""

    partner_id: int | None
    service_level: str
    currency: str
    effective_from: date
    name: str
    tariff: dict
    surcharges: dict
    note: str = ""


def check(draft: Draft) -> Card:
    """The card the draft would be (id 0); CardError names the first thing wrong."""
    if draft.service_level not in SERVICE_LEVELS:
        raise CardError(f"the service level is one of {', '.join(SERVICE_LEVELS)}")
    try:
        check_currency(draft.currency)
    except CurrencyError as exc:
        raise CardError(str(exc)) from None
    zones, hub_pairs, per_km = check_tariff(draft.tariff)
    values = {}
    for name in SURCHARGES:
        value = draft.surcharges.get(name)
        if name == "remote_beyond_km":
            if value is not None and value < 0:
                raise CardError("the remote area's distance cannot be negative")
        elif value is None or value < 0:
            raise CardError(f"{name.replace('_', ' ')}: a whole number, not negative")
        elif name.endswith("_bp") and value > 10_000:
            raise CardError(f"{name.replace('_bp', '').replace('_', ' ')}: at most 100 %")
        values[name] = value
    return Card(0, draft.partner_id, draft.service_level, draft.currency, draft.effective_from,
                draft.name.strip() or draft.service_level, zones, hub_pairs, per_km, **values)


def save(session: Session, draft: Draft, *, user_id: int | None) -> RateCard:
    """A new version from ``effective_from``, which must be after today: quotes already
    given today keep the card they came from. Flushes."""
    card = check(draft)
    if draft.effective_from <= clock.today():
        raise CardError("a new version takes effect from tomorrow at the earliest: today's quotes stand")
    taken = session.scalar(select(RateCard.id).where(
        RateCard.service_level == card.service_level, RateCard.currency == card.currency,
        RateCard.effective_from == card.effective_from,
        RateCard.partner_id == card.partner_id if card.partner_id else RateCard.partner_id.is_(None)))
    if taken:
        raise CardError(f"a version from {card.effective_from:%d %b %Y} exists already: choose another day")
    row = RateCard(partner_id=card.partner_id, service_level=card.service_level, currency=card.currency,
                   effective_from=card.effective_from, name=card.name[:120], tariff=tariff_of(card),
                   note=draft.note.strip()[:300], created_by=user_id, created_at=clock.now(),
                   **{name: getattr(card, name) for name in SURCHARGES})
    session.add(row)
    session.flush()
    _forget_cards_after_commit(session)
    return row


def _forget_cards_after_commit(session: Session) -> None:
    """This process reads the new version at once once committed (others within a minute,
    the cards' time in memory, which is why a version starts tomorrow at the earliest)."""
    session.info.setdefault("after_commit", []).append(invalidate_rate_cards)


def preview(draft: Draft, shipped: Shipped, *, fuel_bp: int) -> Rate:
    """What ``shipped`` would cost on the draft, before it is saved."""
    return rate(check(draft), shipped, fuel_bp=fuel_bp)


def versions(session: Session, *, partner_id: int | None, service_level: str, currency: str) -> list[RateCard]:
    """Every version of one card, newest first."""
    owner = RateCard.partner_id == partner_id if partner_id else RateCard.partner_id.is_(None)
    return list(session.scalars(select(RateCard).where(owner, RateCard.service_level == service_level,
                                                       RateCard.currency == currency)
                                .order_by(RateCard.effective_from.desc())))


def cards_on(session: Session, on: date) -> list[tuple[RateCard, RateCard | None]]:
    """Each card (default or contract, per service level and currency): the version in
    force on ``on`` and the next one scheduled, if any."""
    rows = list(session.scalars(select(RateCard).order_by(RateCard.partner_id.is_not(None), RateCard.partner_id,
                                                          RateCard.service_level, RateCard.effective_from)))
    out: dict[tuple, list] = {}
    for row in rows:
        key = (row.partner_id, row.service_level, row.currency)
        slot = out.setdefault(key, [None, None])
        if row.effective_from <= on:
            slot[0] = row
        elif slot[1] is None:
            slot[1] = row
    return [(now, later) for now, later in out.values() if now or later]


def fuel_history(session: Session) -> list[FuelSurcharge]:
    return list(session.scalars(select(FuelSurcharge).order_by(FuelSurcharge.effective_from.desc()).limit(24)))


def set_fuel(session: Session, effective_from: date, rate_bp: int, *, user_id: int | None) -> FuelSurcharge:
    """The fuel surcharge from a later date (a percentage of the freight). Flushes."""
    if effective_from <= clock.today():
        raise CardError("the fuel surcharge changes from tomorrow at the earliest: today's quotes stand")
    if not 0 <= rate_bp <= 10_000:
        raise CardError("the fuel surcharge is between 0 and 100 %")
    if session.get(FuelSurcharge, effective_from) is not None:
        raise CardError(f"a fuel surcharge from {effective_from:%d %b %Y} exists already")
    row = FuelSurcharge(effective_from=effective_from, rate_bp=rate_bp, created_by=user_id, created_at=clock.now())
    session.add(row)
    session.flush()
    _forget_cards_after_commit(session)
    return row
