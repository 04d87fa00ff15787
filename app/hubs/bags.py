"""Bags and line-haul trips worked by hand at the scan station.

At a shipping centre each parcel bound for a local hub is scanned and sorted into that
hub's open bag; a full bag is closed; a trip takes every closed bag for one hub and its
parcels depart (the lifecycle's ``depart_linehaul``). At the local hub the operator scans
what came off the truck (a bag's tag receives the whole bag, a parcel's label that
parcel) and finishes the trip: parcels on it not scanned are reported missing and put on
hold, parcels scanned that were not on it are reported unexpected.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from app import clock
from app.hubs.models import Bag, BagItem, BagStatus, Hub, LinehaulTrip, TripDiscrepancy, TripStatus
from app.orders import assignments, shipments
from app.orders.lifecycle import Status
from app.orders.models import Shipment
from app.orders.shipments import TransitionError
from app.words import counted


class BagError(ValueError):
    """A bag or trip step refused, with the reason in words."""


@dataclass
class Report:
    trip: LinehaulTrip
    received: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def bag_code(bag_id: int) -> str:
    return f"BG{bag_id:08d}"


def open_bags(session: Session, hub_id: int) -> list[Bag]:
    """The centre's bags not yet on a trip (open or closed), by destination."""
    return list(session.scalars(select(Bag).where(
        Bag.from_hub_id == hub_id, Bag.status.in_([BagStatus.OPEN, BagStatus.CLOSED]))
        .order_by(Bag.to_hub_id, Bag.id)))


def bag_of(session: Session, shipment_id: int) -> Bag | None:
    """The bag a parcel is in and that has not reached its hub yet."""
    return session.scalars(select(Bag).join(BagItem).where(
        BagItem.shipment_id == shipment_id, Bag.status != BagStatus.RECEIVED)).first()


def sort_to_bag(session: Session, hub: Hub, shipment: Shipment, *, actor: str) -> Bag:
    """Put a parcel at the centre into the open bag for its local hub (a new bag when
    there is none). The caller holds the shipment's row lock."""
    if not hub.is_centre:
        raise BagError("parcels are bagged at a shipping centre")
    if shipment.centre_id != hub.id:
        raise BagError("not this centre's parcel")
    if shipment.route != "linehaul":
        raise BagError("delivered from this centre: no line-haul, no bag")
    if shipment.status != Status.AT_SHIPPING_CENTRE:
        raise BagError(f"it is {shipment.status.replace('_', ' ')}, not at the centre")
    already = bag_of(session, shipment.id)
    if already is not None:
        raise BagError(f"already in bag {already.code}")
    bag = session.scalars(select(Bag).where(
        Bag.from_hub_id == hub.id, Bag.to_hub_id == shipment.delivery_hub_id,
        Bag.status == BagStatus.OPEN).order_by(Bag.id).with_for_update(key_share=True)).first()
    if bag is None:
        bag = Bag(from_hub_id=hub.id, to_hub_id=shipment.delivery_hub_id, status=BagStatus.OPEN)
        session.add(bag)
        session.flush()
        bag.code = bag_code(bag.id)
    bag.items.append(BagItem(shipment_id=shipment.id, added_by=actor))
    session.flush()
    return bag


def close_bag(session: Session, bag_id: int, hub_id: int) -> Bag:
    bag = session.get(Bag, bag_id, with_for_update={"key_share": True})
    if bag is None or bag.from_hub_id != hub_id:
        raise BagError(f"no bag {bag_id} at this centre")
    if bag.status != BagStatus.OPEN:
        raise BagError(f"bag {bag.code} is already {bag.status.value}")
    if not bag.items:
        raise BagError(f"bag {bag.code} is empty")
    bag.status, bag.closed_at = BagStatus.CLOSED, clock.now()
    session.flush()
    return bag


@dataclass
class Departure:
    trip: LinehaulTrip
    bags: list[str]
    parcels: int
    #: (tracking number, why) of parcels taken out of their bag instead of leaving.
    dropped: list[tuple[str, str]]


def dispatch_trip(session: Session, hub: Hub, to_hub_id: int, *, actor: str) -> Departure:
    """A truck leaves the centre for ``to_hub_id`` with every closed bag for that hub."""
    bags = list(session.scalars(select(Bag).where(
        Bag.from_hub_id == hub.id, Bag.to_hub_id == to_hub_id, Bag.status == BagStatus.CLOSED)
        .order_by(Bag.id).with_for_update(key_share=True)))
    if not bags:
        raise BagError("no closed bag for that hub: close a bag first")
    trip = LinehaulTrip(from_hub_id=hub.id, to_hub_id=to_hub_id, status=TripStatus.DEPARTED)
    session.add(trip)
    session.flush()
    items = {i.shipment_id: i for b in bags for i in b.items}
    locked = {s.id: s for s in shipments.lock_shipments(session, list(items))}
    dropped, parcels = [], 0
    for shipment_id, item in items.items():
        s = locked[shipment_id]
        why = None
        if s.status != Status.AT_SHIPPING_CENTRE:
            why = f"it is {s.status.replace('_', ' ')}"
        elif s.delivery_hub_id != to_hub_id:
            why = "it is bound for another hub now"
        else:
            try:
                shipments.transition(session, s, "depart_linehaul", actor=actor, hub_id=hub.id, locked=True,
                                     data={"trip_id": trip.id, "bag": item.bag.code})
            except TransitionError as exc:
                why = str(exc)
        if why:
            dropped.append((s.tracking_number, why))
            item.bag.items.remove(item)  # out of the bag (delete-orphan removes the row)
            continue
        assignments.put_on_trip(s, trip.id)
        parcels += 1
    for bag in bags:
        bag.status, bag.trip_id = BagStatus.DISPATCHED, trip.id
    session.flush()
    return Departure(trip, [b.code for b in bags], parcels, dropped)


def trip_bags(session: Session, trip_id: int) -> list[Bag]:
    return list(session.scalars(select(Bag).where(Bag.trip_id == trip_id).order_by(Bag.id)))


def trips_coming(session: Session, hub_id: int) -> list[LinehaulTrip]:
    """Trips on their way here with a parcel still on board: a trip whose parcels were all
    scanned in some other way (at the scan station) has nothing left to unload."""
    on_board = exists().where(Shipment.linehaul_trip_id == LinehaulTrip.id, Shipment.status == Status.IN_TRANSIT)
    return list(session.scalars(select(LinehaulTrip).where(
        LinehaulTrip.to_hub_id == hub_id, LinehaulTrip.status == TripStatus.DEPARTED, on_board)
        .order_by(LinehaulTrip.id)))


def trip_parcels(session: Session, trip_id: int) -> list[Shipment]:
    """The parcels that left on a trip (bagged or not), by tracking number."""
    return list(session.scalars(select(Shipment).where(Shipment.linehaul_trip_id == trip_id)
                                .order_by(Shipment.tracking_number)))


def departed_trip(session: Session, trip_id: int, hub: Hub) -> LinehaulTrip:
    trip = session.get(LinehaulTrip, trip_id, with_for_update={"key_share": True})
    if trip is None or trip.to_hub_id != hub.id:
        raise BagError(f"no trip {trip_id} coming to {hub.code}")
    if trip.status != TripStatus.DEPARTED:
        raise BagError(f"trip {trip_id} has been received already")
    return trip


def receive_scan(session: Session, hub: Hub, trip: LinehaulTrip, code: str, *, actor: str) -> tuple[int, str]:
    """One scan while unloading ``trip``: a bag's tag receives every parcel in it, a
    parcel's label that parcel. A parcel that was not on the trip is noted unexpected.
    Returns (parcels received, what to tell the operator)."""
    code = code.strip().upper()
    bag = session.scalars(select(Bag).where(Bag.code == code)).first()
    if bag is not None:
        if bag.trip_id != trip.id:
            raise BagError(f"bag {code} is not on trip {trip.id}")
        ids = [i.shipment_id for i in bag.items]
        moved = _receive(session, hub, ids, actor=actor)
        bag.status = BagStatus.RECEIVED
        session.flush()
        return moved, f"bag {code}: {counted(moved, 'parcel')} received"
    shipment = shipments.get_by_tracking_number(session, code)
    if shipment is None:
        raise BagError(f"{code}: unknown bag tag or tracking number")
    if shipment.linehaul_trip_id != trip.id:
        _note(session, trip, shipment.id, "unexpected", actor)
        moved = _receive(session, hub, [shipment.id], actor=actor) if (
            shipment.delivery_hub_id == hub.id and shipment.status == Status.IN_TRANSIT) else 0
        return moved, f"{code} was not on trip {trip.id}: noted as unexpected" + (
            ", received" if moved else ", not received here")
    moved = _receive(session, hub, [shipment.id], actor=actor)
    return moved, f"{code}: received" if moved else f"{code}: already received"


def _receive(session: Session, hub: Hub, ids: list[int], *, actor: str) -> int:
    moved = 0
    for s in shipments.lock_shipments(session, ids):
        if s.status == Status.IN_TRANSIT:
            moved += shipments.transition(session, s, "receive_at_hub", actor=actor, hub_id=hub.id,
                                          lat=hub.lat, lon=hub.lon, locked=True).applied
    return moved


def _note(session: Session, trip: LinehaulTrip, shipment_id: int, kind: str, actor: str) -> None:
    seen = session.scalars(select(TripDiscrepancy).where(
        TripDiscrepancy.trip_id == trip.id, TripDiscrepancy.shipment_id == shipment_id)).first()
    if seen is None:
        session.add(TripDiscrepancy(trip_id=trip.id, shipment_id=shipment_id, kind=kind, noted_by=actor))
        session.flush()


def finish_receiving(session: Session, hub: Hub, trip_id: int, *, actor: str) -> Report:
    """The truck is empty: every parcel of the trip not received is missing (held, so it
    shows among the exceptions until found), and the trip has arrived."""
    trip = departed_trip(session, trip_id, hub)
    report = Report(trip)
    for s in shipments.lock_shipments(session, [s.id for s in trip_parcels(session, trip.id)]):
        if s.status == Status.IN_TRANSIT:
            _note(session, trip, s.id, "missing", actor)
            shipments.transition(session, s, "hold", actor=actor, locked=True, hub_id=hub.id,
                                 reason=f"missing from line-haul trip {trip.id}")
            report.missing.append(s.tracking_number)
        else:
            report.received += 1
    report.unexpected = [n for n, in session.execute(
        select(Shipment.tracking_number).join(TripDiscrepancy, TripDiscrepancy.shipment_id == Shipment.id)
        .where(TripDiscrepancy.trip_id == trip.id, TripDiscrepancy.kind == "unexpected")
        .order_by(Shipment.tracking_number))]
    for bag in session.scalars(select(Bag).where(Bag.trip_id == trip.id)):
        bag.status = BagStatus.RECEIVED
    trip.status, trip.arrived_at, trip.received_by = TripStatus.ARRIVED, clock.now(), actor
    session.flush()
    return report


def discrepancies(session: Session, trip_id: int) -> list[tuple[str, str, int]]:
    """(kind, tracking number, shipment id) noted on a trip."""
    return [tuple(r) for r in session.execute(
        select(TripDiscrepancy.kind, Shipment.tracking_number, Shipment.id)
        .join(Shipment, Shipment.id == TripDiscrepancy.shipment_id)
        .where(TripDiscrepancy.trip_id == trip_id).order_by(TripDiscrepancy.kind, Shipment.tracking_number))]
