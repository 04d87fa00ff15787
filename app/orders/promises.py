"""Delivery promises worked out from the network: the day a parcel will be delivered, from
the steps it will go through (the pickup and the centre's cut-off, the route, the line-haul
schedule to its hub, each hub's working days and the public holidays, the service level,
the delivering hub's capacity that day), and the reason in data, so that each reader gets
it in their own words. The quote, intake and every slip call ``promise``/``revise``; see
docs/ARCHITECTURE.md, "Delivery promises"."""
from __future__ import annotations

import threading
import time as monotonic
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import clock, workdays
from app.hubs.routing import HubPoint, RoutePlan, load_network
from app.orders.lifecycle import PROMISE_CHANGED_EVENT, Status
from app.orders.models import Shipment

#: A same-day order picked up by then is delivered that day (a direct route only).
SAME_DAY_CUTOFF = time(12)
#: How far ahead a promise looks for an open day with room before it gives up.
HORIZON_DAYS = 60
#: How long a hub's count of parcels promised for a day is kept in the process.
LOAD_TTL = 60.0
#: What a revision starts from, by the shipment's standing.
BEFORE_PICKUP = frozenset({Status.CREATED, Status.PICKUP_SCHEDULED})
AT_CENTRE = frozenset({Status.PICKED_UP, Status.AT_SHIPPING_CENTRE})
AT_HUB = frozenset({Status.IN_TRANSIT, Status.AT_LOCAL_HUB, Status.DELIVERY_FAILED})
#: Why a promise was moved: the slip, as each reader is told it.
SLIPS = ("failed_attempt", "released", "missed_linehaul", "rescheduled", "address_changed", "rerouted")


class NoPromise(ValueError):
    """No day within HORIZON_DAYS: the delivering hub is closed or full that long."""


@dataclass(frozen=True)
class Promise:
    day: date
    #: The delivering hub's window that day, when it offers one.
    window: tuple[time, time] | None
    #: The steps, in data: [{"step": "pickup", "day": "2026-12-03", "by": "14:00"}, ...].
    basis: list[dict]


# -- the hubs' days -----------------------------------------------------------------------

def _closed(hub: HubPoint, day: date) -> dict | None:
    """Why ``hub`` does not work on ``day`` (a step of the basis), or None when it does."""
    calendar = workdays.office()
    if calendar.is_holiday(day):
        return {"step": "skip", "day": day.isoformat(), "why": "holiday", "name": calendar.holiday_name(day)}
    if not hub.works_on(day):
        return {"step": "skip", "day": day.isoformat(), "why": "closed", "hub": hub.code}
    return None


def _open_from(hub: HubPoint, day: date, steps: list[dict]) -> date:
    """The first day from ``day`` that ``hub`` works; the days skipped join ``steps``."""
    for _i in range(HORIZON_DAYS):
        why = _closed(hub, day)
        if why is None:
            return day
        steps.append(why)
        day += timedelta(days=1)
    raise NoPromise(f"{hub.code} does not work in the next {HORIZON_DAYS} days")


# -- a hub's load -------------------------------------------------------------------------

_loads: dict[tuple[str, int, date], tuple[float, int]] = {}
_loads_lock = threading.Lock()


def _load(session: Session, hub_id: int, day: date) -> int:
    """Parcels promised for ``day`` at the hub: counted once a minute per process, and
    counted up by ``count_in`` as this process takes orders (a bulk upload fills a day)."""
    key = (str(session.get_bind().url), hub_id, day)
    now = monotonic.monotonic()
    with _loads_lock:
        hit = _loads.get(key)
        if hit and now - hit[0] < LOAD_TTL:
            return hit[1]
    n = session.scalar(select(func.count()).select_from(Shipment).where(
        Shipment.delivery_hub_id == hub_id, Shipment.promised_date == day,
        Shipment.status.notin_([Status.CANCELLED.value, Status.LOST.value]))) or 0
    with _loads_lock:
        _loads[key] = (now, n)
    return n


def count_in(session: Session, hub_id: int, day: date) -> None:
    """A parcel now promised for ``day`` at the hub (an order taken, a promise moved): the
    process's count goes up without waiting for the next reading."""
    key = (str(session.get_bind().url), hub_id, day)
    with _loads_lock:
        if key in _loads:
            at, n = _loads[key]
            _loads[key] = (at, n + 1)


def forget_loads() -> None:
    with _loads_lock:
        _loads.clear()


def _deliver_from(session: Session, hub: HubPoint, day: date, steps: list[dict], *, extra_day: bool,
                  counted_on: date | None = None) -> date:
    """The day ``hub`` delivers, from ``day`` on: a working day (one more for standard)
    with room under its capacity. ``counted_on``: a day the shipment already counts in."""
    day = _open_from(hub, day, steps)
    if extra_day:
        steps.append({"step": "standard", "day": day.isoformat()})
        day = _open_from(hub, day + timedelta(days=1), steps)
    for _i in range(HORIZON_DAYS):
        if hub.daily_capacity is None:
            return day
        load = _load(session, hub.id, day) - (1 if day == counted_on else 0)
        if load < hub.daily_capacity:
            return day
        steps.append({"step": "skip", "day": day.isoformat(), "why": "full", "hub": hub.code})
        day = _open_from(hub, day + timedelta(days=1), steps)
    raise NoPromise(f"{hub.code} is full for the next {HORIZON_DAYS} days")


def _finish(hub: HubPoint, day: date, steps: list[dict]) -> Promise:
    steps.append({"step": "deliver", "day": day.isoformat(), "hub": hub.code, "name": hub.name,
                  **({"window": [hub.window[0].strftime("%H:%M"), hub.window[1].strftime("%H:%M")]}
                     if hub.window else {})})
    return Promise(day, hub.window, steps)


# -- promising ----------------------------------------------------------------------------

def promise(session: Session, plan: RoutePlan, service_level: str, now: datetime | None = None) -> Promise:
    """The promise for a new order on ``plan`` taken at ``now``. Raises NoPromise."""
    now = (now or clock.now()).astimezone(clock.network_zone())
    centre, hub = _current(session, plan.centre), _current(session, plan.delivery_hub)
    steps: list[dict] = []
    same_day = service_level == "same_day" and plan.kind == "direct" and hub.same_day_out_by is not None
    if service_level == "same_day" and not same_day:
        steps.append({"step": "no_same_day"} if plan.kind != "direct" else
                     {"step": "no_same_day", "why": "no_run", "hub": hub.code})
    # Picked up by noon, and before the centre's same-day run leaves if that is earlier.
    cutoff = min(SAME_DAY_CUTOFF, hub.same_day_out_by) if same_day else centre.pickup_cutoff
    day = now.date()
    if now.time() >= cutoff:
        steps.append({"step": "after_cutoff", "day": day.isoformat(), "by": cutoff.strftime("%H:%M")})
        day += timedelta(days=1)
    pickup = _open_from(centre, day, steps)
    steps.append({"step": "pickup", "day": pickup.isoformat(), "by": cutoff.strftime("%H:%M")})
    if plan.kind == "linehaul":
        first = _linehaul(hub, pickup, steps)
    else:
        first = pickup if same_day else pickup + timedelta(days=1)
    day = _deliver_from(session, hub, first, steps, extra_day=service_level == "standard")
    return _finish(hub, day, steps)


def _linehaul(hub: HubPoint, depart: date, steps: list[dict]) -> date:
    """The day the line-haul leaving the centre on ``depart`` lets the hub deliver."""
    arrives = datetime.combine(depart, hub.linehaul_departs) + timedelta(hours=hub.linehaul_hours)
    steps.append({"step": "linehaul", "day": depart.isoformat(), "at": hub.linehaul_departs.strftime("%H:%M"),
                  "hub": hub.code, "name": hub.name})
    return arrives.date() if arrives.time() <= hub.out_by else arrives.date() + timedelta(days=1)


def _current(session: Session, hub: HubPoint) -> HubPoint:
    """The hub as the cached network has it now (a plan may carry an older copy)."""
    return next((h for h in load_network(session) if h.id == hub.id), hub)


def earliest(session: Session, shipment: Shipment, now: datetime | None = None) -> Promise | None:
    """The promise worked out again from where the shipment stands at ``now``; None when
    no day can be promised from there (on hold, ended, out for delivery)."""
    now = (now or clock.now()).astimezone(clock.network_zone())
    standing = Status(shipment.status)
    network = {h.id: h for h in load_network(session)}
    centre, hub = network.get(shipment.centre_id), network.get(shipment.delivery_hub_id)
    if centre is None or hub is None or standing in (Status.ON_HOLD, Status.OUT_FOR_DELIVERY):
        return None
    level = shipment.order.service_level
    today, steps = now.date(), []
    if standing in BEFORE_PICKUP:
        plan = RoutePlan(centre, hub, shipment.route, shipment.distance_km, tuple(shipment.planned_legs or ()))
        found = promise(session, plan, level, now)
        return _not_before(session, shipment, hub, found)
    if standing in AT_CENTRE and shipment.route == "linehaul":
        depart = today if now.time() < hub.linehaul_departs else today + timedelta(days=1)
        first = _linehaul(hub, _open_from(centre, depart, steps), steps)
    elif standing in AT_CENTRE or standing in AT_HUB:
        runs = [hub.out_by] + ([hub.same_day_out_by] if level == "same_day" and shipment.route == "direct"
                               and hub.same_day_out_by else [])
        goes_today = any(now.time() < run for run in runs) and standing != Status.DELIVERY_FAILED
        first = today if goes_today else today + timedelta(days=1)
    else:
        return None
    extra_day = level == "standard" and standing in AT_CENTRE
    if shipment.not_before and shipment.not_before > first:  # the day the customer asked for, as it is
        steps.append({"step": "not_before", "day": shipment.not_before.isoformat()})
        first, extra_day = shipment.not_before, False
    day = _deliver_from(session, hub, first, steps, extra_day=extra_day, counted_on=shipment.promised_date)
    return _finish(hub, day, steps)


def _not_before(session: Session, shipment: Shipment, hub: HubPoint, found: Promise) -> Promise:
    if not shipment.not_before or shipment.not_before <= found.day:
        return found
    steps = [s for s in found.basis if s["step"] != "deliver"]
    steps.append({"step": "not_before", "day": shipment.not_before.isoformat()})
    day = _deliver_from(session, hub, shipment.not_before, steps, extra_day=False, counted_on=shipment.promised_date)
    return _finish(hub, day, steps)


def revise(session: Session, shipment: Shipment, why: str, *, actor: str, now: datetime | None = None) -> bool:
    """Work the promise out again after a slip (``why``, one of SLIPS). A later day is
    written, with a ``promise_changed`` event (a webhook, and one message to the
    customer); the same day or an earlier one changes nothing, so a slip seen twice moves
    the promise once. The caller holds the shipment's row lock. True when it moved."""
    from app.orders import shipments  # the lifecycle's writer, which calls back here on a slip

    try:
        found = earliest(session, shipment, now)
    except NoPromise:
        return False
    if found is None or found.day <= shipment.promised_date:
        return False
    before = shipment.promised_date
    basis = [{"step": "since", "why": why}, *found.basis]
    shipment.promised_date, shipment.promise_basis = found.day, basis
    count_in(session, shipment.delivery_hub_id, found.day)
    shipment.promise_revisions = (shipment.promise_revisions or 0) + 1
    shipments.record_change(session, shipment, PROMISE_CHANGED_EVENT, actor=actor, reason=why,
                            data={"from": before.isoformat(), "to": found.day.isoformat()})
    return True


def missed_linehauls(session: Session, *, actor: str = "system:watch_promises", now: datetime | None = None) -> int:
    """Revise line-haul parcels still at their centre after the line-haul their promise
    counted on has left. Run on a schedule; returns how many promises moved. Reads first
    and locks only the parcels that missed theirs (scans at the centre go on meanwhile)."""
    from app.orders import shipments

    now = (now or clock.now()).astimezone(clock.network_zone())
    network = {h.id: h for h in load_network(session)}

    def missed(hub_id: int, basis: list | None) -> bool:
        planned = next((step for step in reversed(basis or []) if step["step"] == "linehaul"), None)
        hub = network.get(hub_id)
        return bool(planned and hub) and now > datetime.combine(
            date.fromisoformat(planned["day"]), hub.linehaul_departs, now.tzinfo)

    waiting = [Status.AT_SHIPPING_CENTRE.value, Status.PICKED_UP.value]
    ids = [sid for sid, hub_id, basis in session.execute(
        select(Shipment.id, Shipment.delivery_hub_id, Shipment.promise_basis)
        .where(Shipment.status.in_(waiting), Shipment.route == "linehaul")) if missed(hub_id, basis)]
    moved = 0
    for s in shipments.lock_shipments(session, ids):  # checked again under the lock: it may have left since
        if s.status in waiting and missed(s.delivery_hub_id, s.promise_basis) \
                and revise(session, s, "missed_linehaul", actor=actor, now=now):
            moved += 1
    return moved
