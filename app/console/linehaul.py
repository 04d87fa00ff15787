"""Console pages for bags and line-haul trips: a centre closes bags and sends trips; a
local hub unloads a trip by scanning and gets a discrepancy report."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import clock
from app.auth import services as accounts
from app.auth.web import roles_required
from app.console.views import ACTING_ROLES, bp, hub_for_work, hubs_by_id
from app.db import db
from app.forms import id_of
from app.hubs import bags
from app.hubs.models import Hub, LinehaulTrip
from app.words import counted


def _audit(action: str, object_type: str, object_id: int, details: dict) -> None:
    accounts.audit(db.session, current_user, action, object_type=object_type, object_id=object_id,
                   details=details, ip=request.remote_addr)


def _actor() -> str:
    return f"user:{current_user.id}"


@bp.get("/hubs/<id:hub_id>/linehaul")
@roles_required(*ACTING_ROLES)
def linehaul(hub_id: int):
    hub = hub_for_work(hub_id)
    return render_template("console/linehaul.html", hub=hub, hubs=hubs_by_id(), tz=clock.network_zone(),
                           bags=bags.open_bags(db.session, hub.id) if hub.is_centre else [],
                           coming=bags.trips_coming(db.session, hub.id))


@bp.post("/hubs/<id:hub_id>/bags/<id:bag_id>/close")
@roles_required(*ACTING_ROLES)
def close_bag(hub_id: int, bag_id: int):
    hub = hub_for_work(hub_id)
    try:
        bag = bags.close_bag(db.session, bag_id, hub.id)
    except bags.BagError as exc:
        db.session.rollback()
        flash(f"Not closed: {exc}")
    else:
        _audit("bag.closed", "bag", bag.id, {"code": bag.code, "parcels": len(bag.items)})
        db.session.commit()
        flash(f"Bag {bag.code} closed with {counted(len(bag.items), 'parcel')}.")
    return redirect(url_for("console.linehaul", hub_id=hub.id))


@bp.post("/hubs/<id:hub_id>/trips")
@roles_required(*ACTING_ROLES)
def dispatch_trip(hub_id: int):
    hub = hub_for_work(hub_id)
    to = db.session.get(Hub, id_of(request.form.get("to")) or 0)
    if to is None:
        abort(400, description="to: the hub the trip goes to")
    try:
        done = bags.dispatch_trip(db.session, hub, to.id, actor=_actor())
    except bags.BagError as exc:
        db.session.rollback()
        flash(f"No trip: {exc}")
    else:
        _audit("trip.dispatched", "trip", done.trip.id, {"to": to.code, "bags": done.bags, "parcels": done.parcels})
        db.session.commit()
        flash(f"Trip {done.trip.id} to {to.code} left with {counted(len(done.bags), 'bag')}, {counted(done.parcels, 'parcel')}."
              + "".join(f" {n} stayed: {why}." for n, why in done.dropped))
    return redirect(url_for("console.linehaul", hub_id=hub.id))


def _trip(hub: Hub, trip_id: int) -> LinehaulTrip:
    trip = db.session.get(LinehaulTrip, trip_id)
    if trip is None or trip.to_hub_id != hub.id:
        abort(404)
    return trip


@bp.route("/hubs/<id:hub_id>/trips/<id:trip_id>", methods=["GET", "POST"])
@roles_required(*ACTING_ROLES)
def receive_trip(hub_id: int, trip_id: int):
    """Unload a trip: scan bag tags or parcel labels; then finish for the report."""
    hub = hub_for_work(hub_id)
    trip = _trip(hub, trip_id)
    result = None
    if request.method == "POST":
        code = request.form.get("code", "")
        try:
            moved, message = bags.receive_scan(db.session, hub, bags.departed_trip(db.session, trip.id, hub),
                                               code, actor=_actor())
        except bags.BagError as exc:
            db.session.rollback()
            result = {"ok": False, "message": str(exc)}
        else:
            db.session.commit()
            result = {"ok": True, "message": message}
    parcels = bags.trip_parcels(db.session, trip.id)
    return render_template("console/trip.html", hub=hub, trip=trip, parcels=parcels,
                           bags=bags.trip_bags(db.session, trip.id),
                           hubs=hubs_by_id(), result=result, tz=clock.network_zone(),
                           discrepancies=bags.discrepancies(db.session, trip.id))


@bp.post("/hubs/<id:hub_id>/trips/<id:trip_id>/finish")
@roles_required(*ACTING_ROLES)
def finish_trip(hub_id: int, trip_id: int):
    hub = hub_for_work(hub_id)
    try:
        report = bags.finish_receiving(db.session, hub, _trip(hub, trip_id).id, actor=_actor())
    except bags.BagError as exc:
        db.session.rollback()
        flash(f"Not finished: {exc}")
    else:
        _audit("trip.received", "trip", trip_id, {"received": report.received, "missing": report.missing,
                                                  "unexpected": report.unexpected})
        db.session.commit()
        flash(f"Trip {trip_id} received: {counted(report.received, 'parcel')}, {len(report.missing)} missing "
              f"(held), {len(report.unexpected)} unexpected.")
    return redirect(url_for("console.receive_trip", hub_id=hub.id, trip_id=trip_id))
