"""The public tracking page, ``/track/<number>``: no login, for the phone in a customer's
hand. It shows where the parcel is and when it is due, and of the people only the
recipient's first name and the destination city."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import select

from app import clock
from app.api.ratelimit import limiter
from app.crm import campaigns, cases, csat, pipeline
from app.crm.models import Partner
from app.db import db
from app.hubs.models import Hub
from app.orders.lifecycle import Event as E
from app.orders.lifecycle import public_status
from app.orders.models import Address, Order, Shipment, ShipmentEvent
from app.orders.promise_words import explain
from app.orders.tracking import is_valid_tracking_number
from app.words import given_name

bp = Blueprint("public", __name__, template_folder="templates", static_folder="static",
               static_url_path="/public-static")

HEADLINES = {
    "pre_transit": _l("Order received"), "in_transit": _l("On its way"),
    "out_for_delivery": _l("Out for delivery today"), "delivered": _l("Delivered"),
    "failed_attempt": _l("We missed you"), "returned": _l("Returned to the sender"),
    "cancelled": _l("Cancelled"), "exception": _l("Delayed: we are looking into it"),
}
#: What a customer reads for each event; events not listed are not shown.
EVENT_TEXT = {
    E.CREATED: _l("The shop handed us your order"), E.PICKUP_SCHEDULED: _l("Pickup from the shop scheduled"),
    E.PICKED_UP: _l("Picked up from the shop"), E.ARRIVED_AT_CENTRE: _l("At our sorting centre"),
    E.DEPARTED_CENTRE: _l("Left the sorting centre"), E.ARRIVED_AT_HUB: _l("At your local delivery hub"),
    E.OUT_FOR_DELIVERY: _l("Out for delivery"), E.DELIVERED: _l("Delivered"),
    E.DELIVERY_FAILED: _l("Delivery attempt missed; we will try again"),
    E.RETURN_STARTED: _l("On its way back to the shop"), E.RETURNED: _l("Returned to the shop"),
    E.CANCELLED: _l("Order cancelled"), E.HELD: _l("Held for a check"), E.RELEASED: _l("On its way again"),
    E.LOST: _l("Missing: our team is searching for it"), E.ADDRESS_CHANGED: _l("Delivery address updated"),
    E.PROMISE_CHANGED: _l("New delivery day: we are sorry for the wait"),
}
#: The problems a customer may report from the tracking page, in their words.
PROBLEMS = {
    "late": _l("It is late"), "damaged": _l("It arrived damaged"), "wrong_address": _l("The address is wrong"),
    "failed_delivery": _l("The driver did not come, or did not deliver"),
    "cod_dispute": _l("I was asked for the wrong amount"), "return_request": _l("I want to send it back"),
    "feedback": _l("Something else"),
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
    response = current_app.make_response(render_template("public/track.html", shipment=found, number=number,
                                                          problem_types=list(PROBLEMS.items())))
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
        "promised_date": shipment.promised_date, "promise_reason": explain(shipment.promise_basis),
        "given_name": given_name(recipient),
        "city": city, "shop": shop, "done": status in ("delivered", "returned", "cancelled"),
        "events": [{"text": EVENT_TEXT[e.type], "at": _local(e.device_time or e.server_time, tz),
                    "place": hub_cities.get(e.hub_id)} for e in events if e.type in EVENT_TEXT],
    }


def _local(value: datetime, tz: ZoneInfo) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(tz)


#: A wrong guess of a phone's last digits: this many per parcel and client address an hour.
PROBLEM_RATE_LIMIT = "5 per hour"


@bp.post("/track/<number>/problem")
@limiter.limit(PROBLEM_RATE_LIMIT)
def report_problem(number: str):
    """The customer reports a problem with their parcel: a case, opened only for someone
    who holds both the parcel's number and the last digits of its recipient's phone."""
    number = number.strip().upper()
    form = request.form
    session = db.session
    row = session.execute(select(Shipment.id, Order.recipient_phone, Order.recipient_name)
                          .join(Order, Order.id == Shipment.order_id)
                          .where(Shipment.tracking_number == number)).first() if is_valid_tracking_number(number) \
        else None
    back = redirect(url_for("public.track", number=number) + "#problem")
    end = "".join(ch for ch in form.get("phone_end", "") if ch.isdigit())
    if row is None or len(end) != 4 or not row.recipient_phone.endswith(end):
        flash(_("Those are not the last digits of the phone this parcel is for."))
        return back
    type_ = form.get("type", "")
    message = (form.get("message") or "").strip()
    if type_ not in PROBLEMS or not message:
        flash(_("Say what is wrong, and tell us what happened."))
        return back
    email = (form.get("email") or "").strip().lower() or None
    if email and ("@" not in email or len(email) > 254):
        flash(_("That e-mail address does not look right."))
        return back
    case = cases.open_case(session, type_, "", message[:2000], opened_via="tracking", shipment_id=row.id,
                           author_name=row.recipient_name, reporter_name=row.recipient_name, reporter_email=email)
    session.commit()
    flash(_("Thank you: we opened case #%(id)s and will answer by %(when)s.", id=case.id,
            when=format_datetime(case.first_response_due, "EEEE d MMMM, HH:mm")))
    return back


@bp.route("/ship-with-us", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def ship_with_us():
    """The public "ship with us" form: a lead for the sales team (source "web")."""
    form = request.form if request.method == "POST" else {}
    if request.method == "POST":
        raw = (form.get("monthly_parcels") or "0").replace(",", "").replace(".", "").strip() or "0"
        try:
            if not (form.get("company") or "").strip() or not (form.get("contact_name") or "").strip():
                raise pipeline.PipelineError(_("give your shop's name and yours"))
            if not (form.get("phone") or "").strip() and not (form.get("email") or "").strip():
                raise pipeline.PipelineError(_("give a phone number or an e-mail address to reach you"))
            if not raw.isdigit():
                raise pipeline.PipelineError(_("parcels a month is a whole number"))
            lead = pipeline.add_lead(db.session, company=form.get("company", ""),
                                     contact_name=form.get("contact_name", ""), email=form.get("email"),
                                     phone=form.get("phone"), source="web", monthly_parcels=int(raw),
                                     note=form.get("note"), currency=current_app.config["WAYBILL_CURRENCY"])
        except pipeline.PipelineError as exc:
            db.session.rollback()
            flash(_("Not sent: %(why)s", why=str(exc)))
            return render_template("public/ship.html", form=form, done=False), 422
        db.session.commit()
        flash(_("Thank you, %(name)s: we will call you back within a working day.",
                name=given_name(lead.contact_name)))
        return render_template("public/ship.html", form={}, done=True)
    return render_template("public/ship.html", form=form, done=False)


def _feedback_shipment(token: str):
    shipment_id = csat.shipment_of(current_app.config["SECRET_KEY"], token)
    row = db.session.execute(select(Shipment.id, Shipment.tracking_number, Shipment.partner_id, Shipment.outcome,
                                    Order.customer_id, Partner.name)
                             .join(Order, Order.id == Shipment.order_id).join(Partner, Partner.id == Shipment.partner_id)
                             .where(Shipment.id == shipment_id)).first() if shipment_id else None
    if row is None or row.outcome not in (None, "delivered"):
        abort(404)  # a returned parcel was not delivered: nothing to score
    return row


@bp.route("/feedback/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])
def feedback(token: str):
    """The delivered parcel's score: one tap on 1-5, then a comment if they like."""
    row = _feedback_shipment(token)
    if request.method == "POST":
        raw = request.form.get("score", "")
        if raw.isdigit() and int(raw) in csat.SCORES:
            csat.record(db.session, row.id, partner_id=row.partner_id, customer_id=row.customer_id, score=int(raw),
                        comment=request.form.get("comment"))
            db.session.commit()
            flash(_("Thank you: your score helps us do better."))
        return redirect(url_for("public.feedback", token=token))
    return render_template("public/feedback.html", tracking_number=row.tracking_number, shop=row.name,
                           response=csat.response_of(db.session, row.id), scores=csat.SCORES)


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@limiter.limit("30 per hour", methods=["POST"])
def unsubscribe(token: str):
    """A campaign's "no more offers" link: the customer confirms, consent is withdrawn."""
    customer_id = campaigns.customer_of_token(current_app.config["SECRET_KEY"], token)
    if customer_id is None:
        abort(404)
    if request.method == "POST":
        if campaigns.unsubscribe(db.session, customer_id) is None:
            abort(404)
        db.session.commit()
        flash(_("Done: you will get no more offers from us. Messages about your parcels still come."))
        return redirect(url_for("public.unsubscribe", token=token))
    return render_template("public/unsubscribe.html")
