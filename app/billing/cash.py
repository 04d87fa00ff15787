"""Cash on delivery from the driver's hand to the hub: the day's summary, the driver's
declaration, the hub operator's count. Differences are recorded, never overwritten."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.billing.models import CashHandover
from app.db import utcnow
from app.delivery.models import Driver
from app.delivery.services import cod_taken


class CashError(ValueError):
    pass


@dataclass
class Collected:
    shipment_id: int
    tracking_number: str
    recipient: str
    amount: int
    currency: str
    method: str
    at: datetime


def collected(session: Session, driver_id: int, day: date, tz: ZoneInfo) -> list[Collected]:
    """Cash on delivery the driver took on ``day`` (local), delivery by delivery."""
    start = datetime.combine(day, time(), tz)
    return [Collected(*row) for row in cod_taken(session, driver_id, start, start + timedelta(days=1))]


def totals(items: list[Collected], *, cash_only: bool = False) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in items:
        if not cash_only or c.method == "cash":
            out[c.currency] = out.get(c.currency, 0) + c.amount
    return out


def handovers_of(session: Session, *, driver_id: int | None = None, hub_id: int | None = None,
                 day: date | None = None, open_only: bool = False) -> list[CashHandover]:
    stmt = select(CashHandover).order_by(CashHandover.id.desc())
    if driver_id:
        stmt = stmt.where(CashHandover.driver_id == driver_id)
    if hub_id:
        stmt = stmt.where(CashHandover.hub_id == hub_id)
    if day:
        stmt = stmt.where(CashHandover.run_date == day)
    if open_only:
        stmt = stmt.where(CashHandover.received_at.is_(None))
    return list(session.scalars(stmt.limit(200)))


def declare(session: Session, driver: Driver, day: date, tz: ZoneInfo, currency: str, declared: int) -> CashHandover:
    """The driver hands over ``declared`` (minor units) of the day's cash; what the day's
    deliveries say they took in cash is kept beside it. Declaring again before the hub has
    counted replaces the declaration."""
    if declared < 0:
        raise CashError("the amount cannot be negative")
    expected = totals(collected(session, driver.id, day, tz), cash_only=True).get(currency, 0)
    handover = session.scalars(select(CashHandover).where(
        CashHandover.driver_id == driver.id, CashHandover.run_date == day, CashHandover.currency == currency)
        .with_for_update()).first()
    if handover is not None and handover.received_at is not None:
        raise CashError("the hub has already counted today's cash")
    if handover is None:
        handover = CashHandover(driver_id=driver.id, hub_id=driver.hub_id, run_date=day, currency=currency,
                                expected_amount=expected, declared_amount=declared)
        session.add(handover)
    handover.expected_amount, handover.declared_amount, handover.declared_at = expected, declared, utcnow()
    session.flush()
    return handover


def confirm(session: Session, handover_id: int, received: int, *, user_id: int, hub_id: int | None,
            note: str | None = None) -> CashHandover:
    """The hub operator counted ``received``; recorded once, with the difference."""
    handover = session.get(CashHandover, handover_id, with_for_update=True)
    if handover is None or (hub_id and handover.hub_id != hub_id):
        raise CashError(f"no handover {handover_id} at this hub")
    if handover.received_at is not None:
        raise CashError("already counted: a recorded count is not changed")
    if received < 0:
        raise CashError("the amount cannot be negative")
    if received != handover.expected_amount and not (note and note.strip()):
        raise CashError("the count differs from what the deliveries say: add a note")
    handover.received_amount, handover.received_at, handover.received_by = received, utcnow(), user_id
    handover.note = note.strip()[:500] if note else None
    session.flush()
    return handover
