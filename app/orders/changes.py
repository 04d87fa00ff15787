"""Changes to an order after intake: the drop-off address."""
from __future__ import annotations


from sqlalchemy.orm import Session

from app import clock
from app.crm.models import Partner
from app.hubs.models import Hub
from app.hubs.routing import NotServiceable, load_network, route_via
from app.orders import lifecycle, promises
from app.orders.intake import AddressIn, IntakeError, ParcelIn, address_row, insert_address, price
from app.orders.models import Address, Order
from app.orders.shipments import lock_shipments, record_change


#: What to do when the new address belongs to another hub: staff reroute it themselves
#: (keyed False), a partner asks the courier to (keyed True).
REROUTE_ADVICE = {False: "reroute it to that hub first (a dispatcher's action, below)",
                  True: "ask Waybill to reroute it"}


class ChangeRefused(Exception):
    """The order can no longer change this way; the message says why."""


def change_dropoff_address(session: Session, partner: Partner, order: Order, address: AddressIn, *,
                           actor: str, reason: str | None = None) -> None:
    """Move an order's drop-off to ``address``: placed, routed and priced again with the
    rate card of the order's day (so the fee is what a quote would have said then).

    Allowed while the parcel has not left the shipping centre; afterwards only to an
    address the hub it is bound for delivers. Raises IntakeError for an address the
    network cannot take and ChangeRefused for a shipment past changing. Flushes."""
    [shipment] = lock_shipments(session, [order.shipment.id])
    status = shipment.standing
    if status not in lifecycle.ADDRESS_CHANGE_ANY_HUB | lifecycle.ADDRESS_CHANGE_SAME_HUB:
        raise ChangeRefused(f"the shipment is {shipment.status}: its address can no longer change")
    old = session.get(Address, order.dropoff_address_id)
    pickup = order.pickup_location.address
    parcels = [ParcelIn(weight_grams=p.weight_grams, length_cm=p.length_cm, width_cm=p.width_cm,
                        height_cm=p.height_cm, declared_value_amount=p.declared_value_amount or 0,
                        declared_value_currency=p.declared_value_currency) for p in order.parcels]
    origin = AddressIn(line1=pickup.line1, city=pickup.city, country=pickup.country,
                       lat=pickup.lat, lon=pickup.lon)
    try:
        priced = price(session, partner, origin, address, parcels, order.service_level,
                       now=order.created_at, cod_amount=order.cod_amount or 0)
    except IntakeError as exc:
        for error in exc.errors:  # the caller's field is the new address
            error["field"] = error["field"].replace("dropoff.address", "address")
        raise
    plan = priced.plan
    bound_for = session.get(Hub, shipment.delivery_hub_id).code
    if status in lifecycle.ADDRESS_CHANGE_SAME_HUB and plan.delivery_hub.id != shipment.delivery_hub_id:
        raise ChangeRefused(
            f"the parcel has left the shipping centre for hub {bound_for}; the new address is "
            f"delivered by {plan.delivery_hub.code}: {REROUTE_ADVICE[actor.partition(':')[0] == 'partner']}")
    order.dropoff_address_id = insert_address(session.connection(),
                                               address_row(address, priced.places["dropoff"]))
    before = {"address": _summary(old), "fee": shipment.quoted_fee_amount, "hub": bound_for}
    shipment.route, shipment.delivery_hub_id = plan.kind, plan.delivery_hub.id
    shipment.planned_legs, shipment.distance_km = list(plan.legs), plan.distance_km
    shipment.quoted_fee_amount, shipment.quote = priced.fee.amount, priced.rate.breakdown
    now = clock.now()
    order.updated_at = shipment.updated_at = now
    record_change(session, shipment, lifecycle.ADDRESS_CHANGED_EVENT, actor=actor, reason=reason, data={
        "from": before,
        "to": {"address": _summary(address), "fee": priced.fee.amount, "hub": plan.delivery_hub.code}})
    promises.revise(session, shipment, "address_changed", actor=actor)
    session.flush()


def _summary(a) -> str:
    return ", ".join(p for p in (a.line1, a.line2, a.district, a.city, a.country) if p)



def reroute(session: Session, shipment_id: int, hub_code: str, *, actor: str, reason: str) -> None:
    """Deliver from another hub that reaches the drop-off (an overloaded hub, a closed
    road), while the parcel is still at or before its centre. The fee stays: it is priced
    on the distance from pickup to drop-off, which does not change. Raises ChangeRefused."""
    [shipment] = lock_shipments(session, [shipment_id])
    status = shipment.standing
    if status not in lifecycle.ADDRESS_CHANGE_ANY_HUB:
        raise ChangeRefused(f"the shipment is {shipment.status}: it has left its centre and can no longer be rerouted")
    if not reason or not reason.strip():
        raise ChangeRefused("a reroute needs a reason")
    order = session.get(Order, shipment.order_id)
    dropoff = session.get(Address, order.dropoff_address_id)
    before = session.get(Hub, shipment.delivery_hub_id).code
    try:
        plan = route_via(load_network(session), shipment.centre_id, (dropoff.lat, dropoff.lon),
                         shipment.distance_km, hub_code)
    except NotServiceable as exc:
        raise ChangeRefused(str(exc)) from None
    if plan.delivery_hub.id == shipment.delivery_hub_id:
        raise ChangeRefused(f"the shipment is already delivered from {hub_code}")
    shipment.delivery_hub_id, shipment.route, shipment.planned_legs = plan.delivery_hub.id, plan.kind, list(plan.legs)
    shipment.updated_at = order.updated_at = clock.now()
    record_change(session, shipment, lifecycle.REROUTED_EVENT, actor=actor, reason=reason.strip(),
                  data={"from": before, "to": plan.delivery_hub.code})
    promises.revise(session, shipment, "rerouted", actor=actor)
    session.flush()
