"""What a shipment's statuses, service levels and events are called on a page, in the
reader's language (the codes stay English in the data and the API)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: The public statuses (``lifecycle.PUBLIC_STATUS``): what partners and customers see.
PUBLIC_STATUS_WORDS = {
    "pre_transit": _l("not picked up yet"), "in_transit": _l("in transit"), "out_for_delivery": _l("out for delivery"),
    "delivered": _l("delivered"), "failed_attempt": _l("failed attempt"), "returned": _l("returned"),
    "cancelled": _l("cancelled"), "exception": _l("exception")}
#: The lifecycle's own statuses (``lifecycle.Status``): what staff see.
STATUS_WORDS = {
    "created": _l("created"), "pickup_scheduled": _l("pickup scheduled"), "picked_up": _l("picked up"),
    "at_shipping_centre": _l("at shipping centre"), "in_transit": _l("in transit"),
    "at_local_hub": _l("at local hub"), "out_for_delivery": _l("out for delivery"), "delivered": _l("delivered"),
    "delivery_failed": _l("delivery failed"), "returning_to_sender": _l("returning to sender"),
    "returned": _l("returned"), "closed": _l("closed"), "cancelled": _l("cancelled"), "on_hold": _l("on hold"),
    "lost": _l("lost")}
LEVEL_WORDS = {"standard": _l("standard"), "express": _l("express"), "same_day": _l("same day")}
EVENT_WORDS = {
    "created": _l("Order created"), "pickup_scheduled": _l("Pickup scheduled"), "picked_up": _l("Picked up"),
    "arrived_at_centre": _l("At the sorting centre"), "departed_centre": _l("Left the sorting centre"),
    "arrived_at_hub": _l("At the delivery hub"), "out_for_delivery": _l("Out for delivery"),
    "delivered": _l("Delivered"), "delivery_failed": _l("Delivery attempt failed"),
    "return_started": _l("Return started"), "returned": _l("Returned to you"), "closed": _l("Closed"),
    "cancelled": _l("Cancelled"), "held": _l("Held for a check"), "released": _l("Released"),
    "lost": _l("Declared lost"), "address_changed": _l("Address changed"), "rerouted": _l("Rerouted"),
    "back_at_hub": _l("Back at the hub"), "rescheduled": _l("Rescheduled"),
    "promise_changed": _l("New delivery day"),
}


def named(code: str | None, words: dict) -> str:
    """``code`` as ``words`` calls it, else the code with spaces ("on_hold" -> "on hold")."""
    if code is None:
        return ""
    return str(words[code]) if code in words else str(code).replace("_", " ")
