"""What the console's run-sheet page and the printed manifest show: a hub's day of run
sheets with every stop's who, where and what to collect, read in a few queries."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.crm.models import Partner, PickupLocation
from app.delivery import planning
from app.delivery.models import DeliveryAttempt, Driver, PickupRun, RunSheet, RunSheetStop
from app.delivery.services import drivers_of
from app.hubs.models import Hub
from app.orders.lifecycle import Status
from app.orders.models import Address, Order, Parcel, Shipment


@dataclass
class StopView:
    id: int
    seq: int
    kind: str
    lat: float
    lon: float
    #: Delivery: the tracking number; pickup: the partner and place.
    title: str
    #: Delivery: the recipient; pickup: the place's contact phone.
    name: str
    address: str
    phone: str
    parcels: int
    cod_amount: int = 0
    cod_currency: str | None = None
    shipment_id: int | None = None
    pickup_run_id: int | None = None
    status: str | None = None
    #: The customer must give the driver the code from their message.
    code_required: bool = False
    window: tuple[time, time] | None = None


@dataclass
class SheetView:
    sheet: RunSheet
    driver: Driver
    stops: list[StopView] = field(default_factory=list)

    @property
    def cod_total(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for s in self.stops:
            if s.cod_amount:
                totals[s.cod_currency] = totals.get(s.cod_currency, 0) + s.cod_amount
        return totals


@dataclass
class DayPlan:
    hub: Hub
    day: date
    sheets: list[SheetView]
    #: Parcels ready at the hub and on no planned sheet.
    unplanned: int
    #: The day's pickups (at a centre) on no sheet yet.
    pickups_waiting: int
    #: Active drivers with the stops they can still take that day.
    drivers: list[tuple[Driver, int]]

    @property
    def routes(self) -> list[dict]:
        """Each sheet's tour for the map: from the hub through the stops and back."""
        hub = [self.hub.lat, self.hub.lon]
        return [{"label": v.driver.name, "points": [hub, *[[s.lat, s.lon] for s in v.stops], hub]}
                for v in self.sheets]


def _address(a: Address) -> str:
    return ", ".join(p for p in (a.line1, a.line2, a.district, a.city) if p)


def day_plan(session: Session, hub: Hub, day: date) -> DayPlan:
    sheets = planning.sheets_of_day(session, hub.id, day)
    views = sheet_views(session, sheets)
    drivers = drivers_of(session, hub.id)
    room = planning.room_today(session, drivers, day)
    return DayPlan(hub=hub, day=day, sheets=views,
                   unplanned=len(planning.delivery_candidates(session, hub.id, day)),
                   pickups_waiting=len(planning.pickup_candidates(session, hub, day)),
                   drivers=[(d, room[d.id] - sum(len(v.stops) for v in views
                                                 if v.driver.id == d.id and v.sheet.status == planning.PLANNED))
                            for d in drivers])


def sheet_views(session: Session, sheets: list[RunSheet]) -> list[SheetView]:
    """The sheets with their stops filled in, in three queries whatever their size."""
    if not sheets:
        return []
    drivers = {d.id: d for d in session.scalars(select(Driver).where(
        Driver.id.in_({s.driver_id for s in sheets})))}
    stops = list(session.scalars(select(RunSheetStop).where(
        RunSheetStop.run_sheet_id.in_([s.id for s in sheets])).order_by(RunSheetStop.seq)))
    deliveries = _deliveries(session, [s.shipment_id for s in stops if s.shipment_id and s.kind != "return"])
    deliveries.update(_returns(session, [s.shipment_id for s in stops if s.kind == "return"]))
    pickups = _pickups(session, [s.pickup_run_id for s in stops if s.pickup_run_id])
    views = {s.id: SheetView(s, drivers[s.driver_id]) for s in sheets}
    for stop in stops:
        base = dict(id=stop.id, seq=stop.seq, kind=stop.kind, lat=stop.lat, lon=stop.lon)
        if stop.shipment_id:
            views[stop.run_sheet_id].stops.append(StopView(**base, **deliveries[stop.shipment_id]))
        else:
            views[stop.run_sheet_id].stops.append(StopView(**base, **pickups[stop.pickup_run_id]))
    return [views[s.id] for s in sheets]


def _deliveries(session: Session, ids: list[int]) -> dict[int, dict]:
    if not ids:
        return {}
    parcels = (select(Parcel.order_id, func.count(Parcel.id).label("n"))
               .group_by(Parcel.order_id).subquery())
    rows = session.execute(
        select(Shipment.id, Shipment.tracking_number, Shipment.status, Order.recipient_name,
               Order.recipient_phone, Order.cod_amount, Order.cod_currency, Address, parcels.c.n,
               Shipment.delivery_code.is_not(None))
        .join(Order, Order.id == Shipment.order_id)
        .join(Address, Address.id == Order.dropoff_address_id)
        .join(parcels, parcels.c.order_id == Order.id)
        .where(Shipment.id.in_(ids)))
    return {sid: dict(title=number, status=status, name=name, phone=phone, cod_amount=cod,
                      cod_currency=currency, address=_address(address), parcels=n, shipment_id=sid,
                      code_required=coded)
            for sid, number, status, name, phone, cod, currency, address, n, coded in rows}


def _returns(session: Session, ids: list[int]) -> dict[int, dict]:
    """A parcel going back: the stop is its shop's pickup place."""
    if not ids:
        return {}
    parcels = (select(Parcel.order_id, func.count(Parcel.id).label("n")).group_by(Parcel.order_id).subquery())
    rows = session.execute(
        select(Shipment.id, Shipment.tracking_number, Shipment.status, Partner.name, PickupLocation, Address,
               parcels.c.n)
        .join(Order, Order.id == Shipment.order_id)
        .join(Partner, Partner.id == Shipment.partner_id)
        .join(PickupLocation, PickupLocation.id == Order.pickup_location_id)
        .join(Address, Address.id == PickupLocation.address_id)
        .join(parcels, parcels.c.order_id == Order.id)
        .where(Shipment.id.in_(ids)))
    return {sid: dict(title=number, status=status, name=partner, phone=place.phone, cod_amount=0,
                      cod_currency=None, address=_address(address), parcels=n, shipment_id=sid,
                      code_required=False)
            for sid, number, status, partner, place, address, n in rows}


def _pickups(session: Session, run_ids: list[int]) -> dict[int, dict]:
    if not run_ids:
        return {}
    # One per tracking number, as the driver scans them: waiting, or picked up by this run
    # (what was not ready moved on to the next pickup).
    waiting = (select(Shipment.pickup_run_id, func.count(Shipment.id).label("n"))
               .where(Shipment.status != Status.CANCELLED, Shipment.pickup_run_id.in_(run_ids))
               .group_by(Shipment.pickup_run_id).subquery())
    rows = session.execute(
        select(PickupRun.id, Partner.name, PickupLocation, Address, waiting.c.n)
        .join(PickupLocation, PickupLocation.id == PickupRun.pickup_location_id)
        .join(Partner, Partner.id == PickupRun.partner_id)
        .join(Address, Address.id == PickupLocation.address_id)
        .outerjoin(waiting, waiting.c.pickup_run_id == PickupRun.id)
        .where(PickupRun.id.in_(run_ids)))
    return {rid: dict(title=partner if place.name == partner else f"{partner} · {place.name}",
                      name=place.name, phone=place.phone, address=_address(address), parcels=n or 0,
                      window=(place.ready_from, place.ready_until), pickup_run_id=rid)
            for rid, partner, place, address, n in rows}


@dataclass
class PickupRow:
    run_id: int
    partner: str
    location_id: int
    place: str
    address: str
    phone: str
    window: tuple[time, time]
    waiting: int
    status: str
    driver_id: int | None
    #: The run sheet carrying the pickup, and its status, when it is on one.
    sheet_id: int | None
    sheet_status: str | None
    centre_id: int | None
    #: Parcels this run has picked up.
    picked: int = 0


def pickup_plan(session: Session, day: date) -> list[PickupRow]:
    """The day's pickups by retailer and time window: each run with its parcels waiting,
    its driver and the run sheet it is on."""
    # Counted as the driver scans them: one per tracking number (an order's boxes share it).
    waiting = (select(Shipment.pickup_run_id, func.count(Shipment.id).label("n"),
                      func.min(Shipment.centre_id).label("centre_id"))
               .where(Shipment.status == Status.PICKUP_SCHEDULED)
               .group_by(Shipment.pickup_run_id).subquery())
    picked = (select(Shipment.pickup_run_id, func.count(Shipment.id).label("n"))
              .where(Shipment.status.not_in([Status.CREATED, Status.PICKUP_SCHEDULED, Status.CANCELLED]))
              .group_by(Shipment.pickup_run_id).subquery())
    on_sheet = (select(RunSheetStop.pickup_run_id, RunSheet.id.label("sheet_id"), RunSheet.status)
                .join(RunSheet, RunSheet.id == RunSheetStop.run_sheet_id)
                .where(RunSheetStop.pickup_run_id.is_not(None)).subquery())
    rows = session.execute(
        select(PickupRun, Partner.name, PickupLocation, Address, waiting.c.n, waiting.c.centre_id,
               on_sheet.c.sheet_id, on_sheet.c.status, picked.c.n)
        .join(PickupLocation, PickupLocation.id == PickupRun.pickup_location_id)
        .join(Partner, Partner.id == PickupRun.partner_id)
        .join(Address, Address.id == PickupLocation.address_id)
        .outerjoin(waiting, waiting.c.pickup_run_id == PickupRun.id)
        .outerjoin(on_sheet, on_sheet.c.pickup_run_id == PickupRun.id)
        .outerjoin(picked, picked.c.pickup_run_id == PickupRun.id)
        .where(PickupRun.run_date == day)
        .order_by(Partner.name, PickupLocation.ready_from, PickupLocation.name, PickupRun.id))
    return [PickupRow(run.id, partner, place.id, place.name, _address(address), place.phone,
                      (place.ready_from, place.ready_until), n or 0, run.status, run.driver_id,
                      sheet_id, sheet_status, centre_id, done or 0)
            for run, partner, place, address, n, centre_id, sheet_id, sheet_status, done in rows]


def pickup_parcels(session: Session, run_ids: list[int]) -> dict[int, list[str]]:
    """The tracking numbers a driver should collect at each pickup run."""
    out: dict[int, list[str]] = {r: [] for r in run_ids}
    if run_ids:
        for run_id, number in session.execute(
                select(Shipment.pickup_run_id, Shipment.tracking_number)
                .where(Shipment.pickup_run_id.in_(run_ids), Shipment.status == Status.PICKUP_SCHEDULED)
                .order_by(Shipment.tracking_number)):
            out[run_id].append(number)
    return out


def failure_reasons(session: Session, partner_id: int, *, since: datetime) -> list[tuple[str, int]]:
    """(reason code, failed attempts) of a partner's shipments since ``since``, the most first."""
    count = func.count()
    return [(r or "unknown", n) for r, n in session.execute(
        select(DeliveryAttempt.reason_code, count).join(Shipment, Shipment.id == DeliveryAttempt.shipment_id)
        .where(Shipment.partner_id == partner_id, DeliveryAttempt.outcome == "failed",
               DeliveryAttempt.created_at >= since)
        .group_by(DeliveryAttempt.reason_code).order_by(count.desc()))]
