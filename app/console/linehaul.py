"""Console pages for bags and line-haul trips: a centre closes bags and sends trips; a
local hub unloads a trip by scanning and gets a discrepancy report."""
from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from app import clock
from app.auth.web import roles_required
from app.console.acting import acting, actor
from app.console.views import ACTING_ROLES, bp, hub_for_work, hubs_by_id
from app.db import db
from app.forms import id_of
from app.hubs import bags
from app.hubs.models import Hub, LinehaulTrip


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
    with acting(_("Not closed"), bags.BagError) as act:
        bag = bags.close_bag(db.session, bag_id, hub.id)
        act.audit("bag.closed", "bag", bag.id, {"code": bag.code, "parcels": len(bag.items)})
        act.said(ngettext("Bag %(code)s closed with %(num)s parcel.", "Bag %(code)s closed with %(num)s parcels.",
                          len(bag.items), code=bag.code))
    return redirect(url_for("console.linehaul", hub_id=hub.id))


@bp.post("/hubs/<id:hub_id>/trips")
@roles_required(*ACTING_ROLES)
def dispatch_trip(hub_id: int):
    hub = hub_for_work(hub_id)
    to = db.session.get(Hub, id_of(request.form.get("to")) or 0)
    if to is None:
        abort(400, description="to: the hub the trip goes to")
    with acting(_("No trip"), bags.BagError) as act:
        done = bags.dispatch_trip(db.session, hub, to.id, actor=actor())
        act.audit("trip.dispatched", "trip", done.trip.id, {"to": to.code, "bags": done.bags, "parcels": done.parcels})
        act.said(_("Trip %(num)s to %(hub)s left with %(bags)s, %(parcels)s.", num=done.trip.id, hub=to.code,
                   bags=ngettext("%(num)s bag", "%(num)s bags", len(done.bags)),
                   parcels=ngettext("%(num)s parcel", "%(num)s parcels", done.parcels))
                 + "".join(" " + _("%(number)s stayed: %(why)s.", number=n, why=why) for n, why in done.dropped))
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
                                               code, actor=actor())
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
    with acting(_("Not finished"), bags.BagError) as act:
        report = bags.finish_receiving(db.session, hub, _trip(hub, trip_id).id, actor=actor())
        act.audit("trip.received", "trip", trip_id, {"received": report.received, "missing": report.missing,
                                                     "unexpected": report.unexpected})
        act.said(_("Trip %(num)s received: %(parcels)s, %(missing)s missing (held), %(unexpected)s unexpected.",
                   num=trip_id, parcels=ngettext("%(num)s parcel", "%(num)s parcels", report.received),
                   missing=len(report.missing), unexpected=len(report.unexpected)))
    return redirect(url_for("console.receive_trip", hub_id=hub.id, trip_id=trip_id))
