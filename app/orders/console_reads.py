"""What the dispatcher console reads of shipments: the dashboard's figures, search, and
one shipment whole. Figures are counted by the database, never by loading rows."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, text, union
from sqlalchemy.orm import Session

from app import clock
from app.crm.models import Partner
from app.crm.services import InvalidPhone, normalise_phone
from app.orders.lifecycle import TERMINAL, Status
from app.orders.models import Order, Shipment, ShipmentEvent

OPEN = [s.value for s in Status if s not in TERMINAL]
#: What needs a person: the exceptions queue.
EXCEPTION_STATUSES = (Status.ON_HOLD.value, Status.DELIVERY_FAILED.value)


def local_day(column, tz: ZoneInfo, dialect: str):
    """The local calendar day of a UTC timestamp column, computed by the database. The
    offset is today's (the network's zone, Asia/Ho_Chi_Minh, keeps one all year)."""
    hours = int(clock.now().astimezone(tz).utcoffset().total_seconds() // 3600)
    if dialect == "postgresql":
        return func.date(column + text(f"interval '{hours} hours'"))
    return func.date(column, f"{hours:+d} hours")


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tz)
    return start, start + timedelta(days=1)


@dataclass
class Dashboard:
    by_status: dict[str, int]
    by_hub: dict[int, dict[str, int]]
    intake_today: int
    delivered_today: int
    on_time_rate: float | None
    delivered_last_14: int
    late: int
    at_risk: int
    exceptions: dict[str, int]
    volume: list[tuple[date, int]]


def dashboard(session: Session, *, today: date, tz: ZoneInfo, hub_id: int | None = None) -> Dashboard:
    """The figures of the dashboard, for the whole network or one hub's work."""
    scope = [] if hub_id is None else [Shipment.delivery_hub_id == hub_id]
    by_status = dict(session.execute(select(Shipment.status, func.count()).where(*scope)
                                     .group_by(Shipment.status)).all())
    by_hub: dict[int, dict[str, int]] = {}
    for hub, status, count in session.execute(
            select(Shipment.delivery_hub_id, Shipment.status, func.count())
            .where(Shipment.status.in_(OPEN), *scope).group_by(Shipment.delivery_hub_id, Shipment.status)):
        by_hub.setdefault(hub, {})[status] = count
    start, end = _day_bounds(today, tz)
    intake_today = session.scalar(select(func.count()).select_from(Shipment)
                                  .where(Shipment.created_at >= start, Shipment.created_at < end, *scope))
    delivered_today = session.scalar(select(func.count()).select_from(Shipment).where(
        Shipment.delivered_at >= start, Shipment.delivered_at < end, *scope))
    since, _ = _day_bounds(today - timedelta(days=13), tz)
    # On time: delivered on or before the promised (local) day.
    dialect = session.get_bind().dialect.name
    total, on_time = session.execute(select(
        func.count(), func.count().filter(local_day(Shipment.delivered_at, tz, dialect) <= Shipment.promised_date))
        .where(Shipment.delivered_at >= since, *scope)).one()
    open_scope = [Shipment.status.in_(OPEN), *scope]
    late = session.scalar(select(func.count()).select_from(Shipment)
                          .where(Shipment.promised_date < today, *open_scope))
    at_risk = session.scalar(select(func.count()).select_from(Shipment).where(
        Shipment.promised_date == today, *open_scope,
        Shipment.status.in_([Status.CREATED.value, Status.PICKUP_SCHEDULED.value, Status.PICKED_UP.value,
                             Status.AT_SHIPPING_CENTRE.value, Status.IN_TRANSIT.value])))
    exceptions = {s: by_status.get(s, 0) for s in EXCEPTION_STATUSES}
    day = local_day(Shipment.created_at, tz, dialect)
    volume = dict(session.execute(select(day, func.count()).where(Shipment.created_at >= since, *scope)
                                  .group_by(day)).all())
    days = [today - timedelta(days=13 - i) for i in range(14)]
    return Dashboard(by_status, by_hub, intake_today, delivered_today,
                     (on_time / total) if total else None, total, late, at_risk, exceptions,
                     [(d, volume.get(d.isoformat(), volume.get(d, 0))) for d in days])


@dataclass
class Found:
    id: int
    tracking_number: str
    status: str
    reference: str
    partner: str
    recipient_name: str
    recipient_phone: str
    delivery_hub_id: int
    promised_date: date
    created_at: datetime


def search(session: Session, *, q: str = "", status: str | None = None, hub_id: int | None = None,
           partner_id: int | None = None, created_from: date | None = None, created_to: date | None = None,
           late: bool = False, today: date | None = None, before_id: int | None = None,
           tz: ZoneInfo = ZoneInfo("UTC"), limit: int = 50) -> tuple[list[Found], int | None]:
    """Shipments matching the filters, newest first, a page at a time. ``q`` is a tracking
    number, a partner's reference or a phone number (any of the three matches); created
    dates are local days in ``tz``."""
    stmt = (select(Shipment.id, Shipment.tracking_number, Shipment.status, Order.reference, Partner.name,
                   Order.recipient_name, Order.recipient_phone, Shipment.delivery_hub_id, Shipment.promised_date,
                   Shipment.created_at)
            .join(Order, Order.id == Shipment.order_id).join(Partner, Partner.id == Shipment.partner_id)
            .order_by(Shipment.id.desc()).limit(limit + 1))
    q = q.strip()
    if q:
        # Each of the three by its own index, then together: an OR across the two joined
        # tables would read every shipment.
        matches = [select(Shipment.id).where(Shipment.tracking_number == q.upper().replace(" ", "")),
                   select(Shipment.id).join(Order, Order.id == Shipment.order_id).where(Order.reference == q)]
        try:
            phone = normalise_phone(q, "VN")
            matches.append(select(Shipment.id).join(Order, Order.id == Shipment.order_id)
                           .where(Order.recipient_phone == phone))
        except InvalidPhone:
            pass
        stmt = stmt.where(Shipment.id.in_(union(*matches)))
    if status:
        stmt = stmt.where(Shipment.status == status)
    if hub_id:
        stmt = stmt.where(Shipment.delivery_hub_id == hub_id)
    if partner_id:
        stmt = stmt.where(Shipment.partner_id == partner_id)
    if created_from:
        stmt = stmt.where(Shipment.created_at >= _day_bounds(created_from, tz)[0])
    if created_to:
        stmt = stmt.where(Shipment.created_at < _day_bounds(created_to, tz)[1])
    if late and today:
        stmt = stmt.where(and_(Shipment.promised_date < today, Shipment.status.in_(OPEN)))
    if before_id:
        stmt = stmt.where(Shipment.id < before_id)
    rows = [Found(*r) for r in session.execute(stmt)]
    return rows[:limit], (rows[limit - 1].id if len(rows) > limit else None)


@dataclass
class HubWork:
    inbound: int
    on_hand: int
    out: int


def hub_work(session: Session, hubs) -> dict[int, HubWork]:
    """Per hub: parcels on their way in, on hand, and out for delivery. A centre receives
    picked-up parcels and holds those of its own area and those waiting for a line-haul; a
    local hub receives line-hauls."""
    rows = session.execute(select(Shipment.centre_id, Shipment.delivery_hub_id, Shipment.status, func.count())
                           .where(Shipment.status.in_([
                               Status.PICKED_UP.value, Status.AT_SHIPPING_CENTRE.value, Status.IN_TRANSIT.value,
                               Status.AT_LOCAL_HUB.value, Status.DELIVERY_FAILED.value,
                               Status.OUT_FOR_DELIVERY.value]))
                           .group_by(Shipment.centre_id, Shipment.delivery_hub_id, Shipment.status)).all()
    work = {h.id: HubWork(0, 0, 0) for h in hubs}
    for centre_id, hub_id, status, n in rows:
        if status == Status.PICKED_UP.value:
            work[centre_id].inbound += n
        elif status == Status.AT_SHIPPING_CENTRE.value:
            work[centre_id].on_hand += n
        elif status == Status.IN_TRANSIT.value:
            work[hub_id].inbound += n
        elif status in (Status.AT_LOCAL_HUB.value, Status.DELIVERY_FAILED.value):
            work[hub_id].on_hand += n
        else:
            work[hub_id].out += n
    return work


def recent_scans(session: Session, hub_id: int, limit: int = 15) -> list[tuple]:
    """The latest events recorded at a hub: (time, tracking number, event type, applied, actor)."""
    return session.execute(
        select(ShipmentEvent.server_time, Shipment.tracking_number, ShipmentEvent.type, ShipmentEvent.applied,
               ShipmentEvent.actor)
        .join(Shipment, Shipment.id == ShipmentEvent.shipment_id)
        .where(ShipmentEvent.hub_id == hub_id).order_by(ShipmentEvent.id.desc()).limit(limit)).all()


@dataclass
class Week:
    """An account's shipments created in one week (Monday first), and how they went."""

    start: date
    created: int = 0
    delivered: int = 0
    on_time: int = 0
    returned: int = 0
    failed_attempts: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.delivered if self.delivered else None


def partner_weeks(session: Session, partner_id: int, *, weeks: int, today: date, tz: ZoneInfo) -> list[Week]:
    """The last ``weeks`` weeks of a partner's shipments, by the week they were created:
    one grouped query (by local day) on the partner's index."""
    first = today - timedelta(days=today.weekday() + 7 * (weeks - 1))
    since, _ = _day_bounds(first, tz)
    dialect = session.get_bind().dialect.name
    day = local_day(Shipment.created_at, tz, dialect)
    rows = session.execute(
        select(day, func.count(), func.count(Shipment.delivered_at),
               func.count().filter(local_day(Shipment.delivered_at, tz, dialect) <= Shipment.promised_date),
               func.count().filter(Shipment.outcome == "returned"), func.coalesce(func.sum(Shipment.failed_attempts), 0))
        .where(Shipment.partner_id == partner_id, Shipment.created_at >= since).group_by(day))
    out = [Week(first + timedelta(days=7 * i)) for i in range(weeks)]
    for day_, created, delivered, on_time, returned, failed in rows:
        d = day_ if isinstance(day_, date) else date.fromisoformat(str(day_))
        week = out[(d - first).days // 7]
        week.created += created
        week.delivered += delivered
        week.on_time += on_time
        week.returned += returned
        week.failed_attempts += int(failed)
    return out


def customer_orders(session: Session, customer_ids: list[int], *, limit: int = 100) -> list[tuple]:
    """(shipment id, tracking number, status, outcome, partner, reference, promised day,
    created) of the orders to these customer records, newest first."""
    return list(session.execute(
        select(Shipment.id, Shipment.tracking_number, Shipment.status, Shipment.outcome, Partner.name,
               Order.reference, Shipment.promised_date, Order.created_at)
        .join(Shipment, Shipment.order_id == Order.id).join(Partner, Partner.id == Order.partner_id)
        .where(Order.customer_id.in_(customer_ids)).order_by(Order.id.desc()).limit(limit)))


@dataclass
class Accuracy:
    """How promises due in a period fared, for one service level, hub or partner."""

    key: object
    #: Delivered by the day first promised.
    kept: int = 0
    #: Moved after a slip, and delivered by the day the customer was told last.
    revised: int = 0
    #: Delivered after the last promise, or still not delivered past it.
    broken: int = 0

    @property
    def total(self) -> int:
        return self.kept + self.revised + self.broken

    def share(self, part: int) -> float | None:
        return part / self.total if self.total else None


#: What promise accuracy may be counted by.
ACCURACY_BY = {"service_level": Order.service_level, "hub": Shipment.delivery_hub_id, "partner": Shipment.partner_id}


def promise_accuracy(session: Session, start: date, end: date, *, by: str, today: date, tz: ZoneInfo) -> list[Accuracy]:
    """Promises due from ``start`` to ``end`` (the last day promised, inclusive) and due by
    ``today``: kept, revised or broken, counted ``by`` service level, hub or partner.
    Returned, cancelled and lost parcels are not counted: they were not to be delivered."""
    key = ACCURACY_BY[by]
    dialect = session.get_bind().dialect.name
    delivered_on = local_day(Shipment.delivered_at, tz, dialect)
    delivered = Shipment.outcome == "delivered"
    kept = and_(delivered, delivered_on <= func.coalesce(Shipment.first_promised_date, Shipment.promised_date))
    revised = and_(delivered, delivered_on <= Shipment.promised_date, Shipment.promise_revisions > 0, ~kept)
    counted = or_(delivered, and_(Shipment.outcome.is_(None),
                                  Shipment.status.notin_([Status.CANCELLED.value, Status.LOST.value]),
                                  Shipment.promised_date < today))
    rows = session.execute(
        select(key, func.count().filter(kept), func.count().filter(revised), func.count())
        .join(Order, Order.id == Shipment.order_id)
        .where(Shipment.promised_date >= start, Shipment.promised_date <= min(end, today), counted)
        .group_by(key).order_by(key)).all()
    return [Accuracy(k, n_kept, n_revised, total - n_kept - n_revised) for k, n_kept, n_revised, total in rows]
