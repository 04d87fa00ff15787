"""Hub services: the network, line-haul trips, and scans at hubs."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from app import clock
from app.hubs.models import Bag, BagItem, BagStatus, Hub, HubKind, LinehaulTrip, TripStatus
from app.hubs.routing import invalidate_network
from app.orders import assignments, shipments
from app.orders.lifecycle import BACK_AT_HUB_EVENT, Status


def all_hubs(session: Session) -> list[Hub]:
    return list(session.scalars(select(Hub).order_by(Hub.id)))


def create_hub(session: Session, *, code: str, name: str, kind: HubKind, city: str, country: str,
               lat: float, lon: float, delivery_radius_km: float, address: str = "",
               fed_by: Hub | None = None) -> Hub:
    if kind is HubKind.LOCAL_HUB and fed_by is None:
        raise ValueError("a local hub must be fed by a shipping centre")
    if fed_by is not None and not fed_by.is_centre:
        raise ValueError("a hub can only be fed by a shipping centre")
    hub = Hub(code=code, name=name, kind=kind, city=city, country=country, lat=lat, lon=lon,
              delivery_radius_km=delivery_radius_km, address=address,
              fed_by_id=fed_by.id if fed_by else None)
    session.add(hub)
    session.flush()
    invalidate_network()
    return hub


def scan_in(session: Session, hub: Hub, shipment_id: int, *, actor: str,
            client_event_id: str | None = None, device_time=None):
    """A parcel scanned in at a hub: arrival at a centre after pickup, or at a local hub
    off a line-haul."""
    action = "receive_at_centre" if hub.is_centre else "receive_at_hub"
    return shipments.transition(session, shipment_id, action, actor=actor, hub_id=hub.id,
                                lat=hub.lat, lon=hub.lon, client_event_id=client_event_id,
                                device_time=device_time)


def scan_back(session: Session, hub: Hub, shipment_id: int, *, actor: str):
    """A parcel the driver could not deliver, back at its hub at the end of the round: an
    event in its history (the status stays: it goes out again, or back to the sender)."""
    [shipment] = shipments.lock_shipments(session, [shipment_id])
    if shipment.status != Status.DELIVERY_FAILED or shipment.delivery_hub_id != hub.id:
        raise shipments.TransitionError("back_at_hub", shipment.status,
                                        "only a parcel that failed delivery from this hub comes back here")
    return shipments.record_change(session, shipment, BACK_AT_HUB_EVENT, actor=actor,
                                   data={"hub": hub.code})


def scan_in_many(session: Session, hub: Hub, shipment_ids: Iterable[int], *, actor: str) -> int:
    """Scan in a whole bag or trip at once: one lock for all, the same transition each.
    Returns how many moved (late scans are recorded, not counted)."""
    action = "receive_at_centre" if hub.is_centre else "receive_at_hub"
    moved = 0
    for s in shipments.lock_shipments(session, list(shipment_ids)):
        moved += shipments.transition(session, s, action, actor=actor, hub_id=hub.id, lat=hub.lat,
                                      lon=hub.lon, locked=True).applied
    return moved


def dispatch_linehauls(session: Session, *, actor: str = "system:dispatch_linehauls",
                       only: Iterable[int] | None = None, limit: int = 5000) -> list[LinehaulTrip]:
    """Send every parcel waiting at a centre for a line-haul, and not sorted into a bag,
    on a trip to its hub: one trip per centre and hub. Run on a schedule."""
    ids = shipments.ids_in_status(session, [Status.AT_SHIPPING_CENTRE], route="linehaul",
                                  only=only, limit=limit)
    # Parcels sorted into a bag leave with their bag, on a trip dispatched by hand.
    bagged = set(session.scalars(select(BagItem.shipment_id).join(Bag).where(
        Bag.status.in_([BagStatus.OPEN, BagStatus.CLOSED]), BagItem.shipment_id.in_(ids)))) if ids else set()
    by_leg: dict[tuple[int, int], list] = defaultdict(list)
    for s in shipments.lock_shipments(session, [i for i in ids if i not in bagged]):
        if s.status == Status.AT_SHIPPING_CENTRE:  # may have moved since the id query
            by_leg[(s.centre_id, s.delivery_hub_id)].append(s)
    trips = []
    for (centre_id, hub_id), group in sorted(by_leg.items()):
        trip = LinehaulTrip(from_hub_id=centre_id, to_hub_id=hub_id, status=TripStatus.DEPARTED)
        session.add(trip)
        session.flush()
        for s in group:
            assignments.put_on_trip(s, trip.id)
            shipments.transition(session, s, "depart_linehaul", actor=actor, hub_id=centre_id,
                                 locked=True, data={"trip_id": trip.id})
        trips.append(trip)
    return trips


def close_arrived_trips(session: Session) -> int:
    """Mark arrived the trips whose every parcel has been scanned in at the hub."""
    closed = 0
    for trip in trips_in_transit(session):
        if not shipments.ids_in_status(session, [Status.IN_TRANSIT], linehaul_trip_id=trip.id, limit=1):
            trip.status, trip.arrived_at = TripStatus.ARRIVED, clock.now()
            closed += 1
    return closed


def trips_in_transit(session: Session) -> list[LinehaulTrip]:
    return list(session.scalars(select(LinehaulTrip).where(
        LinehaulTrip.status == TripStatus.DEPARTED).order_by(LinehaulTrip.id)))
