"""Console pages for a hub's run sheets: plan the day, move stops between drivers (htmx
swaps the sheets in place; without JavaScript the form posts and the page reloads),
re-optimise one sheet, dispatch, print the manifest. And the day's pickup plan."""
from __future__ import annotations

from datetime import date, time, timedelta

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app import clock
from app.auth import services as accounts
from app.auth.web import roles_required
from app.console.acting import acting, actor
from app.console.views import ACTING_ROLES, bp, hub_for_work, hubs_by_id, scope_hub
from app.crm import services as crm
from app.db import db
from app.delivery import manifest, planning, reads
from app.delivery.models import PickupRun, RunSheet, RunSheetStop
from app.delivery.services import drivers_of
from app.forms import day_of, id_of
from app.hubs.models import Hub


def _day() -> date:
    return day_of(request.values.get("date", ""), default=clock.today())


def _hub(hub_id: int) -> Hub:
    hub = db.session.get(Hub, hub_id)
    if hub is None or (scope_hub() and hub.id != scope_hub()):
        abort(404)
    return hub


def _sheet(sheet_id: int) -> RunSheet:
    sheet = db.session.get(RunSheet, sheet_id)
    if sheet is None or (scope_hub() and sheet.hub_id != scope_hub()):
        abort(404)
    return sheet


def _back(hub_id: int, day: date):
    return redirect(url_for("console.run_sheets", hub_id=hub_id, date=day.isoformat()))


@bp.get("/hubs/<id:hub_id>/runsheets")
def run_sheets(hub_id: int):
    hub = _hub(hub_id)
    day = _day()
    plan = reads.day_plan(db.session, hub, day)
    return render_template("console/runsheets.html", plan=plan, hub=hub, day=day,
                           today=clock.today(), tomorrow=clock.today() + timedelta(days=1),
                           can_act=current_user.role in ACTING_ROLES)


@bp.post("/hubs/<id:hub_id>/runsheets/plan")
@roles_required(*ACTING_ROLES)
def plan_run_sheets(hub_id: int):
    hub, day = hub_for_work(hub_id), _day()
    with acting(_("Not planned"), planning.PlanningError) as act:
        sheets = planning.plan_run_sheets(db.session, hub.id, day,
                                          seconds=current_app.config["WAYBILL_ROUTE_SECONDS"])
        stops = sum(len(s.stops) for s in sheets)
        act.audit("run_sheets.planned", "hub", hub.id, {"hub": hub.code, "date": day.isoformat(),
                                                        "sheets": len(sheets), "stops": stops})
        act.said(_("Planned %(stops)s on %(sheets)s.", stops=ngettext("%(num)s stop", "%(num)s stops", stops),
                   sheets=ngettext("%(num)s run sheet", "%(num)s run sheets", len(sheets))) if sheets
                 else _("Nothing to plan: no parcels ready and no pickups waiting."))
    return _back(hub.id, day)


@bp.post("/runsheets/stops/<id:stop_id>/move")
@roles_required(*ACTING_ROLES)
def move_stop(stop_id: int):
    stop = db.session.get(RunSheetStop, stop_id)
    if stop is None:
        abort(404)
    sheet = _sheet(stop.run_sheet_id)
    hub_id, day = sheet.hub_id, sheet.run_date
    to = id_of(request.form.get("driver"))
    message = None
    try:
        planning.move_stop(db.session, stop_id, to or 0)
    except planning.PlanningError as exc:
        db.session.rollback()
        message = _("Not moved: %(why)s", why=exc)
    else:
        accounts.audit(db.session, current_user, "run_sheets.stop_moved", object_type="run_sheet",
                       object_id=stop.run_sheet_id, details={"stop": stop_id, "from": sheet.id, "driver": to},
                       ip=request.remote_addr)
        db.session.commit()
    if request.headers.get("HX-Request"):
        hub = db.session.get(Hub, hub_id)
        return render_template("console/_runsheets.html", plan=reads.day_plan(db.session, hub, day),
                               hub=hub, day=day, today=clock.today(), can_act=True, message=message)
    if message:
        flash(message)
    return _back(hub_id, day)


@bp.post("/runsheets/<id:sheet_id>/optimise")
@roles_required(*ACTING_ROLES)
def optimise_run_sheet(sheet_id: int):
    sheet = _sheet(sheet_id)
    with acting(_("Not re-ordered"), planning.PlanningError) as act:
        planning.optimise_sheet(db.session, sheet.id, seconds=current_app.config["WAYBILL_ROUTE_SECONDS"])
        act.audit("run_sheets.optimised", "run_sheet", sheet.id, {"km": sheet.planned_km})
        act.said(_("Run sheet %(num)s re-ordered: %(km)s km.", num=sheet.id, km=format_decimal(sheet.planned_km, "0.0")))
    return _back(sheet.hub_id, sheet.run_date)


@bp.post("/runsheets/<id:sheet_id>/dispatch")
@roles_required(*ACTING_ROLES)
def dispatch_run_sheet(sheet_id: int):
    sheet = _sheet(sheet_id)
    planned_for = sheet.run_date
    reason = request.form.get("early_reason", "").strip()
    with acting(_("Not dispatched"), planning.PlanningError) as act:
        done = planning.dispatch_run_sheet(db.session, sheet.id, actor=actor(), early_reason=reason)
        details = {"sent": done.sent, "dropped": [n for n, _ in done.dropped]}
        if sheet.run_date != planned_for:
            details.update(planned_for=planned_for.isoformat(), early_reason=reason)
        act.audit("run_sheets.dispatched", "run_sheet", sheet.id, details)
        act.said(ngettext("Run sheet %(sheet)s dispatched: %(num)s parcel out for delivery.",
                          "Run sheet %(sheet)s dispatched: %(num)s parcels out for delivery.", done.sent, sheet=sheet.id)
                 + "".join(" " + _("%(number)s stayed: %(why)s.", number=number, why=why)
                           for number, why in done.dropped))
    return _back(sheet.hub_id, sheet.run_date)


def _pdf(body: bytes, name: str) -> Response:
    return Response(body, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.get("/runsheets/<id:sheet_id>/manifest.pdf")
def run_sheet_manifest(sheet_id: int):
    sheet = _sheet(sheet_id)
    hub = db.session.get(Hub, sheet.hub_id)
    body = manifest.render(hub, reads.sheet_views(db.session, [sheet]),
                           font=current_app.config["WAYBILL_LABEL_FONT"])
    return _pdf(body, f"run-sheet-{sheet.id}.pdf")


@bp.get("/hubs/<id:hub_id>/runsheets/manifest.pdf")
def day_manifest(hub_id: int):
    hub, day = _hub(hub_id), _day()
    views = reads.sheet_views(db.session, planning.sheets_of_day(db.session, hub.id, day))
    body = manifest.render(hub, views, font=current_app.config["WAYBILL_LABEL_FONT"])
    return _pdf(body, f"run-sheets-{hub.code}-{day.isoformat()}.pdf")


# -- the pickup plan ----------------------------------------------------------------------------

@bp.get("/pickups")
def pickups():
    day = _day()
    rows = reads.pickup_plan(db.session, day)
    centres = [h for h in hubs_by_id().values() if h.is_centre and (not scope_hub() or h.id == scope_hub())]
    if scope_hub():
        rows = [r for r in rows if r.centre_id == scope_hub()]
    drivers = {d.id: d for c in centres for d in drivers_of(db.session, c.id)}
    return render_template("console/pickups.html", rows=rows, day=day, drivers=drivers,
                           today=clock.today(), tomorrow=clock.today() + timedelta(days=1),
                           can_act=current_user.role in ACTING_ROLES)


@bp.post("/pickups/<id:run_id>/driver")
@roles_required(*ACTING_ROLES)
def assign_pickup(run_id: int):
    run = db.session.get(PickupRun, run_id)
    if run is None:
        abort(404)
    driver_id = id_of(request.form.get("driver")) or 0
    with acting(_("Not assigned"), planning.PlanningError) as act:
        try:
            planning.assign_pickup(db.session, run.id, driver_id, hub_id=scope_hub())
        except LookupError:
            abort(404)
        act.audit("pickup.assigned", "pickup_run", run.id, {"driver": driver_id})
        act.said(_("Pickup %(num)s assigned.", num=run.id))
    return redirect(url_for("console.pickups", date=run.run_date.isoformat()))


@bp.post("/pickup-locations/<id:location_id>/window")
@roles_required("admin", "dispatcher", "account_manager")
def pickup_window(location_id: int):
    with acting(_("Window not changed"), ValueError) as act:
        ready_from = time.fromisoformat(request.form.get("ready_from", ""))
        ready_until = time.fromisoformat(request.form.get("ready_until", ""))
        place = crm.set_pickup_window(db.session, location_id, ready_from, ready_until)
        act.audit("pickup_location.window", "pickup_location", place.id,
                  {"from": ready_from.isoformat(), "until": ready_until.isoformat()})
        act.said(_("%(name)s: ready %(start)s–%(end)s.", name=place.name, start=f"{ready_from:%H:%M}", end=f"{ready_until:%H:%M}"))
    return redirect(url_for("console.pickups", date=request.form.get("date") or clock.today().isoformat()))
