"""Console pages: the dashboard, shipments (search and one shipment whole), the audit log."""
from __future__ import annotations

import base64

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_from_directory, url_for
from flask_login import current_user, login_required

from app.auth import services as accounts
from app.auth.models import STAFF_ROLES
from app.auth.web import roles_required
from app.billing.fees import money_of
from app.billing.money import Money
from app.crm.notifications import notifications_of
from app.crm.models import Partner
from app.db import db
from app.hubs.models import Hub
from app.orders import console_reads
from app.orders.lifecycle import (
    ADDRESS_CHANGE_ANY_HUB,
    ADDRESS_CHANGE_SAME_HUB,
    PUBLIC_STATUS,
    RESCHEDULABLE,
    TRANSITIONS,
    Status,
)
from app.orders.models import Order, Shipment
from app.crm import services as crm
from app.hubs.services import all_hubs, scan_back, scan_in
from app.webhooks.services import disabled_endpoints
from app.hubs.routing import hubs_able_to_deliver, load_network
from app.orders.changes import ChangeRefused, change_dropoff_address, reroute
from app.orders.intake import AddressIn, IntakeError
from app.orders.shipments import TransitionError, get_by_tracking_number, history, lock_shipments, transition
from app.delivery.planning import PlanningError, load_onto_van, reschedule
from app.delivery.services import attempts_of, proof_for
from app.hubs.bags import BagError, open_bags, sort_to_bag

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")


@bp.before_request
@login_required
def _staff_only():
    """Every console page: staff only (drivers and partners' people get 403)."""
    if current_user.role not in STAFF_ROLES:
        abort(403)


def local_tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["WAYBILL_TIMEZONE"])


@bp.app_template_filter("b64")
def base64_filter(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@bp.app_template_global()
def format_money(amount: int, currency: str) -> str:
    return str(Money(amount, currency))


def local_today() -> date:
    return datetime.now(timezone.utc).astimezone(local_tz()).date()


def scope_hub() -> int | None:
    """A hub operator sees their hub's work; everyone else the whole network."""
    return current_user.hub_id if current_user.role == "hub_operator" else None


def hubs_by_id() -> dict[int, Hub]:
    return {h.id: h for h in sorted(all_hubs(db.session), key=lambda h: h.code)}


@bp.get("/")
def dashboard():
    hubs = hubs_by_id()
    figures = console_reads.dashboard(db.session, today=local_today(), tz=local_tz(), hub_id=scope_hub())
    disabled = disabled_endpoints(db.session)
    partners = {p.id: p.name for p in crm.all_partners(db.session)}
    peak = max((n for _, n in figures.volume), default=0) or 1
    return render_template("console/dashboard.html", f=figures, hubs=hubs, statuses=[s.value for s in Status],
                           disabled=disabled, partners=partners, peak=peak, today=local_today())


@bp.get("/shipments")
def shipments():
    args = request.args
    hub_id = scope_hub() or args.get("hub", type=int)
    found, last = console_reads.search(
        db.session, q=args.get("q", ""), status=args.get("status") or None, hub_id=hub_id,
        partner_id=args.get("partner", type=int), created_from=_date(args.get("from")),
        created_to=_date(args.get("to")), late=args.get("late") == "1", today=local_today(),
        before_id=args.get("before", type=int), tz=local_tz())
    if len(found) == 1 and args.get("q") and not last and args.get("jump", "1") == "1":
        return _redirect_to(found[0].id)
    partners = crm.all_partners(db.session)
    return render_template("console/shipments.html", found=found, last=last, hubs=hubs_by_id(), partners=partners,
                           statuses=[s.value for s in Status], args=args, scoped=scope_hub() is not None)


def _redirect_to(shipment_id: int):
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _visible_shipment(shipment_id: int) -> Shipment:
    """The shipment, if this user may see it (a hub operator: their hub's); else 404."""
    found = db.session.get(Shipment, shipment_id)
    if found is None or (scope_hub() and found.delivery_hub_id != scope_hub()
                         and found.centre_id != scope_hub()):
        abort(404)
    return found


@bp.get("/shipments/<int:shipment_id>")
def shipment(shipment_id: int):
    found = _visible_shipment(shipment_id)
    order = db.session.get(Order, found.order_id)
    events = history(db.session, found.id)
    hubs = hubs_by_id()
    on_route = [hubs[found.centre_id]] + ([hubs[found.delivery_hub_id]] if found.route == "linehaul" else [])
    pickup = order.pickup_location.address
    dropoff = order.dropoff_address
    route = [[pickup.lat, pickup.lon]] + [[h.lat, h.lon] for h in on_route] + [[dropoff.lat, dropoff.lon]]
    tz = local_tz()
    return render_template("console/shipment.html", s=found, order=order, events=events, hubs=hubs_by_id(),
                           partner=db.session.get(Partner, found.partner_id), tz=tz,
                           public=PUBLIC_STATUS.get(Status(found.status), "delivered"),
                           actions=[(a, ACTIONS[a], TRANSITIONS[a].needs_reason) for a in _allowed_actions(found)],
                           reroute_to=([h.code for h in hubs_able_to_deliver(
                               load_network(db.session), found.centre_id, (order.dropoff_address.lat, order.dropoff_address.lon))
                               if h.id != found.delivery_hub_id]
                               if current_user.role in ("admin", "dispatcher")
                               and Status(found.held_from or found.status) in ADDRESS_CHANGE_ANY_HUB else []),
                           can_change_address=(current_user.role in ACTING_ROLES and Status(found.held_from or found.status)
                                               in ADDRESS_CHANGE_ANY_HUB | ADDRESS_CHANGE_SAME_HUB),
                           map_hubs=_map_hubs(on_route), route=route,
                           actual=[[e.lat, e.lon] for e in events if e.applied and e.lat is not None],
                           can_reschedule=(current_user.role in ACTING_ROLES
                                           and Status(found.held_from or found.status) in RESCHEDULABLE),
                           tomorrow=local_today() + timedelta(days=1),
                           notifications=notifications_of(db.session, found.id),
                           proof=proof_for(db.session, found.id), attempts=attempts_of(db.session, found.id),
                           money=money_of(db.session, found.id))


#: What the console may do to a shipment from its page, and who may.
ACTIONS = {"hold": "Put on hold", "release": "Release", "cancel": "Cancel"}
ACTING_ROLES = ("admin", "dispatcher", "hub_operator")


def _allowed_actions(shipment: Shipment) -> list[str]:
    if current_user.role not in ACTING_ROLES:
        return []
    status = Status(shipment.status)
    return [a for a in ACTIONS if status in TRANSITIONS[a].sources]


@bp.post("/shipments/<int:shipment_id>/actions")
@roles_required(*ACTING_ROLES)
def shipment_action(shipment_id: int):
    found = _visible_shipment(shipment_id)
    action, reason = request.form.get("action", ""), request.form.get("reason", "").strip()
    if action not in ACTIONS:
        abort(400)
    try:
        transition(db.session, found.id, action, actor=f"user:{current_user.id}", reason=reason or None)
    except TransitionError as exc:
        db.session.rollback()
        flash(f"Not done: {exc}")
    else:
        accounts.audit(db.session, current_user, f"shipment.{TRANSITIONS[action].event}", object_type="shipment",
                       object_id=found.id, details={"reason": reason} if reason else None, ip=request.remote_addr)
        db.session.commit()
        flash(f"{ACTIONS[action]}: done.")
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<int:shipment_id>/address")
@roles_required(*ACTING_ROLES)
def change_address(shipment_id: int):
    """The drop-off address, changed from the console by the same service as the API."""
    found = _visible_shipment(shipment_id)
    form = request.form
    order = db.session.get(Order, found.order_id)

    def number(name):
        try:
            return float(form[name]) if form.get(name, "").strip() else None
        except ValueError:
            return None

    address = AddressIn(line1=form.get("line1", "").strip(), line2=form.get("line2", "").strip(),
                        district=form.get("district", "").strip(), city=form.get("city", "").strip(),
                        country=form.get("country", "VN").strip().upper() or "VN",
                        lat=number("lat"), lon=number("lon"))
    reason = form.get("reason", "").strip() or None
    partner = db.session.get(Partner, found.partner_id)
    try:
        change_dropoff_address(db.session, partner, order, address, actor=f"user:{current_user.id}", reason=reason)
    except (IntakeError, ChangeRefused) as exc:
        db.session.rollback()
        flash(f"Address not changed: {exc}")
    else:
        accounts.audit(db.session, current_user, "order.address_changed", object_type="shipment",
                       object_id=found.id, details={"to": address.line1, "reason": reason}, ip=request.remote_addr)
        db.session.commit()
        flash("Address changed: routed and priced again.")
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<int:shipment_id>/reroute")
@roles_required("admin", "dispatcher")
def reroute_shipment(shipment_id: int):
    found = _visible_shipment(shipment_id)
    hub_code, reason = request.form.get("hub", ""), request.form.get("reason", "")
    try:
        reroute(db.session, found.id, hub_code, actor=f"user:{current_user.id}", reason=reason)
    except ChangeRefused as exc:
        db.session.rollback()
        flash(f"Not rerouted: {exc}")
    else:
        accounts.audit(db.session, current_user, "shipment.rerouted", object_type="shipment", object_id=found.id,
                       details={"to": hub_code, "reason": reason.strip()}, ip=request.remote_addr)
        db.session.commit()
        flash(f"Rerouted: {hub_code} delivers it now.")
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<int:shipment_id>/reschedule")
@roles_required(*ACTING_ROLES)
def reschedule_shipment(shipment_id: int):
    """Put delivery off to a later day (the customer asked), with a reason."""
    found = _visible_shipment(shipment_id)
    day, reason = _date(request.form.get("not_before")), request.form.get("reason", "")
    try:
        if day is None:
            raise PlanningError("give the day, as YYYY-MM-DD")
        reschedule(db.session, found.id, day, today=local_today(), actor=f"user:{current_user.id}", reason=reason)
    except PlanningError as exc:
        db.session.rollback()
        flash(f"Not rescheduled: {exc}")
    else:
        accounts.audit(db.session, current_user, "shipment.rescheduled", object_type="shipment", object_id=found.id,
                       details={"not_before": day.isoformat(), "reason": reason.strip()}, ip=request.remote_addr)
        db.session.commit()
        flash(f"Rescheduled: not delivered before {day:%a %d %b %Y}.")
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.get("/hubs")
def hubs():
    all_hubs = [h for h in hubs_by_id().values() if not scope_hub() or h.id == scope_hub()]
    return render_template("console/hubs.html", hubs=all_hubs, map_hubs=_map_hubs(all_hubs),
                           work=console_reads.hub_work(db.session, hubs_by_id().values()))


def _map_hubs(hubs) -> list[dict]:
    return [{"code": h.code, "name": h.name, "kind": h.kind.value, "lat": h.lat, "lon": h.lon,
             "radius_km": h.delivery_radius_km} for h in hubs]


def hub_for_work(hub_id: int) -> Hub:
    hub = db.session.get(Hub, hub_id)
    if hub is None:
        abort(404)
    if scope_hub() and hub.id != scope_hub():
        abort(403)
    return hub


#: What the scan station does with a scan: receive, sort into a bag (centres), load a van.
SCAN_MODES = {"in": "Scan in", "bag": "Sort to bag", "out": "Scan out to a van"}


@bp.route("/hubs/<int:hub_id>/scan", methods=["GET", "POST"])
@roles_required(*ACTING_ROLES)
def scan_station(hub_id: int):
    """A hub's scan station: a barcode scanner types the tracking number and Enter."""
    hub = hub_for_work(hub_id)
    mode = request.values.get("mode", "in")
    if mode not in SCAN_MODES or (mode == "bag" and not hub.is_centre):
        mode = "in"
    result = None
    if request.method == "POST":
        result = {"in": _scan_in, "bag": _sort_to_bag, "out": _scan_out}[mode](hub, request.form.get("number", ""))
    tz = local_tz()
    modes = {m: label for m, label in SCAN_MODES.items() if m != "bag" or hub.is_centre}
    return render_template("console/scan.html", hub=hub, result=result, tz=tz, mode=mode, modes=modes,
                           bags=open_bags(db.session, hub.id) if mode == "bag" else [], hubs=hubs_by_id(),
                           recent=console_reads.recent_scans(db.session, hub.id))


def _scanned(number: str) -> tuple[str, Shipment | None]:
    number = number.strip().upper()
    return number, (get_by_tracking_number(db.session, number) if number else None)


def _sort_to_bag(hub: Hub, number: str) -> dict:
    number, found = _scanned(number)
    if found is None:
        return {"ok": False, "number": number or "(nothing)", "message": "unknown tracking number"}
    [locked] = lock_shipments(db.session, [found.id])
    try:
        bag = sort_to_bag(db.session, hub, locked, actor=f"user:{current_user.id}")
    except BagError as exc:
        db.session.rollback()
        return {"ok": False, "number": number, "message": f"not bagged: {exc}", "shipment_id": found.id}
    to = db.session.get(Hub, bag.to_hub_id)
    db.session.commit()
    return {"ok": True, "number": number, "shipment_id": found.id,
            "message": f"into bag {bag.code} for {to.code} ({len(bag.items)} in the bag)"}


def _scan_out(hub: Hub, number: str) -> dict:
    number, found = _scanned(number)
    if found is None:
        return {"ok": False, "number": number or "(nothing)", "message": "unknown tracking number"}
    try:
        loaded = load_onto_van(db.session, hub.id, found.id)
    except PlanningError as exc:
        db.session.rollback()
        return {"ok": False, "number": number, "message": f"not loaded: {exc}", "shipment_id": found.id}
    db.session.commit()
    again = " (scanned out before)" if loaded.again else ""
    return {"ok": True, "number": number, "shipment_id": found.id,
            "message": f"onto {loaded.driver.name}'s van: stop {loaded.seq} of run sheet {loaded.sheet.id}{again}"}


def _scan_in(hub: Hub, number: str) -> dict:
    number, found = _scanned(number)
    if found is None:
        return {"ok": False, "number": number or "(nothing)", "message": "unknown tracking number"}
    expected_here = found.centre_id == hub.id if hub.is_centre else found.delivery_hub_id == hub.id
    if not expected_here:
        bound = db.session.get(Hub, found.delivery_hub_id if not hub.is_centre else found.centre_id)
        db.session.rollback()
        return {"ok": False, "number": number, "message": f"not for this hub: it goes to {bound.code}"}
    if found.status == Status.DELIVERY_FAILED.value:  # back from the round, undelivered
        try:
            scan_back(db.session, hub, found.id, actor=f"user:{current_user.id}")
        except TransitionError as exc:
            db.session.rollback()
            return {"ok": False, "number": number, "message": f"not scanned in: {exc}", "shipment_id": found.id}
        db.session.commit()
        return {"ok": True, "number": number, "shipment_id": found.id,
                "message": "back at the hub after a failed attempt: it goes out again or back to the sender"}
    if found.status == Status.OUT_FOR_DELIVERY.value:
        db.session.rollback()
        return {"ok": False, "number": number, "shipment_id": found.id,
                "message": "still out for delivery: the driver records the attempt first"}
    try:
        outcome = scan_in(db.session, hub, found.id, actor=f"user:{current_user.id}")
    except TransitionError as exc:
        db.session.rollback()
        return {"ok": False, "number": number, "message": f"not scanned in: {exc}", "shipment_id": found.id}
    db.session.commit()
    if not outcome.applied:
        return {"ok": True, "number": number, "shipment_id": found.id,
                "message": "recorded as a late scan: the parcel had already gone further"}
    return {"ok": True, "number": number, "shipment_id": found.id,
            "message": f"scanned in: now {found.status.replace('_', ' ')}"}


@bp.get("/photos/<path:name>")
def photo(name: str):
    """A photo a driver took (proof of delivery, a failed attempt), for staff."""
    folder = Path(current_app.config.get("WAYBILL_PHOTO_DIR") or Path(current_app.instance_path) / "photos")
    return send_from_directory(folder, name, max_age=3600)


@bp.get("/audit")
@roles_required("admin")
def audit():
    entries = accounts.audit_entries(db.session, before_id=request.args.get("before", type=int))
    return render_template("console/audit.html", entries=entries, tz=local_tz())
