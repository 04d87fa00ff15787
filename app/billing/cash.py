"""Cash on delivery from the driver's hand to the hub: the day's summary, the driver's
declaration, the hub operator's count. Differences are recorded, never overwritten."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.billing import posting
from app.billing.models import CashHandover
from app.delivery.models import Driver
from app.delivery.services import cod_taken


class CashError(ValueError):
    pass


@dataclass
class Collected:
    shipment_id: int
    tracking_number: str
    recipient: str
    #: What the driver recorded taking.
    amount: int
    currency: str
    method: str
    at: datetime
    #: What the customer owed: the hub counts the driver's cash against it.
    due: int
    difference_reason: str | None = None


def collected(session: Session, driver_id: int, day: date, tz: ZoneInfo) -> list[Collected]:
    """Cash on delivery the driver took on ``day`` (local), delivery by delivery."""
    start = datetime.combine(day, time(), tz)
    return [Collected(*row) for row in cod_taken(session, driver_id, start, start + timedelta(days=1))]


def totals(items: list[Collected], *, cash_only: bool = False, due: bool = False) -> dict[str, int]:
    """Per currency: what was taken (or, with ``due``, what was owed)."""
    out: dict[str, int] = {}
    for c in items:
        if not cash_only or c.method == "cash":
            out[c.currency] = out.get(c.currency, 0) + (c.due if due else c.amount)
    return out


def still_to_hand_over(session: Session, driver: Driver, day: date, tz: ZoneInfo, currency: str) -> int:
    """Cash due from the day's cash deliveries not yet covered by a handover the hub counted:
    what the next handover answers for."""
    due = totals(collected(session, driver.id, day, tz), cash_only=True, due=True).get(currency, 0)
    counted = sum(h.expected_amount for h in handovers_of(session, driver_id=driver.id, day=day)
                  if h.currency == currency and h.received_at is not None)
    return due - counted


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
    """The driver hands over ``declared`` (minor units) of the day's cash; the amount due
    from the deliveries it covers is kept beside it, and the hub counts against that.
    Declaring again before the hub has counted replaces the declaration; after a count,
    later deliveries' cash is a new handover the same day."""
    if declared < 0:
        raise CashError("the amount cannot be negative")
    handover = session.scalars(select(CashHandover).where(
        CashHandover.driver_id == driver.id, CashHandover.run_date == day, CashHandover.currency == currency,
        CashHandover.received_at.is_(None)).with_for_update(key_share=True)).first()
    expected = still_to_hand_over(session, driver, day, tz, currency)
    if handover is None and expected == 0 and declared == 0:
        raise CashError("no cash is due from your deliveries since the last count")
    if handover is None:
        handover = CashHandover(driver_id=driver.id, hub_id=driver.hub_id, run_date=day, currency=currency,
                                expected_amount=expected, declared_amount=declared)
        session.add(handover)
    handover.expected_amount, handover.declared_amount, handover.declared_at = expected, declared, clock.now()
    session.flush()
    return handover


def confirm(session: Session, handover_id: int, received: int, *, user_id: int, hub_id: int | None,
            note: str | None = None) -> CashHandover:
    """The hub operator counted ``received``; recorded once, with the difference, and
    posted (the cash is at the hub; a shortage is owed by the driver)."""
    handover = session.get(CashHandover, handover_id, with_for_update={"key_share": True})
    if handover is None or (hub_id and handover.hub_id != hub_id):
        raise CashError(f"no handover {handover_id} at this hub")
    if handover.received_at is not None:
        raise CashError("already counted: a recorded count is not changed")
    if received < 0:
        raise CashError("the amount cannot be negative")
    if received != handover.expected_amount and not (note and note.strip()):
        raise CashError("the count differs from what the deliveries say: add a note")
    handover.received_amount, handover.received_at, handover.received_by = received, clock.now(), user_id
    handover.note = note.strip()[:500] if note else None
    session.flush()
    posting.post(session, "cash_counted", handover, actor=f"user:{user_id}")
    return handover
