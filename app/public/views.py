"""The public tracking page, ``/track/<number>``: no login, for the phone in a customer's
hand. It shows where the parcel is and when it is due, and of the people only the
recipient's first name and the destination city."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from markupsafe import Markup
from sqlalchemy import select

from app import clock
from app.api.ratelimit import limiter
from app.crm.models import Partner
from app.db import db
from app.hubs.models import Hub
from app.orders.models import Address, Order, Shipment, ShipmentEvent
from app.orders.lifecycle import Event as E, public_status
from app.orders.tracking import is_valid_tracking_number

bp = Blueprint("public", __name__, template_folder="templates", static_folder="static",
               static_url_path="/public-static")

HEADLINES = {
    "pre_transit": "Order received", "in_transit": "On its way", "out_for_delivery": "Out for delivery today",
    "delivered": "Delivered", "failed_attempt": "We missed you", "returned": "Returned to the sender",
    "cancelled": "Cancelled", "exception": "Delayed: we are looking into it",
}
#: What a customer reads for each event; events not listed are not shown.
EVENT_TEXT = {
    E.CREATED: "The shop handed us your order", E.PICKUP_SCHEDULED: "Pickup from the shop scheduled",
    E.PICKED_UP: "Picked up from the shop", E.ARRIVED_AT_CENTRE: "At our sorting centre",
    E.DEPARTED_CENTRE: "Left the sorting centre", E.ARRIVED_AT_HUB: "At your local delivery hub",
    E.OUT_FOR_DELIVERY: "Out for delivery", E.DELIVERED: "Delivered",
    E.DELIVERY_FAILED: "Delivery attempt missed; we will try again", E.RETURN_STARTED: "On its way back to the shop",
    E.RETURNED: "Returned to the shop", E.CANCELLED: "Order cancelled", E.HELD: "Held for a check",
    E.RELEASED: "On its way again", E.LOST: "Missing: our team is searching for it",
    E.ADDRESS_CHANGED: "Delivery address updated",
}


DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


@bp.get("/docs")
def api_guide():
    """The partner API guide (docs/API.md), with a link to the reference."""
    text = (DOCS / "API.md").read_text(encoding="utf-8")
    return render_template("public/guide.html", body=Markup(_markdown().render(text)))


@lru_cache(maxsize=1)
def _markdown():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).enable("table")


@bp.get("/track")
def find():
    number = request.args.get("number", "").strip().upper().replace(" ", "")
    if number:
        return redirect(url_for("public.track", number=number))
    return render_template("public/track.html", shipment=None, number="")


@bp.get("/track/<number>")
@limiter.limit(lambda: current_app.config["WAYBILL_TRACK_RATE_LIMIT"])
def track(number: str):
    """A parcel's public page. Limited per client address: a tracking number is the only
    key to it, so numbers must not be tried by the thousand."""
    number = number.strip().upper()
    found = _tracking(number) if is_valid_tracking_number(number) else None
    if found is None:
        body = render_template("public/track.html", shipment=None, number=number, not_found=True)
        return body, 404
    response = current_app.make_response(render_template("public/track.html", shipment=found, number=number))
    response.headers["Cache-Control"] = "private, max-age=60"
    return response


def _tracking(number: str) -> dict | None:
    session = db.session
    row = session.execute(
        select(Shipment, Order.recipient_name, Address.city, Partner.name)
        .join(Order, Order.id == Shipment.order_id).join(Address, Address.id == Order.dropoff_address_id)
        .join(Partner, Partner.id == Shipment.partner_id)
        .where(Shipment.tracking_number == number)).first()
    if row is None:
        return None
    shipment, recipient, city, shop = row
    tz = clock.network_zone()
    hub_cities = dict(session.execute(select(Hub.id, Hub.city)).all())
    events = session.scalars(select(ShipmentEvent).where(
        ShipmentEvent.shipment_id == shipment.id, ShipmentEvent.applied.is_(True))
        .order_by(ShipmentEvent.seq.desc()))
    status = public_status(shipment.status, shipment.outcome)
    return {
        "tracking_number": shipment.tracking_number, "status": status, "headline": HEADLINES[status],
        "promised_date": shipment.promised_date, "first_name": (recipient.split() or [""])[0],
        "city": city, "shop": shop, "done": status in ("delivered", "returned", "cancelled"),
        "events": [{"text": EVENT_TEXT[e.type], "at": _local(e.device_time or e.server_time, tz),
                    "place": hub_cities.get(e.hub_id)} for e in events if e.type in EVENT_TEXT],
    }


def _local(value: datetime, tz: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(tz)
