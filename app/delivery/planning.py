"""Run sheets for a hub's day.

``plan_run_sheets`` shares the parcels ready at the hub (and, at a shipping centre, the
day's pickups) among the hub's drivers by capacity and area and orders each driver's stops
(``app.delivery.optimiser``, OR-Tools). Planning again replaces the sheets still planned.
The dispatcher may move a stop to another driver (it goes where it adds the least
distance) or re-optimise one sheet; ``dispatch_run_sheet`` sends the driver out: each
delivery goes out for delivery through the lifecycle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Iterable

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from app import clock
from app.crm.models import Partner, PickupLocation
from app.delivery import optimiser
from app.delivery.models import Driver, PickupRun, RunSheet, RunSheetStop
from app.delivery.services import drivers_of
from app.hubs.models import Hub
from app.orders import assignments, promises, shipments
from app.orders.models import Address, Order, Shipment
from app.orders.lifecycle import RESCHEDULABLE, RESCHEDULED_EVENT, TRANSITIONS, Status
from app.orders.shipments import TransitionError
from app.words import counted

PLANNED, DISPATCHED = "planned", "dispatched"
#: How far ahead a delivery can be put off.
MAX_RESCHEDULE_DAYS = 30


class PlanningError(ValueError):
    """A planning step that cannot be done, with the reason in words."""


@dataclass(frozen=True)
class Candidate:
    kind: str
    lat: float
    lon: float
    shipment_id: int | None = None
    pickup_run_id: int | None = None


@dataclass
class Dispatched:
    sheet: RunSheet
    sent: int = 0
    #: (tracking number, why) of parcels taken off the sheet instead of going out.
    dropped: list[tuple[str, str]] = field(default_factory=list)


def sheets_of_day(session: Session, hub_id: int, run_date: date, *,
                  status: str | None = None) -> list[RunSheet]:
    stmt = select(RunSheet).where(RunSheet.hub_id == hub_id, RunSheet.run_date == run_date)
    if status:
        stmt = stmt.where(RunSheet.status == status)
    return list(session.scalars(stmt.order_by(RunSheet.id)))


def _on_planned_sheet():
    return Shipment.run_sheet_id.in_(select(RunSheet.id).where(RunSheet.status == PLANNED))


def delivery_candidates(session: Session, hub_id: int, run_date: date, *, only: Iterable[int] | None = None,
                        limit: int | None = None) -> list[Candidate]:
    """Parcels ready at the hub, on no planned sheet and not put off past ``run_date``:
    due first, then re-attempts."""
    stmt = (select(Shipment.id, Address.lat, Address.lon)
            .join(Order, Order.id == Shipment.order_id)
            .join(Address, Address.id == Order.dropoff_address_id)
            .where(shipments.ready_for_delivery(hub_id),
                   Shipment.run_sheet_id.is_(None) | ~_on_planned_sheet(),
                   Shipment.not_before.is_(None) | (Shipment.not_before <= run_date))
            .order_by(Shipment.promised_date, Shipment.failed_attempts.desc(), Shipment.id))
    if only is not None:
        stmt = stmt.where(Shipment.id.in_(list(only)))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Candidate("delivery", lat, lon, shipment_id=sid) for sid, lat, lon in session.execute(stmt)]


def return_candidates(session: Session, hub_id: int, run_date: date) -> list[Candidate]:
    """Parcels going back to their shop that this hub holds, not yet a return stop of a
    sheet of ``run_date`` or later: each a stop at the shop's pickup address (where the
    shop takes it back)."""
    on_a_sheet = exists().where(RunSheetStop.shipment_id == Shipment.id, RunSheetStop.kind == "return",
                                RunSheet.id == RunSheetStop.run_sheet_id,
                                (RunSheet.run_date >= run_date) | (RunSheet.status == PLANNED))
    rows = session.execute(
        select(Shipment.id, Address.lat, Address.lon)
        .join(Order, Order.id == Shipment.order_id)
        .join(PickupLocation, PickupLocation.id == Order.pickup_location_id)
        .join(Address, Address.id == PickupLocation.address_id)
        .where(Shipment.status == Status.RETURNING_TO_SENDER, Shipment.delivery_hub_id == hub_id, ~on_a_sheet)
        .order_by(Shipment.updated_at, Shipment.id))
    return [Candidate("return", lat, lon, shipment_id=sid) for sid, lat, lon in rows]


def pickup_candidates(session: Session, hub: Hub, run_date: date) -> list[Candidate]:
    """The day's pickup runs the centre's drivers make, not yet on a run sheet, earliest
    window first."""
    if not hub.is_centre:
        return []
    for_this_centre = exists().where(Shipment.pickup_run_id == PickupRun.id,
                                     Shipment.centre_id == hub.id,
                                     Shipment.status == Status.PICKUP_SCHEDULED)
    on_a_sheet = exists().where(RunSheetStop.pickup_run_id == PickupRun.id)
    rows = session.execute(
        select(PickupRun.id, Address.lat, Address.lon)
        .join(PickupLocation, PickupLocation.id == PickupRun.pickup_location_id)
        .join(Address, Address.id == PickupLocation.address_id)
        .where(PickupRun.run_date == run_date, PickupRun.status == "planned",
               for_this_centre, ~on_a_sheet)
        .order_by(PickupLocation.ready_from, PickupRun.id))
    return [Candidate("pickup", lat, lon, pickup_run_id=rid) for rid, lat, lon in rows]


def room_today(session: Session, drivers: list[Driver], run_date: date) -> dict[int, int]:
    """Stops each driver can still take on ``run_date`` (sheets already out count)."""
    taken = dict(session.execute(
        select(RunSheet.driver_id, func.count(RunSheetStop.id))
        .join(RunSheetStop, RunSheetStop.run_sheet_id == RunSheet.id)
        .where(RunSheet.run_date == run_date, RunSheet.driver_id.in_([d.id for d in drivers]),
               RunSheet.status != PLANNED)
        .group_by(RunSheet.driver_id)).all())
    return {d.id: max(0, d.capacity - taken.get(d.id, 0)) for d in drivers}


def unplan(session: Session, hub_id: int, run_date: date) -> int:
    """Take apart the hub's planned (not dispatched) sheets of the day. Returns how many."""
    sheets = sheets_of_day(session, hub_id, run_date, status=PLANNED)
    ids = [s.id for s in sheets]
    if not ids:
        return 0
    assignments.take_off_run_sheets(session, ids)
    for sheet in sheets:
        session.delete(sheet)  # its stops go with it
    session.flush()
    return len(ids)


def plan_run_sheets(session: Session, hub_id: int, run_date: date, *, seconds: float = 0,
                    pickups: bool = True, only: Iterable[int] | None = None,
                    capacity_per_day: bool = True, driver_ids: Iterable[int] | None = None) -> list[RunSheet]:
    """Plan the hub's run sheets for ``run_date`` again, from everything ready.

    Each driver takes at most their capacity of stops for the day (sheets already
    dispatched that day count, unless ``capacity_per_day`` is off); when there is more
    than the drivers can take, pickups go first, then the parcels promised earliest.
    ``seconds`` lets the optimiser improve the routes for that long; ``driver_ids`` plans
    for those of the hub's drivers only."""
    hub = session.get(Hub, hub_id)
    drivers = drivers_of(session, hub_id, day=run_date)
    if driver_ids is not None:
        drivers = [d for d in drivers if d.id in set(driver_ids)]
    if hub is None or not drivers:
        raise PlanningError(f"no active drivers at {hub.code if hub else hub_id}")
    unplan(session, hub_id, run_date)
    room = (room_today(session, drivers, run_date) if capacity_per_day
            else {d.id: d.capacity for d in drivers})
    drivers = [d for d in drivers if room[d.id] > 0]
    total = sum(room[d.id] for d in drivers)
    stops = (pickup_candidates(session, hub, run_date) + return_candidates(session, hub_id, run_date)
             if pickups else [])
    stops = stops[:total]
    stops += delivery_candidates(session, hub_id, run_date, only=only, limit=total - len(stops))
    if not stops:
        return []
    routes = optimiser.solve((hub.lat, hub.lon), [(c.lat, c.lon) for c in stops],
                             [room[d.id] for d in drivers], seconds=seconds)
    sheets = []
    for driver, route in zip(drivers, routes):
        if route:
            sheets.append(_write_sheet(session, hub, driver, run_date, [stops[i] for i in route]))
    return sheets


def _write_sheet(session: Session, hub: Hub, driver: Driver, run_date: date,
                 stops: list[Candidate]) -> RunSheet:
    sheet = RunSheet(hub_id=hub.id, driver_id=driver.id, run_date=run_date, status=PLANNED)
    session.add(sheet)
    session.flush()
    for seq, c in enumerate(stops, 1):
        session.add(RunSheetStop(run_sheet_id=sheet.id, seq=seq, kind=c.kind, shipment_id=c.shipment_id,
                                 pickup_run_id=c.pickup_run_id, lat=c.lat, lon=c.lon))
    deliveries = [c.shipment_id for c in stops if c.shipment_id]
    if deliveries:
        assignments.put_on_run_sheet(session, deliveries, sheet.id)
    runs = [c.pickup_run_id for c in stops if c.pickup_run_id]
    if runs:
        session.execute(update(PickupRun).where(PickupRun.id.in_(runs)).values(driver_id=driver.id)
                        .execution_options(synchronize_session="fetch"))
    sheet.planned_km = _km(hub, stops)
    session.flush()
    return sheet


def _km(hub: Hub, stops) -> float:
    points = [(s.lat, s.lon) for s in stops]
    return round(optimiser.tour_metres((hub.lat, hub.lon), points, list(range(len(points)))) / 1000, 1)


def _planned(session: Session, sheet_id: int) -> RunSheet:
    sheet = session.get(RunSheet, sheet_id, with_for_update={"key_share": True})
    if sheet is None:
        raise PlanningError(f"no run sheet {sheet_id}")
    if sheet.status != PLANNED:
        raise PlanningError(f"run sheet {sheet_id} is already {sheet.status}: its stops stay")
    return sheet


def move_stop(session: Session, stop_id: int, driver_id: int) -> RunSheetStop:
    """Give a planned stop to another driver of the hub: onto their planned sheet of the
    day (made if they have none), where it adds the least distance."""
    stop = session.get(RunSheetStop, stop_id)
    if stop is None:
        raise PlanningError(f"no stop {stop_id}")
    source = _planned(session, stop.run_sheet_id)
    driver = session.get(Driver, driver_id)
    if driver is None or driver.hub_id != source.hub_id or not driver.active:
        raise PlanningError("a stop moves only to an active driver of the same hub")
    if driver.id == source.driver_id:
        return stop
    target = session.scalars(select(RunSheet).where(
        RunSheet.hub_id == source.hub_id, RunSheet.run_date == source.run_date,
        RunSheet.driver_id == driver.id, RunSheet.status == PLANNED).with_for_update(key_share=True)).first()
    room = room_today(session, [driver], source.run_date)[driver.id]
    if target is None:
        target = RunSheet(hub_id=source.hub_id, driver_id=driver.id, run_date=source.run_date, status=PLANNED)
        session.add(target)
        session.flush()
    if len(target.stops) >= room:
        raise PlanningError(f"{driver.name} has no room left: {counted(len(target.stops), 'stop')} planned, "
                            f"capacity {driver.capacity}")
    hub = session.get(Hub, target.hub_id)
    source.stops.remove(stop)
    at = optimiser.cheapest_insertion((hub.lat, hub.lon), [(s.lat, s.lon) for s in target.stops],
                                      (stop.lat, stop.lon))
    target.stops.insert(at, stop)
    for sheet in (source, target):
        _renumber(hub, sheet)
    if stop.shipment_id:
        assignments.put_on_run_sheet(session, [stop.shipment_id], target.id)
    if stop.pickup_run_id:
        session.execute(update(PickupRun).where(PickupRun.id == stop.pickup_run_id)
                        .values(driver_id=driver.id).execution_options(synchronize_session="fetch"))
    if not source.stops:
        session.delete(source)
    session.flush()
    return stop


def _renumber(hub: Hub, sheet: RunSheet) -> None:
    for seq, stop in enumerate(sheet.stops, 1):
        stop.seq = seq
    sheet.planned_km = _km(hub, sheet.stops)


def optimise_sheet(session: Session, sheet_id: int, *, seconds: float = 0) -> RunSheet:
    """Put one planned sheet's stops in the shortest order found (after moves by hand)."""
    sheet = _planned(session, sheet_id)
    hub = session.get(Hub, sheet.hub_id)
    stops = list(sheet.stops)
    [order] = optimiser.solve((hub.lat, hub.lon), [(s.lat, s.lon) for s in stops], [len(stops)],
                              seconds=seconds)
    sheet.stops[:] = [stops[i] for i in order]
    _renumber(hub, sheet)
    session.flush()
    return sheet


def dispatch_run_sheet(session: Session, sheet_id: int, *, actor: str,
                       early_reason: str | None = None) -> Dispatched:
    """The driver leaves: each parcel on the sheet goes out for delivery. A parcel that
    can no longer go (held, cancelled, moved to another hub) comes off the sheet, and
    the answer says which and why.

    A sheet goes out on its own day (its customers are told "out for delivery today").
    Another day's sheet goes out today only with ``early_reason``, and becomes today's."""
    sheet = _planned(session, sheet_id)
    today = clock.today()
    if sheet.run_date != today:
        if not (early_reason or "").strip():
            raise PlanningError(f"this sheet is for {sheet.run_date:%a %d %b %Y}, not today: it goes out on its "
                                "own day (give a reason to send it out today)")
        sheet.run_date = today
    result = Dispatched(sheet)
    numbers = dict(session.execute(select(Shipment.id, Shipment.tracking_number).where(
        Shipment.id.in_([s.shipment_id for s in sheet.stops if s.shipment_id]))).all())
    locked = {s.id: s for s in shipments.lock_shipments(session, list(numbers))}
    coded = set(session.scalars(select(Shipment.id).join(Partner, Partner.id == Shipment.partner_id).where(
        Shipment.id.in_(list(numbers)), Partner.delivery_code_required.is_(True))))
    for stop in list(sheet.stops):
        if stop.shipment_id is None:
            continue
        shipment = locked[stop.shipment_id]
        why = None
        if stop.kind == "return":  # back to the shop: the status stays until it is handed over
            if shipment.status != Status.RETURNING_TO_SENDER:
                result.dropped.append((numbers[stop.shipment_id], f"it is {shipment.status.replace('_', ' ')}"))
                sheet.stops.remove(stop)
            else:
                result.sent += 1
            continue
        if shipment.delivery_hub_id != sheet.hub_id:
            why = "another hub delivers it now"
        elif Status(shipment.status) not in TRANSITIONS["dispatch_for_delivery"].sources:
            why = f"it is {shipment.status.replace('_', ' ')}"
        else:
            try:  # the lifecycle decides before it writes: a refusal leaves nothing
                shipments.transition(session, shipment, "dispatch_for_delivery", actor=actor,
                                     locked=True, hub_id=sheet.hub_id,
                                     data={"driver_id": sheet.driver_id, "run_sheet_id": sheet.id})
            except TransitionError as exc:
                why = str(exc)
        if why:
            result.dropped.append((numbers[stop.shipment_id], why))
            sheet.stops.remove(stop)
            assignments.take_off_run_sheet(shipment)
        else:
            result.sent += 1
            if shipment.id in coded:
                assignments.give_delivery_code(shipment)
    sheet.status, sheet.dispatched_at = DISPATCHED, clock.now()
    _renumber(session.get(Hub, sheet.hub_id), sheet)
    session.flush()
    return result


def build_run_sheets(session: Session, hub_id: int, run_date: date, *, actor: str,
                     only: Iterable[int] | None = None) -> list[RunSheet]:
    """Plan and send out at once (the simulation's compressed day, and tests): every
    driver takes up to their capacity per sheet, deliveries only. Returns the sheets."""
    if not drivers_of(session, hub_id):
        return []
    sheets = plan_run_sheets(session, hub_id, run_date, pickups=False, only=only,
                             capacity_per_day=False)
    for sheet in sheets:
        dispatch_run_sheet(session, sheet.id, actor=actor)
    return sheets


@dataclass
class Loaded:
    driver: Driver
    sheet: RunSheet
    seq: int
    #: True when the parcel had been scanned out before.
    again: bool


def load_onto_van(session: Session, hub_id: int, shipment_id: int) -> Loaded:
    """Scan-out: the parcel goes onto the van of the driver whose sheet (planned or out)
    holds it at this hub; the stop is marked loaded."""
    stop = session.scalars(
        select(RunSheetStop).join(RunSheet, RunSheet.id == RunSheetStop.run_sheet_id)
        .join(Shipment, Shipment.run_sheet_id == RunSheet.id)
        .where(RunSheetStop.shipment_id == shipment_id, Shipment.id == shipment_id,
               RunSheet.hub_id == hub_id)).first()
    if stop is None:
        raise PlanningError("not on a run sheet of this hub: plan it first")
    again = stop.loaded_at is not None
    if not again:
        stop.loaded_at = clock.now()
        session.flush()
    sheet = stop.run_sheet
    return Loaded(session.get(Driver, sheet.driver_id), sheet, stop.seq, again)


def reschedule(session: Session, shipment_id: int, not_before: date, *, today: date, actor: str,
               reason: str) -> None:
    """Put delivery off until ``not_before`` (the customer asked): the parcel leaves any
    planned sheet of an earlier day and is not planned before then. Raises PlanningError."""
    [shipment] = shipments.lock_shipments(session, [shipment_id])
    if shipment.standing not in RESCHEDULABLE:
        raise PlanningError(f"the shipment is {shipment.status.replace('_', ' ')}: it cannot be rescheduled")
    if not reason or not reason.strip():
        raise PlanningError("a reschedule needs a reason")
    if not today < not_before <= today + timedelta(days=MAX_RESCHEDULE_DAYS):
        raise PlanningError(f"the new day must be after today and within {MAX_RESCHEDULE_DAYS} days")
    sheet = session.get(RunSheet, shipment.run_sheet_id) if shipment.run_sheet_id else None
    if sheet is not None and sheet.status == PLANNED and sheet.run_date < not_before:
        stop = next(s for s in sheet.stops if s.shipment_id == shipment.id)
        sheet.stops.remove(stop)
        _renumber(session.get(Hub, sheet.hub_id), sheet)
        assignments.take_off_run_sheet(shipment)
        if not sheet.stops:
            session.delete(sheet)
    assignments.hold_back_until(shipment, not_before)
    shipments.record_change(session, shipment, RESCHEDULED_EVENT, actor=actor, reason=reason.strip(),
                            data={"not_before": not_before.isoformat()})
    promises.revise(session, shipment, "rescheduled", actor=actor)
    session.flush()


def pickup_centre(session: Session, run: PickupRun) -> int | None:
    """The shipping centre whose drivers make a pickup run: where its parcels go."""
    centre = session.scalar(select(Shipment.centre_id).where(Shipment.pickup_run_id == run.id).limit(1))
    if centre is None and run.driver_id is not None:
        centre = session.get(Driver, run.driver_id).hub_id
    return centre


def assign_pickup(session: Session, run_id: int, driver_id: int, *, hub_id: int | None = None) -> PickupRun:
    """Give a pickup run to another driver of the same centre; on a planned run sheet its
    stop moves with it. With ``hub_id`` (a hub operator's scope), only that hub's runs."""
    run = session.get(PickupRun, run_id, with_for_update={"key_share": True})
    centre = pickup_centre(session, run) if run is not None else None
    if run is None or (hub_id is not None and centre != hub_id):
        raise LookupError(f"no pickup run {run_id}")
    if run.status != "planned":
        raise PlanningError("the pickup is done: its driver stays")
    driver = session.get(Driver, driver_id)
    if driver is None or not driver.active:
        raise PlanningError("no such active driver")
    if centre is not None and driver.hub_id != centre:
        raise PlanningError(f"{driver.name} drives for another hub: a pickup goes to its centre's drivers")
    stop = session.scalars(select(RunSheetStop).where(RunSheetStop.pickup_run_id == run.id)).first()
    if stop is not None:
        if stop.run_sheet.status != PLANNED:
            raise PlanningError(f"the pickup is on run sheet {stop.run_sheet_id}, already out")
        move_stop(session, stop.id, driver.id)
    run.driver_id = driver.id
    session.flush()
    return run
