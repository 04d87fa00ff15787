"""Shipment services: the one function that changes a shipment's status, and reads.

Every status change in Waybill goes through ``transition``. It checks the lifecycle
table, locks the row, appends the event, and writes the outbox rows for what must follow.
It flushes; the caller commits.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable, Sequence

from flask import current_app
from sqlalchemy import Connection, and_, func, insert, or_, select, tuple_
from sqlalchemy.orm import Session, selectinload
from app import clock
from app.orders import lifecycle, promises
from app.orders.lifecycle import TERMINAL, Event, Facts, Status, TransitionError
from app.orders.models import Order, Parcel, Shipment, ShipmentEvent
from app.orders.stages import STAGE_OF
from app.outbox import REQUEST_ID, OutboxMessage, add_outbox

__all__ = ["transition", "TransitionError", "TransitionResult", "lock_shipments"]

#: Event types that customers hear about (the milestones of a delivery).
CUSTOMER_MILESTONES = frozenset({Event.PICKED_UP, Event.OUT_FOR_DELIVERY, Event.DELIVERED, Event.DELIVERY_FAILED,
                                 Event.PROMISE_CHANGED})
#: Actions after which the promised day is worked out again (the slip each is).
REVISED_AFTER = {"fail_attempt": "failed_attempt", "release": "released"}
#: Event types after which fees are collected and the shipment closed.
FEE_EVENTS = frozenset({Event.DELIVERED, Event.RETURNED})
#: Customer service opens a case by itself after this many failed attempts.
CASE_AFTER_FAILED_ATTEMPTS = 3


@dataclass(frozen=True)
class TransitionResult:
    event: ShipmentEvent
    #: False when the event was a late scan, recorded without moving the state.
    applied: bool
    #: True when the client event id had been seen: ``event`` is the first one.
    duplicate: bool = False


def max_attempts() -> int:
    return current_app.config["WAYBILL_MAX_DELIVERY_ATTEMPTS"]


def lock_shipments(session: Session, ids: Sequence[int]) -> list[Shipment]:
    """Load and lock shipments, in id order so that two batches never wait on each other
    in a cycle. On PostgreSQL the lock is ``FOR NO KEY UPDATE``: it keeps other writers
    of the row out but lets rows that refer to the shipment (an event, a notification, a
    charge) be inserted meanwhile, whose foreign key takes ``FOR KEY SHARE`` on it; a
    plain ``FOR UPDATE`` made those inserts and this lock deadlock."""
    if not ids:
        return []
    stmt = (
        select(Shipment).where(Shipment.id.in_(sorted(set(ids)))).order_by(Shipment.id)
        .with_for_update(key_share=True).execution_options(populate_existing=True)
    )
    return list(session.scalars(stmt))


def _seen_event(session: Session, client_event_id: str) -> ShipmentEvent | None:
    return session.scalars(
        select(ShipmentEvent).where(ShipmentEvent.client_event_id == client_event_id)
    ).first()


def transition(
    session: Session,
    shipment: Shipment | int,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
    client_event_id: str | None = None,
    device_time: datetime | None = None,
    hub_id: int | None = None,
    lat: float | None = None,
    lon: float | None = None,
    data: dict | None = None,
    locked: bool = False,
    fees_collected: bool = False,
) -> TransitionResult:
    """Apply ``action`` to a shipment.

    ``locked=True`` says the caller already holds the row lock (see ``lock_shipments``);
    ``fees_collected=True`` is said by fee collection only, and lets it close.
    Raises TransitionError when the lifecycle forbids it. A resent client event id
    returns the first result; a late scan is recorded with ``applied=False``.
    """
    if not locked:
        shipment_id = shipment if isinstance(shipment, int) else shipment.id
        found = lock_shipments(session, [shipment_id])
        if not found:
            raise LookupError(f"no shipment {shipment_id}")
        shipment = found[0]
    assert isinstance(shipment, Shipment)

    # Checked under the row lock: a concurrent resend of the same scan waits, then finds it.
    if client_event_id:
        seen = _seen_event(session, client_event_id)
        if seen is not None:
            if seen.shipment_id != shipment.id:
                raise TransitionError(action, shipment.status,
                                      "client event id already used for another shipment")
            return TransitionResult(seen, seen.applied, duplicate=True)

    status = Status(shipment.status)
    facts = Facts(
        status=status,
        route=shipment.route,
        failed_attempts=shipment.failed_attempts,
        max_attempts=max_attempts(),
        held_from=Status(shipment.held_from) if shipment.held_from else None,
        fees_collected=fees_collected,
    )
    decision = lifecycle.decide(facts, action, reason=reason)
    event = _append_event(
        session, shipment, decision.transition.event,
        from_status=status, to_status=decision.target or status, applied=decision.applied,
        actor=actor, reason=reason, client_event_id=client_event_id, device_time=device_time,
        hub_id=hub_id, lat=lat, lon=lon, data=data,
    )
    if decision.applied:
        _apply(shipment, decision.target, action, reason)
        _write_outbox(session, shipment, event)
        if action in REVISED_AFTER:
            promises.revise(session, shipment, REVISED_AFTER[action], actor=actor)
    return TransitionResult(event, decision.applied)


def record_change(session: Session, shipment: Shipment, event_type: str, *, actor: str,
                  reason: str | None = None, data: dict | None = None) -> ShipmentEvent:
    """Append an event that changes the shipment but not its status (an address change),
    with the outbox rows that follow it. The caller holds the row lock."""
    status = Status(shipment.status)
    event = _append_event(session, shipment, event_type, from_status=status, to_status=status,
                          applied=True, actor=actor, reason=reason, data=data)
    _write_outbox(session, shipment, event)
    return event


def _apply(shipment: Shipment, target: Status, action: str, reason: str | None) -> None:
    if action == "hold":
        shipment.held_from, shipment.hold_reason = shipment.status, reason
    elif action == "release":
        shipment.held_from = shipment.hold_reason = None
    elif action == "fail_attempt":
        shipment.failed_attempts += 1
    elif action == "deliver":
        shipment.outcome, shipment.delivered_at = "delivered", clock.now()
    elif action == "complete_return":
        shipment.outcome = "returned"
    if STAGE_OF.get(Status(shipment.status)) != STAGE_OF.get(target):
        shipment.stage_since = clock.now()
    shipment.status = target.value


def _append_event(session: Session, shipment: Shipment, event_type: str, *, from_status,
                  to_status, applied: bool, actor: str, **fields) -> ShipmentEvent:
    shipment.last_event_seq += 1
    event = ShipmentEvent(
        shipment=shipment, seq=shipment.last_event_seq, type=event_type,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value, applied=applied, actor=actor, **fields,
    )
    session.add(event)
    return event


def _write_outbox(session: Session, shipment: Shipment, event: ShipmentEvent) -> None:
    # Jobs name the event by (shipment, seq): known before the flush, so none is needed.
    add_outbox(session, "webhook", {"shipment_id": shipment.id, "seq": event.seq}, shipment.id)
    if event.type in CUSTOMER_MILESTONES:
        add_outbox(session, "notify_customer", {"shipment_id": shipment.id, "seq": event.seq},
                   shipment.id)
    if event.type in FEE_EVENTS:
        add_outbox(session, "collect_fees", {"shipment_id": shipment.id}, shipment.id)
    if event.type == Event.LOST or (event.type == Event.DELIVERY_FAILED
                                    and shipment.failed_attempts == CASE_AFTER_FAILED_ATTEMPTS):
        add_outbox(session, "open_case", {"shipment_id": shipment.id, "seq": event.seq}, shipment.id)


_INSERT_EVENT = insert(ShipmentEvent.__table__)
_INSERT_OUTBOX = insert(OutboxMessage.__table__)


def record_created(conn: Connection, shipment_ids: Sequence[int], *, actor: str, at: datetime) -> None:
    """The first event (seq 1) of shipments just inserted with last_event_seq = 1, and
    its webhook outbox row."""
    conn.execute(_INSERT_EVENT, [{
        "shipment_id": shipment_id, "seq": 1, "type": lifecycle.CREATED_EVENT, "from_status": None,
        "to_status": Status.CREATED.value, "applied": True, "actor": actor, "server_time": at}
        for shipment_id in shipment_ids])
    conn.execute(_INSERT_OUTBOX, [{
        "topic": "webhook", "shipment_id": shipment_id, "payload": {"shipment_id": shipment_id, "seq": 1},
        "created_at": at, "relay_count": 0, "request_id": REQUEST_ID.get()} for shipment_id in shipment_ids])


def get_by_tracking_number(session: Session, tracking_number: str) -> Shipment | None:
    return session.scalars(
        select(Shipment).where(Shipment.tracking_number == tracking_number.strip().upper())
    ).first()


def history(session: Session, shipment_id: int) -> list[ShipmentEvent]:
    return list(session.scalars(
        select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment_id)
        .order_by(ShipmentEvent.seq)
    ))


def replay(events: Iterable[ShipmentEvent]) -> str | None:
    """The status the history leads to: the last applied event's target."""
    status = None
    for e in events:
        if e.applied:
            status = e.to_status
    return status


def ids_in_status(session: Session, statuses: Iterable[str], *, limit: int | None = None,
                  only: Iterable[int] | None = None, **filters) -> list[int]:
    stmt = select(Shipment.id).where(Shipment.status.in_([str(s) for s in statuses]))
    for column, value in filters.items():
        stmt = stmt.where(getattr(Shipment, column) == value)
    if only is not None:
        stmt = stmt.where(Shipment.id.in_(list(only)))
    stmt = stmt.order_by(Shipment.id)
    if limit:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


def pickup_groups(session: Session, ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """shipment id -> (partner id, pickup location id)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Shipment.id, Order.partner_id, Order.pickup_location_id)
        .join(Order, Order.id == Shipment.order_id).where(Shipment.id.in_(list(ids)))
    )
    return {sid: (partner_id, location_id) for sid, partner_id, location_id in rows}


def ready_for_delivery(hub_id: int):
    """The condition on shipments a hub's drivers can take out: arrived at the delivering
    hub, or back from a failed attempt with attempts left."""
    return and_(
        Shipment.delivery_hub_id == hub_id,
        or_(
            Shipment.status == Status.AT_LOCAL_HUB,
            and_(Shipment.status == Status.AT_SHIPPING_CENTRE, Shipment.route == "direct"),
            and_(Shipment.status == Status.DELIVERY_FAILED,
                 Shipment.failed_attempts < max_attempts()),
        ),
    )


def attempts_exhausted_ids(session: Session, *, only: Iterable[int] | None = None,
                           limit: int = 5000) -> list[int]:
    stmt = select(Shipment.id).where(Shipment.status == Status.DELIVERY_FAILED,
                                     Shipment.failed_attempts >= max_attempts())
    if only is not None:
        stmt = stmt.where(Shipment.id.in_(list(only)))
    return list(session.scalars(stmt.order_by(Shipment.id).limit(limit)))


def count_open(session: Session, *, only: Iterable[int] | None = None) -> int:
    """Shipments still moving: neither terminal nor on hold."""
    stopped = [s.value for s in lifecycle.TERMINAL | {Status.ON_HOLD}]
    stmt = select(func.count()).select_from(Shipment).where(Shipment.status.not_in(stopped))
    if only is not None:
        stmt = stmt.where(Shipment.id.in_(list(only)))
    return session.scalar(stmt)


def count_by_status(session: Session, *, only: Iterable[int] | None = None) -> dict[str, int]:
    stmt = select(Shipment.status, func.count()).group_by(Shipment.status)
    if only is not None:
        stmt = stmt.where(Shipment.id.in_(list(only)))
    return dict(session.execute(stmt).all())


def events_appended(session: Session, *, only: Iterable[int] | None = None) -> int:
    """How many events the shipments have in all: grows whenever anything happens."""
    stmt = select(func.coalesce(func.sum(Shipment.last_event_seq), 0))
    if only is not None:
        stmt = stmt.where(Shipment.id.in_(list(only)))
    return session.scalar(stmt)


def cod_due(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """shipment id -> cash to collect on delivery (minor units; 0 for none)."""
    if not ids:
        return {}
    rows = session.execute(select(Shipment.id, Order.cod_amount).join(Order, Order.id == Shipment.order_id)
                           .where(Shipment.id.in_(list(ids))))
    return dict(rows.all())


def orders_of(session: Session, ships: Sequence[Shipment]) -> dict:
    """shipment id -> its Order, loaded in one query."""
    by_id = {o.id: o for o in session.scalars(select(Order).where(
        Order.id.in_([s.order_id for s in ships])))}
    return {s.id: by_id[s.order_id] for s in ships}


def events_with_orders(session: Session, keys: Sequence[tuple[int, int]]) -> list[ShipmentEvent]:
    """Events named by (shipment id, seq), with their shipments and orders loaded."""
    if not keys:
        return []
    return list(session.scalars(
        select(ShipmentEvent).where(tuple_(ShipmentEvent.shipment_id, ShipmentEvent.seq).in_(keys))
        .options(selectinload(ShipmentEvent.shipment).selectinload(Shipment.order))))


def event_of(session: Session, shipment_id: int, seq: int) -> ShipmentEvent | None:
    return session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment_id,
                                                       ShipmentEvent.seq == seq)).first()


#: Not delivered, returned or ended: a shipment in these is late once its day has passed.
UNDELIVERED = tuple(s.value for s in Status if s not in TERMINAL | {Status.DELIVERED, Status.RETURNED,
                                                                   Status.RETURNING_TO_SENDER})


def late_shipments(session: Session, *, promised_before: date, limit: int = 500) -> list[tuple[int, str, date]]:
    """(id, tracking number, promised day) of shipments still on the way to the customer
    whose promised day is before ``promised_before``, the oldest first."""
    return [tuple(r) for r in session.execute(
        select(Shipment.id, Shipment.tracking_number, Shipment.promised_date)
        .where(Shipment.promised_date < promised_before, Shipment.status.in_(UNDELIVERED))
        .order_by(Shipment.promised_date, Shipment.id).limit(limit))]


def count_customer_milestones(session: Session, *, only: Iterable[int] | None = None) -> int:
    stmt = select(func.count()).select_from(ShipmentEvent).where(
        ShipmentEvent.type.in_(CUSTOMER_MILESTONES), ShipmentEvent.applied.is_(True))
    if only is not None:
        stmt = stmt.where(ShipmentEvent.shipment_id.in_(list(only)))
    return session.scalar(stmt)


#: Wrong delivery codes after which a parcel's code is locked.
MAX_CODE_TRIES = 5


class DeliveryCodeRefused(ValueError):
    """The code given at the door does not open the delivery; the message says why.
    ``locked``: refused because the code is locked, whatever was given."""

    def __init__(self, message: str, *, locked: bool = False):
        super().__init__(message)
        self.locked = locked


def check_delivery_code(shipment: Shipment, given: str | None) -> None:
    """Pass when the parcel (locked by the caller) needs no code or ``given`` is its code;
    raise DeliveryCodeRefused otherwise (a locked code refuses even the right one)."""
    code, failures = shipment.delivery_code, shipment.delivery_code_failures or 0
    if not code:
        return
    if failures >= MAX_CODE_TRIES:
        raise DeliveryCodeRefused("the delivery code is locked after too many wrong tries: call the dispatcher",
                                  locked=True)
    if not hmac.compare_digest(str(given or "").strip().encode(), code.encode()):
        raise DeliveryCodeRefused("the delivery code does not match: ask the customer for the code in their message")


def count_wrong_delivery_code(session: Session, shipment_id: int) -> int:
    """One more wrong code for the parcel (in its own write, after the refused delivery
    was undone); returns the tries left."""
    [shipment] = lock_shipments(session, [shipment_id])
    shipment.delivery_code_failures = (shipment.delivery_code_failures or 0) + 1
    session.flush()
    return max(0, MAX_CODE_TRIES - shipment.delivery_code_failures)


def unlock_delivery_code(session: Session, shipment_id: int) -> None:
    [shipment] = lock_shipments(session, [shipment_id])
    shipment.delivery_code_failures = 0
    session.flush()


def declared_values(session: Session, shipment_id: int) -> dict[str, int]:
    """What the partner declared its parcels worth, per currency (for a claim)."""
    rows = session.execute(
        select(Parcel.declared_value_currency, func.sum(Parcel.declared_value_amount))
        .join(Shipment, Shipment.order_id == Parcel.order_id)
        .where(Shipment.id == shipment_id, Parcel.declared_value_amount > 0)
        .group_by(Parcel.declared_value_currency))
    return {currency: int(total) for currency, total in rows if currency}


def created_by(session: Session, partner_id: int, reference: str) -> tuple[int, str, datetime] | None:
    """(shipment id, who created it, when) of a partner's order by its reference."""
    row = session.execute(
        select(Shipment.id, ShipmentEvent.actor, ShipmentEvent.server_time)
        .join(Order, Order.id == Shipment.order_id)
        .join(ShipmentEvent, (ShipmentEvent.shipment_id == Shipment.id) & (ShipmentEvent.seq == 1))
        .where(Order.partner_id == partner_id, Order.reference == reference)).first()
    return tuple(row) if row else None
