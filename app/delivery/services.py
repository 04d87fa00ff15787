"""Delivery services: drivers, pickup runs, run sheets, deliveries and failed attempts.

These are what the driver's pages, the console and the simulation call."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from itertools import cycle
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from app import clock
from app.delivery.models import DeliveryAttempt, Driver, PickupRun, ProofOfDelivery, RunSheet
from app.delivery.signatures import SignatureError, clean_signature
from app.orders import assignments, lifecycle, shipments
from app.orders.lifecycle import Status
from app.orders.models import Order, Shipment
from app.orders.shipments import TransitionError, TransitionResult
from app.words import plural

#: The codes a failed attempt may give, and each as staff read it (lifecycle.FAILURE_REASONS).
FAILURE_REASONS = tuple(lifecycle.FAILURE_REASONS)
FAILURE_REASON_WORDS = {code: reason.staff for code, reason in lifecycle.FAILURE_REASONS.items()}
RELATIONS = ("self", "family", "neighbour", "reception")
COD_METHODS = ("cash", "card", "transfer")


class DeliveryError(ValueError):
    pass


def create_driver(session: Session, *, name: str, phone: str, hub_id: int, capacity: int = 40,
                  vehicle: str = "", working_days: str = "1234567") -> Driver:
    """A driver of ``hub_id``; DeliveryError says what is wrong with the details."""
    name, phone, vehicle = (name or "").strip(), (phone or "").strip(), (vehicle or "").strip()
    if not name or len(name) > 200:
        raise DeliveryError("a driver has a name (at most 200 characters)")
    if not 6 <= len(phone) <= 32:
        raise DeliveryError("a driver has a phone number")
    if not isinstance(capacity, int) or not 1 <= capacity <= 500:
        raise DeliveryError("capacity: stops a day, from 1 to 500")
    days = "".join(sorted(set(working_days or "")))
    if not days or not set(days) <= set("1234567"):
        raise DeliveryError("working days: at least one of Monday (1) to Sunday (7)")
    if session.scalars(select(Driver).where(Driver.phone == phone)).first():
        raise DeliveryError(f"another driver has the phone {phone}")
    driver = Driver(name=name, phone=phone, hub_id=hub_id, capacity=capacity, vehicle=vehicle[:60],
                    working_days=days)
    session.add(driver)
    session.flush()
    return driver


def drivers_of(session: Session, hub_id: int, *, day: date | None = None) -> list[Driver]:
    """The hub's active drivers; with ``day``, those who work that day."""
    found = list(session.scalars(select(Driver).where(Driver.hub_id == hub_id,
                                                      Driver.active.is_(True)).order_by(Driver.id)))
    return [d for d in found if day is None or d.works_on(day)]


def all_drivers(session: Session, hub_id: int | None = None) -> list[Driver]:
    """Every driver (active or not), of one hub or all."""
    stmt = select(Driver).order_by(Driver.hub_id, Driver.name, Driver.id)
    if hub_id is not None:
        stmt = stmt.where(Driver.hub_id == hub_id)
    return list(session.scalars(stmt))


# -- pickups ---------------------------------------------------------------------------------

def schedule_pickups(session: Session, run_date: date, *, pickup_hub_id: int | None = None,
                     actor: str = "system:schedule_pickups", only: Iterable[int] | None = None,
                     limit: int = 5000) -> list[PickupRun]:
    """Batch every new order into a pickup run for its pickup location on ``run_date``:
    one planned run per location and day, new orders join it. Run on a schedule."""
    ids = shipments.ids_in_status(session, [Status.CREATED], only=only, limit=limit)
    groups = shipments.pickup_groups(session, ids)
    runs: dict[int, PickupRun] = {}
    drivers_by_centre: dict[int, cycle] = {}
    for s in shipments.lock_shipments(session, ids):
        if s.status != Status.CREATED:
            continue
        partner_id, location_id = groups[s.id]
        run = runs.get(location_id) or _open_run(session, partner_id, location_id, run_date)
        if run.driver_id is None:
            if s.centre_id not in drivers_by_centre:  # the centre's drivers take turns
                drivers_by_centre[s.centre_id] = cycle(drivers_of(session, s.centre_id) or [None])
            driver = next(drivers_by_centre[s.centre_id])
            run.driver_id = driver.id if driver else None
        runs[location_id] = run
        assignments.put_on_pickup_run(s, run.id)
        shipments.transition(session, s, "schedule_pickup", actor=actor, locked=True,
                             data={"pickup_run_id": run.id})
    return list(runs.values())


def _open_run(session: Session, partner_id: int, location_id: int, run_date: date) -> PickupRun:
    run = session.scalars(select(PickupRun).where(
        PickupRun.pickup_location_id == location_id, PickupRun.run_date == run_date,
        PickupRun.status == "planned")).first()
    if run is None:
        run = PickupRun(partner_id=partner_id, pickup_location_id=location_id, run_date=run_date)
        session.add(run)
        session.flush()
    return run


def planned_runs(session: Session, *, run_date: date | None = None) -> list[PickupRun]:
    stmt = select(PickupRun).where(PickupRun.status == "planned").order_by(PickupRun.id)
    if run_date:
        stmt = stmt.where(PickupRun.run_date == run_date)
    return list(session.scalars(stmt))


def run_shipment_ids(session: Session, run: PickupRun) -> list[int]:
    return shipments.ids_in_status(session, [Status.PICKUP_SCHEDULED], pickup_run_id=run.id)


def confirm_pickup(session: Session, run: PickupRun, *, actor: str,
                   shipment_ids: Iterable[int] | None = None) -> int:
    """The driver has the parcels: each scheduled shipment of the run (or those given) is
    picked up, and the run is done. Parcels the driver did not get are carried over to a
    new planned run for the same place. Returns how many were picked up."""
    scheduled = run_shipment_ids(session, run)
    ids = scheduled if shipment_ids is None else list(shipment_ids)
    count = 0
    for s in shipments.lock_shipments(session, ids):
        count += shipments.transition(session, s, "pick_up", actor=actor, locked=True).applied
    run.status, run.completed_at = "completed", clock.now()
    left = [s for s in shipments.lock_shipments(session, sorted(set(scheduled) - set(ids)))
            if s.status == Status.PICKUP_SCHEDULED]
    if left:
        next_run = PickupRun(partner_id=run.partner_id, pickup_location_id=run.pickup_location_id,
                             run_date=run.run_date, driver_id=run.driver_id)
        session.add(next_run)
        session.flush()
        for s in left:
            assignments.put_on_pickup_run(s, next_run.id)
    return count


# -- delivery ----------------------------------------------------------------------------------

@dataclass
class ProofIn:
    recipient_name: str
    relation: str
    captured_at: datetime
    signature_svg: str | None = None
    photo_ref: str | None = None
    lat: float | None = None
    lon: float | None = None
    cod_received_amount: int = 0
    cod_method: str | None = None
    #: Required when the amount received is not the amount due.
    cod_difference_reason: str | None = None
    #: What the customer told the driver, when the partner asks for a delivery code.
    delivery_code: str | None = None


@dataclass
class AttemptIn:
    """One delivery attempt as a driver records it: with proof (delivered) or with a
    reason code (failed)."""

    shipment_id: int
    proof: ProofIn | None = None
    reason_code: str | None = None
    note: str | None = None
    #: For a failure: a photo the driver took.
    photo_ref: str | None = None
    client_event_id: str | None = None
    device_time: datetime | None = None
    lat: float | None = None
    lon: float | None = None


def record_attempts(session: Session, attempts: list[AttemptIn], *, driver_id: int | None,
                    actor: str) -> list[TransitionResult | Exception]:
    """Record a driver's attempts — one, or a batch a phone sends when it is back online —
    with one lock and one flush for all. Returns, per attempt, its TransitionResult or the
    DeliveryError / TransitionError / LookupError that refused it; a refused attempt
    changes nothing and does not hold back the others."""
    locked = {s.id: s for s in shipments.lock_shipments(session, [a.shipment_id for a in attempts])}
    orders = shipments.orders_of(session, list(locked.values()))
    # Work recorded without a driver (the simulation, a dispatcher) is the sheet's driver's:
    # it counts on their sheet and in their cash alike.
    sheet_drivers = dict(session.execute(select(RunSheet.id, RunSheet.driver_id).where(
        RunSheet.id.in_({s.run_sheet_id for s in locked.values() if s.run_sheet_id}))).all())
    results: list[TransitionResult | Exception] = []
    for attempt in attempts:
        shipment = locked.get(attempt.shipment_id)
        try:
            if shipment is None:
                raise LookupError(f"no shipment {attempt.shipment_id}")
            who = driver_id if driver_id is not None else sheet_drivers.get(shipment.run_sheet_id)
            if attempt.proof is not None:
                result = _deliver(session, shipment, orders[shipment.id].cod_amount, attempt,
                                  driver_id=who, actor=actor)
            else:
                result = _fail(session, shipment, attempt, driver_id=who, actor=actor)
        except (DeliveryError, TransitionError, LookupError, shipments.DeliveryCodeRefused) as exc:
            result = exc
        results.append(result)
    return results


def deliver(session: Session, shipment_id: int, proof: ProofIn, *, driver_id: int | None,
            actor: str, client_event_id: str | None = None) -> TransitionResult:
    """Hand the parcel over with proof; cash on delivery is taken if due."""
    return _one(record_attempts(session, [AttemptIn(shipment_id, proof=proof,
                                                    client_event_id=client_event_id)],
                                driver_id=driver_id, actor=actor))


def count_wrong_code(session: Session, shipment_id: int, refusal: shipments.DeliveryCodeRefused) -> str:
    """A wrong code given at the door counts (call it after the refused delivery was
    undone, so that the count stays); the words for the driver, with the tries left."""
    if refusal.locked:
        return str(refusal)
    left = shipments.count_wrong_delivery_code(session, shipment_id)
    if not left:
        return "the delivery code does not match, and is now locked: call the dispatcher"
    return f"{refusal} ({left} {plural(left, 'try')} left)"


def fail_attempt(session: Session, shipment_id: int, reason_code: str, *, driver_id: int | None,
                 actor: str, note: str | None = None, client_event_id: str | None = None,
                 device_time: datetime | None = None, lat: float | None = None,
                 lon: float | None = None) -> TransitionResult:
    """The parcel could not be delivered, for a reason in FAILURE_REASONS."""
    return _one(record_attempts(session, [AttemptIn(
        shipment_id, reason_code=reason_code, note=note, client_event_id=client_event_id,
        device_time=device_time, lat=lat, lon=lon)], driver_id=driver_id, actor=actor))


def _one(results: list) -> TransitionResult:
    [result] = results
    if isinstance(result, Exception):
        raise result
    return result


def _deliver(session, shipment, cod_due: int, attempt: AttemptIn, *, driver_id, actor) -> TransitionResult:
    proof = attempt.proof
    shipments.check_delivery_code(shipment, proof.delivery_code)
    if not proof.recipient_name.strip():
        raise DeliveryError("the recipient's name is required")
    if proof.relation not in RELATIONS:
        raise DeliveryError(f"relation must be one of {', '.join(RELATIONS)}")
    if cod_due and proof.cod_method not in COD_METHODS:
        raise DeliveryError(f"{cod_due} is due on delivery: give the method, one of {', '.join(COD_METHODS)}")
    if proof.cod_received_amount < 0:
        raise DeliveryError("the amount received cannot be negative")
    if cod_due and driver_id is None:
        raise DeliveryError("cash on delivery is taken by a driver: put the shipment on a driver's run sheet")
    try:
        signature = clean_signature(proof.signature_svg)
    except SignatureError as exc:
        raise DeliveryError(str(exc)) from None
    difference_reason = (proof.cod_difference_reason or "").strip()[:200] or None
    if cod_due and proof.cod_received_amount != cod_due and not difference_reason:
        raise DeliveryError(f"received {proof.cod_received_amount:,} of {cod_due:,} due: "
                            "say why the amount differs (finance follows it up)")
    result = shipments.transition(
        session, shipment, "deliver", actor=actor, client_event_id=attempt.client_event_id,
        device_time=proof.captured_at, lat=proof.lat, lon=proof.lon, locked=True,
        data={"recipient": proof.recipient_name, "relation": proof.relation},
    )
    if result.applied and not result.duplicate:
        session.add(ProofOfDelivery(
            shipment_id=shipment.id, event=result.event, recipient_name=proof.recipient_name.strip(),
            relation=proof.relation, signature_svg=signature, photo_ref=proof.photo_ref,
            lat=proof.lat, lon=proof.lon, captured_at=proof.captured_at, driver_id=driver_id,
            cod_received_amount=proof.cod_received_amount if cod_due else 0,
            cod_method=proof.cod_method if cod_due else None,
            cod_difference_reason=difference_reason if cod_due and proof.cod_received_amount != cod_due else None))
        _record_attempt(session, shipment, result, "delivered", driver_id=driver_id)
    return result


def _fail(session, shipment, attempt: AttemptIn, *, driver_id, actor) -> TransitionResult:
    if attempt.reason_code not in FAILURE_REASONS:
        raise DeliveryError(f"reason must be one of {', '.join(FAILURE_REASONS)}")
    result = shipments.transition(
        session, shipment, "fail_attempt", actor=actor, reason=attempt.reason_code,
        client_event_id=attempt.client_event_id, device_time=attempt.device_time, lat=attempt.lat,
        lon=attempt.lon, locked=True, data={"note": attempt.note} if attempt.note else None)
    if result.applied and not result.duplicate:
        _record_attempt(session, shipment, result, "failed", driver_id=driver_id,
                        reason_code=attempt.reason_code, note=attempt.note, photo_ref=attempt.photo_ref)
    return result


def _record_attempt(session, shipment, result, outcome, **fields) -> None:
    # failed_attempts already counts this attempt when it failed.
    attempt_no = shipment.failed_attempts + (outcome == "delivered")
    session.add(DeliveryAttempt(shipment_id=shipment.id, event=result.event, attempt_no=attempt_no,
                                outcome=outcome, run_sheet_id=shipment.run_sheet_id, **fields))


def proofs_for(session: Session, shipment_ids: list[int]) -> dict[int, ProofOfDelivery]:
    if not shipment_ids:
        return {}
    return {p.shipment_id: p for p in session.scalars(select(ProofOfDelivery).where(
        ProofOfDelivery.shipment_id.in_(shipment_ids)))}


def cod_taken(session: Session, driver_id: int, start: datetime, end: datetime) -> list[tuple]:
    """Cash on delivery a driver took between ``start`` and ``end``, delivery by delivery:
    (shipment id, tracking number, recipient, amount received, currency, method, when,
    amount due, why they differ)."""
    return [tuple(r) for r in session.execute(
        select(Shipment.id, Shipment.tracking_number, ProofOfDelivery.recipient_name,
               ProofOfDelivery.cod_received_amount, Order.cod_currency, ProofOfDelivery.cod_method,
               ProofOfDelivery.captured_at, Order.cod_amount, ProofOfDelivery.cod_difference_reason)
        .join(Shipment, Shipment.id == ProofOfDelivery.shipment_id)
        .join(Order, Order.id == Shipment.order_id)
        .where(ProofOfDelivery.driver_id == driver_id, ProofOfDelivery.cod_method.is_not(None),
               ProofOfDelivery.captured_at >= start, ProofOfDelivery.captured_at < end)
        .order_by(ProofOfDelivery.captured_at))]


def to_bring_back(session: Session, driver_id: int, run_date: date) -> list[tuple[str, str]]:
    """(tracking number, status) of the parcels on the driver's sheets of the day that were
    not delivered: they go back to the hub at the end of the round."""
    return [tuple(r) for r in session.execute(
        select(Shipment.tracking_number, Shipment.status).join(RunSheet, RunSheet.id == Shipment.run_sheet_id)
        .where(RunSheet.driver_id == driver_id, RunSheet.run_date == run_date,
               Shipment.status.in_([Status.OUT_FOR_DELIVERY, Status.DELIVERY_FAILED]))
        .order_by(Shipment.tracking_number))]


def attempts_of(session: Session, shipment_id: int) -> list[DeliveryAttempt]:
    return list(session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.shipment_id == shipment_id)
                                .order_by(DeliveryAttempt.attempt_no)))


def proof_for(session: Session, shipment_id: int) -> ProofOfDelivery | None:
    return session.scalars(select(ProofOfDelivery).where(
        ProofOfDelivery.shipment_id == shipment_id)).first()


# -- returns ------------------------------------------------------------------------------------

def return_exhausted(session: Session, *, actor: str = "system:return_exhausted",
                     only: Iterable[int] | None = None) -> int:
    """Send back to the sender every shipment whose failed attempts reached the limit."""
    ids = shipments.attempts_exhausted_ids(session, only=only)
    count = 0
    for s in shipments.lock_shipments(session, ids):
        if s.status == Status.DELIVERY_FAILED:
            shipments.transition(session, s, "return_to_sender", actor=actor, locked=True,
                                 reason=f"{s.failed_attempts} failed delivery attempts")
            count += 1
    return count


def hand_back(session: Session, shipment_id: int, *, received_by: str, signature_svg: str | None,
              driver_id: int | None, actor: str, client_event_id: str | None = None,
              device_time: datetime | None = None, lat: float | None = None,
              lon: float | None = None) -> TransitionResult:
    """The parcel is handed back to its shop, which signs for it: the return is complete
    (its fee is charged and the partner told, through the lifecycle's outbox)."""
    if not (received_by or "").strip():
        raise DeliveryError("the name of who took it back at the shop is required")
    try:
        signature = clean_signature(signature_svg)
    except SignatureError as exc:
        raise DeliveryError(str(exc)) from None
    [shipment] = shipments.lock_shipments(session, [shipment_id]) or [None]
    if shipment is None:
        raise LookupError(f"no shipment {shipment_id}")
    at = device_time or clock.now()
    result = shipments.transition(session, shipment, "complete_return", actor=actor, locked=True,
                                  client_event_id=client_event_id, device_time=at, lat=lat, lon=lon,
                                  data={"received_by": received_by.strip()[:200]})
    if result.applied and not result.duplicate:
        session.add(ProofOfDelivery(
            shipment_id=shipment.id, event=result.event, recipient_name=received_by.strip()[:200], relation="shop",
            signature_svg=signature, lat=lat, lon=lon, captured_at=at, driver_id=driver_id, cod_received_amount=0))
    return result


def complete_returns(session: Session, shipment_ids: Iterable[int], *, actor: str) -> int:
    count = 0
    for s in shipments.lock_shipments(session, list(shipment_ids)):
        try:
            count += shipments.transition(session, s, "complete_return", actor=actor, locked=True).applied
        except TransitionError:
            continue
    return count
