"""The shipment lifecycle as data: states, the transition table, guards, late scans and
the public status vocabulary. Pure Python: no database, so it is tested on its own.

``app.orders.shipments.transition`` is the one function that applies it.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    CREATED = "created"
    PICKUP_SCHEDULED = "pickup_scheduled"
    PICKED_UP = "picked_up"
    AT_SHIPPING_CENTRE = "at_shipping_centre"
    IN_TRANSIT = "in_transit"
    AT_LOCAL_HUB = "at_local_hub"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    RETURNING_TO_SENDER = "returning_to_sender"
    RETURNED = "returned"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    ON_HOLD = "on_hold"
    LOST = "lost"


S = Status

TERMINAL = frozenset({S.CLOSED, S.CANCELLED, S.LOST})
#: States in which a shipment can be put on hold.
HOLDABLE = frozenset(set(S) - TERMINAL - {S.ON_HOLD, S.DELIVERED, S.RETURNED})

#: Position of each state along the way to the customer. A scan whose target lies behind
#: the current position arrived late: it is kept in history and moves nothing.
PROGRESS = {
    S.CREATED: 0,
    S.PICKUP_SCHEDULED: 1,
    S.PICKED_UP: 2,
    S.AT_SHIPPING_CENTRE: 3,
    S.IN_TRANSIT: 4,
    S.AT_LOCAL_HUB: 5,
    S.OUT_FOR_DELIVERY: 6,
    S.DELIVERY_FAILED: 6,
    S.DELIVERED: 7,
    S.RETURNING_TO_SENDER: 8,
    S.RETURNED: 9,
    S.CLOSED: 10,
}


class Event(StrEnum):
    """Every type of shipment event, named once (past tense): the lifecycle's rows, and
    the events that record a change without moving the status."""

    CREATED = "created"
    PICKUP_SCHEDULED = "pickup_scheduled"
    PICKED_UP = "picked_up"
    ARRIVED_AT_CENTRE = "arrived_at_centre"
    DEPARTED_CENTRE = "departed_centre"
    ARRIVED_AT_HUB = "arrived_at_hub"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    DELIVERY_FAILED = "delivery_failed"
    RETURN_STARTED = "return_started"
    RETURNED = "returned"
    CLOSED = "closed"
    CANCELLED = "cancelled"
    HELD = "held"
    RELEASED = "released"
    LOST = "lost"
    ADDRESS_CHANGED = "address_changed"
    REROUTED = "rerouted"
    BACK_AT_HUB = "back_at_hub"
    RESCHEDULED = "rescheduled"
    PROMISE_CHANGED = "promise_changed"


E = Event


@dataclass(frozen=True)
class Transition:
    #: Verb the caller asks for.
    action: str
    sources: frozenset[Status]
    #: None for "release": back to the state the shipment was held from.
    target: Status | None
    #: Past-tense name of the event appended.
    event: Event
    #: Name of a guard in GUARDS that must hold.
    guard: str | None = None
    #: The caller must give a reason.
    needs_reason: bool = False
    #: A physical scan from a device: may arrive late and is then only recorded.
    scan: bool = False


def _t(action, sources, target, event, **kw) -> Transition:
    return Transition(action, frozenset(sources), target, event, **kw)


#: The lifecycle. Every status change in Waybill is one of these rows.
TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    _t("schedule_pickup", {S.CREATED}, S.PICKUP_SCHEDULED, E.PICKUP_SCHEDULED),
    _t("pick_up", {S.CREATED, S.PICKUP_SCHEDULED}, S.PICKED_UP, E.PICKED_UP, scan=True),
    _t("receive_at_centre", {S.PICKED_UP}, S.AT_SHIPPING_CENTRE, E.ARRIVED_AT_CENTRE, scan=True),
    _t("depart_linehaul", {S.AT_SHIPPING_CENTRE}, S.IN_TRANSIT, E.DEPARTED_CENTRE,
       guard="route_is_linehaul", scan=True),
    _t("receive_at_hub", {S.IN_TRANSIT}, S.AT_LOCAL_HUB, E.ARRIVED_AT_HUB, scan=True),
    _t("dispatch_for_delivery", {S.AT_SHIPPING_CENTRE, S.AT_LOCAL_HUB, S.DELIVERY_FAILED},
       S.OUT_FOR_DELIVERY, E.OUT_FOR_DELIVERY, guard="at_delivering_hub", scan=True),
    _t("deliver", {S.OUT_FOR_DELIVERY}, S.DELIVERED, E.DELIVERED, scan=True),
    _t("fail_attempt", {S.OUT_FOR_DELIVERY}, S.DELIVERY_FAILED, E.DELIVERY_FAILED,
       needs_reason=True, scan=True),
    _t("return_to_sender", {S.DELIVERY_FAILED}, S.RETURNING_TO_SENDER, E.RETURN_STARTED,
       needs_reason=True),
    _t("complete_return", {S.RETURNING_TO_SENDER}, S.RETURNED, E.RETURNED, scan=True),
    _t("close", {S.DELIVERED, S.RETURNED}, S.CLOSED, E.CLOSED, guard="fees_collected"),
    _t("cancel", {S.CREATED, S.PICKUP_SCHEDULED}, S.CANCELLED, E.CANCELLED, needs_reason=True),
    _t("hold", HOLDABLE, S.ON_HOLD, E.HELD, needs_reason=True),
    _t("release", {S.ON_HOLD}, None, E.RELEASED),
    _t("declare_lost", {S.ON_HOLD}, S.LOST, E.LOST, needs_reason=True),
)}

def N_(text: str) -> str:
    """Marks ``text`` for translation (``pybabel extract -k N_``) where it is defined;
    it is translated where it is shown."""
    return text


@dataclass(frozen=True)
class FailureReason:
    """Why a delivery attempt failed, as each reader is told it."""

    #: Staff (the console's timeline and lists).
    staff: str
    #: The driver's button.
    button: str
    #: The customer's message ("we tried ..., but {customer}").
    customer: str


#: The reasons a failed attempt may give (``fail_attempt`` needs one), named once.
FAILURE_REASONS: dict[str, FailureReason] = {
    "not_home": FailureReason(N_("nobody at home"), N_("Not at home"), N_("nobody was at home")),
    "refused": FailureReason(N_("refused by the customer"), N_("Refused"), N_("the parcel was refused")),
    "wrong_address": FailureReason(N_("wrong address"), N_("Wrong address"), N_("the address could not be found")),
    "access_restricted": FailureReason(N_("could not get in"), N_("No access"), N_("we could not get in")),
    "business_closed": FailureReason(N_("business closed"), N_("Business closed"), N_("the business was closed")),
    "unsafe": FailureReason(N_("unsafe to deliver"), N_("Unsafe"), N_("it was not safe to deliver")),
    "customer_rescheduled": FailureReason(N_("the customer asked for another day"), N_("Customer asked for another day"),
                                          N_("you asked for another day")),
    "damaged": FailureReason(N_("parcel damaged"), N_("Parcel damaged"), N_("the parcel was damaged")),
}

#: The event recorded when a shipment is created (not a transition: there is no source).
CREATED_EVENT = E.CREATED

#: The event recorded when the drop-off address changes (the status stays).
ADDRESS_CHANGED_EVENT = E.ADDRESS_CHANGED
#: The event recorded when another hub is to deliver (the status stays).
REROUTED_EVENT = E.REROUTED
#: The event recorded when a driver brings an undelivered parcel back to the hub.
BACK_AT_HUB_EVENT = E.BACK_AT_HUB
#: The event recorded when delivery is put off to a later day (the status stays).
RESCHEDULED_EVENT = E.RESCHEDULED
#: The promised day moved later after a slip (``orders.promises.revise``): not a transition.
PROMISE_CHANGED_EVENT = E.PROMISE_CHANGED
#: States in which delivery can be put off: anywhere before the driver has it.
RESCHEDULABLE = frozenset({S.CREATED, S.PICKUP_SCHEDULED, S.PICKED_UP, S.AT_SHIPPING_CENTRE,
                           S.IN_TRANSIT, S.AT_LOCAL_HUB, S.DELIVERY_FAILED})
#: Until the parcel leaves the shipping centre, the drop-off may move anywhere the network
#: reaches; after that only to an address the hub it is bound for delivers.
ADDRESS_CHANGE_ANY_HUB = frozenset({S.CREATED, S.PICKUP_SCHEDULED, S.PICKED_UP, S.AT_SHIPPING_CENTRE})
ADDRESS_CHANGE_SAME_HUB = frozenset({S.IN_TRANSIT, S.AT_LOCAL_HUB, S.DELIVERY_FAILED})


@dataclass(frozen=True)
class Facts:
    """What the guards may look at."""

    status: Status
    route: str
    failed_attempts: int
    max_attempts: int
    held_from: Status | None = None
    #: Set only by fee collection, which charges the partner before it closes.
    fees_collected: bool = False


def _route_is_linehaul(f: Facts) -> str | None:
    return None if f.route == "linehaul" else "the route is direct: no line-haul"


def _at_delivering_hub(f: Facts) -> str | None:
    if f.status is S.AT_SHIPPING_CENTRE and f.route != "direct":
        return "the shipment goes on a line-haul to its local hub first"
    if f.status is S.DELIVERY_FAILED and f.failed_attempts >= f.max_attempts:
        return f"{f.failed_attempts} failed attempts: the shipment goes back to the sender"
    return None


def _fees_collected(f: Facts) -> str | None:
    return None if f.fees_collected else "fees are collected first; the billing service closes"


#: Guards: each returns None when the transition may go ahead, else why not.
GUARDS = {
    "route_is_linehaul": _route_is_linehaul,
    "at_delivering_hub": _at_delivering_hub,
    "fees_collected": _fees_collected,
}


class TransitionError(Exception):
    """A transition that the lifecycle does not allow."""

    def __init__(self, action: str, status: str, message: str):
        self.action, self.status = action, status
        super().__init__(message)


@dataclass(frozen=True)
class Decision:
    transition: Transition
    #: The new status, or None when the event is only recorded (late scan).
    target: Status | None

    @property
    def applied(self) -> bool:
        return self.target is not None


def decide(facts: Facts, action: str, *, reason: str | None = None) -> Decision:
    """Decide what ``action`` does to a shipment in ``facts.status``.

    Returns the target state, or a record-only decision for a late scan; raises
    TransitionError for anything the table does not allow.
    """
    t = TRANSITIONS.get(action)
    if t is None:
        raise TransitionError(action, facts.status, f"unknown action {action!r}")
    if t.needs_reason and not (reason and reason.strip()):
        raise TransitionError(action, facts.status, f"{action} needs a reason")
    if facts.status in t.sources:
        if t.guard:
            why_not = GUARDS[t.guard](facts)
            if why_not:
                raise TransitionError(action, facts.status, f"cannot {action}: {why_not}")
        if t.target is None:
            if facts.held_from is None:
                raise TransitionError(action, facts.status, "no state to release to")
            return Decision(t, facts.held_from)
        return Decision(t, t.target)
    if t.scan and is_late(facts, t):
        return Decision(t, None)
    raise TransitionError(
        action, facts.status, f"cannot {action} a shipment that is {facts.status.value}"
    )


def is_late(facts: Facts, t: Transition) -> bool:
    """A scan is late when the shipment has already gone past the scan's state."""
    current = facts.held_from if facts.status is S.ON_HOLD else facts.status
    if current not in PROGRESS or t.target not in PROGRESS:
        return False
    return PROGRESS[t.target] < PROGRESS[current]


#: Internal state -> the public vocabulary partners and customers see.
PUBLIC_STATUS = {
    S.CREATED: "pre_transit",
    S.PICKUP_SCHEDULED: "pre_transit",
    S.PICKED_UP: "in_transit",
    S.AT_SHIPPING_CENTRE: "in_transit",
    S.IN_TRANSIT: "in_transit",
    S.AT_LOCAL_HUB: "in_transit",
    S.OUT_FOR_DELIVERY: "out_for_delivery",
    S.DELIVERED: "delivered",
    S.DELIVERY_FAILED: "failed_attempt",
    S.RETURNING_TO_SENDER: "returned",
    S.RETURNED: "returned",
    S.CANCELLED: "cancelled",
    S.ON_HOLD: "exception",
    S.LOST: "exception",
}
PUBLIC_VOCABULARY = (
    "pre_transit", "in_transit", "out_for_delivery", "delivered", "failed_attempt",
    "returned", "cancelled", "exception",
)


def public_status(status: str, outcome: str | None = None) -> str:
    """The public status; a closed shipment keeps the status of how it ended."""
    status = Status(status)
    if status is S.CLOSED:
        return "returned" if outcome == "returned" else "delivered"
    return PUBLIC_STATUS[status]


def mermaid_diagram() -> str:
    """The lifecycle as a Mermaid state diagram, generated from TRANSITIONS."""
    lines = ["stateDiagram-v2", f"    [*] --> {S.CREATED.value}"]
    for t in TRANSITIONS.values():
        label = t.action + (f" [{t.guard}]" if t.guard else "")
        for source in sorted(s.value for s in t.sources):
            # "release" goes back to the state the hold came from: one edge per such state.
            targets = [t.target.value] if t.target else sorted(h.value for h in HOLDABLE)
            for target in targets:
                lines.append(f"    {source} --> {target}: {label}")
    for s in sorted(x.value for x in TERMINAL):
        lines.append(f"    {s} --> [*]")
    return "\n".join(lines)


if __name__ == "__main__":
    print(mermaid_diagram())
