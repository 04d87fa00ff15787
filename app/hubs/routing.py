"""Routing: which shipping centre a parcel goes through, and whether it is delivered
straight from there or carried on a line-haul to the local hub nearest the customer."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import time as dt_time

from geopy.distance import EARTH_RADIUS as EARTH_RADIUS_KM
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.hubs.models import Hub, HubKind

Point = tuple[float, float]


class NotServiceable(ValueError):
    """No hub of the network delivers to the point."""


@dataclass(frozen=True)
class HubPoint:
    id: int
    code: str
    name: str
    kind: HubKind
    lat: float
    lon: float
    radius_km: float
    fed_by_id: int | None
    # The schedule promises are worked out from (``Hub``'s columns say what each is).
    working_days: str = "123456"
    pickup_cutoff: dt_time = dt_time(14)
    linehaul_departs: dt_time = dt_time(20)
    linehaul_hours: int = 8
    out_by: dt_time = dt_time(9)
    daily_capacity: int | None = None
    window: tuple[dt_time, dt_time] | None = None
    same_day_out_by: dt_time | None = dt_time(13)

    @property
    def point(self) -> Point:
        return (self.lat, self.lon)

    def works_on(self, day) -> bool:
        """Whether the hub works on ``day`` by its week (public holidays are the caller's)."""
        return str(day.isoweekday()) in self.working_days


@dataclass(frozen=True)
class RoutePlan:
    centre: HubPoint
    #: The hub whose drivers deliver: the centre itself for a direct route.
    delivery_hub: HubPoint
    #: "direct" or "linehaul".
    kind: str
    #: Pickup to drop-off, great-circle km (what the rate card charges).
    distance_km: float
    legs: tuple[dict, ...]


def km(a: Point, b: Point) -> float:
    """Great-circle distance in km: geopy's ``great_circle`` formula (a test holds them
    equal), written out because building geopy Points cost more than the rest of routing
    and intake planning called it seven times per order."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    sin_lat1, cos_lat1 = math.sin(lat1), math.cos(lat1)
    sin_lat2, cos_lat2 = math.sin(lat2), math.cos(lat2)
    delta = lon2 - lon1
    cos_delta, sin_delta = math.cos(delta), math.sin(delta)
    d = math.atan2(math.sqrt((cos_lat2 * sin_delta) ** 2 + (cos_lat1 * sin_lat2 - sin_lat1 * cos_lat2 * cos_delta) ** 2),
                   sin_lat1 * sin_lat2 + cos_lat1 * cos_lat2 * cos_delta)
    return EARTH_RADIUS_KM * d


def plan_route(network: list[HubPoint], pickup: Point, dropoff: Point) -> RoutePlan:
    """Plan the legs from ``pickup`` to ``dropoff`` over ``network``. Pure."""
    centres = [h for h in network if h.kind is HubKind.SHIPPING_CENTRE]
    if not centres:
        raise NotServiceable("the network has no shipping centre")
    centre = min(centres, key=lambda h: km(h.point, pickup))
    distance = round(km(pickup, dropoff), 3)
    if km(centre.point, dropoff) <= centre.radius_km:
        legs = ({"kind": "pickup", "from": "pickup", "to": centre.code},
                {"kind": "delivery", "from": centre.code, "to": "dropoff"})
        return RoutePlan(centre, centre, "direct", distance, legs)
    covering = [(km(h.point, dropoff), h) for h in network
                if h.kind is HubKind.LOCAL_HUB and h.fed_by_id == centre.id]
    covering = [(d, h) for d, h in covering if d <= h.radius_km]
    if not covering:
        nearest = min(network, key=lambda h: km(h.point, dropoff))
        raise NotServiceable(
            f"the drop-off ({dropoff[0]:.5f}, {dropoff[1]:.5f}) is outside every hub's delivery "
            f"area; nearest is {nearest.name}, {km(nearest.point, dropoff):.1f} km away "
            f"(delivers within {nearest.radius_km:g} km)"
        )
    _, hub = min(covering, key=lambda x: x[0])
    legs = ({"kind": "pickup", "from": "pickup", "to": centre.code},
            {"kind": "linehaul", "from": centre.code, "to": hub.code},
            {"kind": "delivery", "from": hub.code, "to": "dropoff"})
    return RoutePlan(centre, hub, "linehaul", distance, legs)


def route_via(network: list[HubPoint], centre_id: int, dropoff: Point, distance_km: float,
              hub_code: str) -> RoutePlan:
    """The route through a chosen delivering hub: the centre itself or one of the local
    hubs it feeds, whichever delivery area holds the drop-off. Pure; raises
    NotServiceable naming why a hub cannot take it."""
    by_code = {h.code: h for h in network}
    hub, centre = by_code.get(hub_code), next((h for h in network if h.id == centre_id), None)
    if hub is None or centre is None:
        raise NotServiceable(f"no active hub {hub_code}")
    if hub.id != centre.id and hub.fed_by_id != centre.id:
        raise NotServiceable(f"{hub.code} is not fed by {centre.code}, the parcel's centre")
    away = km(hub.point, dropoff)
    if away > hub.radius_km:
        raise NotServiceable(f"the drop-off is {away:.1f} km from {hub.code}, which delivers within "
                             f"{hub.radius_km:g} km")
    if hub.id == centre.id:
        return RoutePlan(centre, centre, "direct", distance_km,
                         ({"kind": "pickup", "from": "pickup", "to": centre.code},
                          {"kind": "delivery", "from": centre.code, "to": "dropoff"}))
    return RoutePlan(centre, hub, "linehaul", distance_km,
                     ({"kind": "pickup", "from": "pickup", "to": centre.code},
                      {"kind": "linehaul", "from": centre.code, "to": hub.code},
                      {"kind": "delivery", "from": hub.code, "to": "dropoff"}))


def hubs_able_to_deliver(network: list[HubPoint], centre_id: int, dropoff: Point) -> list[HubPoint]:
    """The hubs a parcel from this centre could be delivered from (for a reroute)."""
    return [h for h in network if (h.id == centre_id or h.fed_by_id == centre_id)
            and km(h.point, dropoff) <= h.radius_km]


_cache_lock = threading.Lock()
_cache: dict[str, tuple[float, list[HubPoint]]] = {}
#: Seconds a process keeps the network in memory; hub changes invalidate it at once.
NETWORK_TTL = 60.0


def load_network(session: Session) -> list[HubPoint]:
    """The active hubs, cached per database for NETWORK_TTL seconds."""
    key = str(session.get_bind().url)
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < NETWORK_TTL:
            return hit[1]
    hubs = session.scalars(select(Hub).where(Hub.active.is_(True)).order_by(Hub.id))
    network = [HubPoint(h.id, h.code, h.name, h.kind, h.lat, h.lon, h.delivery_radius_km, h.fed_by_id,
                        h.working_days, h.pickup_cutoff, h.linehaul_departs, h.linehaul_hours, h.out_by,
                        h.daily_capacity, (h.window_from, h.window_until) if h.window_from and h.window_until
                        else None, h.same_day_out_by) for h in hubs]
    with _cache_lock:
        _cache[key] = (now, network)
    return network


def invalidate_network() -> None:
    with _cache_lock:
        _cache.clear()


def hub_codes(session: Session, ids) -> dict[int, str]:
    """Codes of the hubs ``ids`` from the cached network; a query only for hubs outside it
    (inactive ones, which old events may name)."""
    codes = {h.id: h.code for h in load_network(session)}
    missing = {i for i in ids if i is not None and i not in codes}
    if missing:
        codes.update(session.execute(select(Hub.id, Hub.code).where(Hub.id.in_(missing))).tuples())
    return codes
