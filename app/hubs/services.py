"""Hub services: the network, line-haul trips, and scans at hubs."""
from __future__ import annotations

from collections import defaultdict
from datetime import time
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


class ScheduleError(ValueError):
    """A hub's schedule that cannot be kept: the message names the field."""


def set_schedule(session: Session, hub: Hub, *, working_days: str, pickup_cutoff: time, linehaul_departs: time,
                 linehaul_hours: int, out_by: time, daily_capacity: int | None,
                 window: tuple[time, time] | None, same_day_out_by: time | None = None) -> dict:
    """Change what delivery promises are worked out from at ``hub`` (from the next quote
    on; promises given stand). Returns what changed, for the audit log. Raises ScheduleError."""
    days = "".join(sorted(set(working_days)))
    if not days or any(d not in "1234567" for d in days):
        raise ScheduleError("working days: at least one day of the week")
    if not 0 <= linehaul_hours <= 72:
        raise ScheduleError("line-haul hours: from 0 to 72")
    if daily_capacity is not None and daily_capacity < 1:
        raise ScheduleError("capacity: a number of parcels a day, or empty for no limit")
    if window is not None and window[0] >= window[1]:
        raise ScheduleError("window: it starts before it ends")
    changed = {}
    values = {"working_days": days, "pickup_cutoff": pickup_cutoff, "linehaul_departs": linehaul_departs,
              "linehaul_hours": linehaul_hours, "out_by": out_by, "daily_capacity": daily_capacity,
              "window_from": window[0] if window else None, "window_until": window[1] if window else None,
              "same_day_out_by": same_day_out_by if hub.is_centre else None}
    for name, value in values.items():
        if getattr(hub, name) != value:
            changed[name] = value.strftime("%H:%M") if isinstance(value, time) else value
            setattr(hub, name, value)
    session.flush()
    invalidate_network()
    return changed


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
        raise shipments.TransitionError(BACK_AT_HUB_EVENT, shipment.status,
                                        "only a parcel that failed delivery from this hub comes back here")
    return shipments.record_change(session, shipment, BACK_AT_HUB_EVENT, actor=actor,
                                   data={"hub": hub.code})


class ScanRefused(ValueError):
    """A parcel not scanned in at a station; the message says why, as the person at the
    scanner would say it."""


#: Why a parcel in this state is not scanned in, in the words of the scan station.
_NOT_IN = {
    Status.CREATED: "not picked up yet: the pickup driver confirms the pickup first",
    Status.PICKUP_SCHEDULED: "not picked up yet: the pickup driver confirms the pickup first",
    Status.PICKED_UP: "picked up but not yet at its shipping centre",
    Status.IN_TRANSIT: "already left the centre on a line-haul",
    Status.DELIVERED: "already delivered",
    Status.CLOSED: "already delivered and closed",
    Status.CANCELLED: "the order was cancelled: put the parcel aside for the shop",
    Status.ON_HOLD: "on hold: release it on its page first",
    Status.LOST: "declared lost: tell a dispatcher it has turned up",
    Status.RETURNING_TO_SENDER: "on its way back to the shop",
    Status.RETURNED: "already returned to the shop",
}


def scan_at_station(session: Session, hub: Hub, shipment_id: int, *, actor: str) -> str:
    """A parcel scanned in at a hub's station: its arrival (at its centre, or at the hub
    that delivers it), or its return from a round that failed. Returns what happened, in
    words; raises ScanRefused saying why not."""
    [shipment] = shipments.lock_shipments(session, [shipment_id])
    expected = shipment.centre_id if hub.is_centre else shipment.delivery_hub_id
    if expected != hub.id:
        raise ScanRefused(f"not for this hub: it goes to {session.get(Hub, expected).code}")
    if shipment.status == Status.DELIVERY_FAILED:
        try:
            scan_back(session, hub, shipment.id, actor=actor)
        except shipments.TransitionError as exc:
            raise ScanRefused(f"not scanned in: {exc}") from None
        return "back at the hub after a failed attempt: it goes out again or back to the sender"
    if shipment.status == Status.OUT_FOR_DELIVERY:
        raise ScanRefused("still out for delivery: the driver records the attempt first")
    try:
        outcome = scan_in(session, hub, shipment.id, actor=actor)
    except shipments.TransitionError:
        raise ScanRefused(f"not scanned in: {_why_not_in(session, shipment, hub)}") from None
    if not outcome.applied:
        return "recorded as a late scan: the parcel had already gone further"
    return f"scanned in: now {shipment.status.replace('_', ' ')}"


def _why_not_in(session: Session, shipment, hub: Hub) -> str:
    status = Status(shipment.status)
    if status in (Status.AT_SHIPPING_CENTRE, Status.AT_LOCAL_HUB):
        arrived = [e for e in shipments.history(session, shipment.id) if e.applied and e.to_status == status]
        if arrived and arrived[-1].hub_id == hub.id:
            return f"already scanned in here at {clock.local(arrived[-1].server_time):%H:%M}"
        return "already scanned in at another hub"
    return _NOT_IN.get(status, f"it is {status.value.replace('_', ' ')}")


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
