"""The driver's pages: the day's run sheet on one phone-sized page that keeps working
offline (``app/static/driver.js`` queues the actions), the actions endpoint the queue
sends to, and the end-of-day cash handover."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import (Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request,
                   send_from_directory, url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from app import clock, photos
from app.api.parsing import text_problems
from app.auth import services as accounts
from app.billing import cash
from app.db import db
from app.delivery import reads
from app.delivery.models import Driver, RunSheet, RunSheetStop
from app.delivery.services import to_bring_back
from app.driver import actions
from app.orders.lifecycle import FAILURE_REASONS, Status

bp = Blueprint("driver", __name__, url_prefix="/driver", template_folder="templates")


@bp.before_request
@login_required
def _drivers_only():
    if current_user.role != "driver" or current_user.driver_id is None:
        abort(403)


def _today() -> date:
    return clock.today()


def _driver() -> Driver:
    return db.session.get(Driver, current_user.driver_id)


def _my_sheets(day: date) -> list[RunSheet]:
    return list(db.session.scalars(select(RunSheet).where(
        RunSheet.driver_id == current_user.driver_id, RunSheet.run_date == day).order_by(RunSheet.id)))


@bp.get("/")
def home():
    day = _today()
    sheets = _my_sheets(day)
    views = reads.sheet_views(db.session, sheets)
    done = actions.stops_done(db.session, [s.id for s in sheets])
    # Each parcel once: a parcel that failed and went out again is its latest sheet's stop.
    latest = {s.shipment_id: s.id for v in views for s in v.stops if s.shipment_id}
    for v in views:
        v.stops[:] = [s for s in v.stops if not s.shipment_id or latest[s.shipment_id] == s.id]
    views = [v for v in views if v.stops]
    stops = [s for v in views for s in v.stops]
    # The current sheet: the first with work left; its first stop not done is next.
    current = next((v for v in views if any(s.id not in done for s in v.stops)), views[-1] if views else None)
    next_stop = next((s for s in current.stops if s.id not in done), None) if current else None
    expected = reads.pickup_parcels(db.session, [s.pickup_run_id for s in stops if s.pickup_run_id])
    return render_template("driver/home.html", driver=_driver(), day=day, views=views, done=done,
                           current=current, next_stop=next_stop, expected=expected,
                           total=sum(s.parcels for s in stops),
                           left=sum(s.parcels for s in stops if s.id not in done),
                           reasons={code: _(label) for code, label in FAILURE_LABELS.items()},
                           relations=RELATION_LABELS, words={k: str(v) for k, v in JS_WORDS.items()})


#: The failure reasons and relations as the driver reads them.
FAILURE_LABELS = {code: reason.button for code, reason in FAILURE_REASONS.items()}
RELATION_LABELS = {"self": _l("The recipient"), "family": _l("Family"), "neighbour": _l("Neighbour"),
                   "reception": _l("Reception")}
#: What the page's script says, in the driver's language ({name}: filled in by the script).
JS_WORDS = {
    "pending": _l("{n} actions waiting to be sent"), "pending_one": _l("1 action waiting to be sent"),
    "offline": _l("(offline)"), "not_recorded": _l("Not recorded: {message}"), "done": _l("done"),
    "progress": _l("{done} done · {left} left"), "no_scanner": _l("The camera scanner could not be loaded: type the number."),
    "no_camera": _l("No camera: type the number. ({error})"),
    "not_this_parcel": _l("That is not this stop's parcel ({number})."), "ask_signature": _l("Ask for a signature."),
    "enter_amount": _l("Enter the amount received."),
    "amount_differs": _l("That is not the amount due: say why it differs."),
    "not_expected": _l("{number} is not expected here."), "scan_first": _l("Scan the parcels first."),
}


@bp.get("/sw.js")
def service_worker():
    """The service worker, served from /driver/ so that it may keep the driver's pages."""
    response = send_from_directory(Path(current_app.static_folder), "driver-sw.js", max_age=0)
    response.headers["Content-Type"] = "text/javascript"
    response.headers["Service-Worker-Allowed"] = "/driver/"
    return response


@bp.get("/shipments/<id:shipment_id>")
def shipment(shipment_id: int):
    """A parcel's stop on the driver's own sheet; any other shipment does not exist here."""
    stop = db.session.scalars(select(RunSheetStop).join(RunSheet).where(
        RunSheetStop.shipment_id == shipment_id, RunSheet.driver_id == current_user.driver_id)
        .order_by(RunSheetStop.id.desc())).first()
    if stop is None:
        abort(404)
    return redirect(url_for("driver.home") + f"#stop-{stop.id}")


@bp.post("/actions")
def record_actions():
    """A batch from the phone's queue: {"actions": [...]} -> {"results": [...]}, one per
    action, in order; sending the same batch again changes nothing."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="bad_request", message='send JSON: {"actions": [...]}'), 400
    problems = text_problems(body)
    if problems:
        return jsonify(error="bad_request", message="; ".join(f"{k}: {v}" for k, v in problems.items())), 400
    photo_dir = photos.photo_dir()
    try:
        outcomes = actions.record(db.session, current_user.driver_id, body.get("actions"),
                                  actor=f"driver:{current_user.driver_id}", photo_dir=photo_dir)
    except actions.ActionError as exc:
        db.session.rollback()
        return jsonify(error="bad_request", message=str(exc)), 400
    db.session.commit()
    return jsonify(results=[o.as_dict() for o in outcomes])


@bp.route("/cash", methods=["GET", "POST"])
def cash_summary():
    """The day's cash on delivery, delivery by delivery, and handing it over at the hub."""
    day, driver = _today(), _driver()
    if request.method == "POST":
        currency = current_app.config["WAYBILL_CURRENCY"]
        try:
            declared = int(request.form.get("declared", "").replace(",", "").strip())
            handover = cash.declare(db.session, driver, day, clock.network_zone(), currency, declared)
        except (ValueError, cash.CashError) as exc:
            db.session.rollback()
            flash(_("Not handed over: %(why)s", why=str(exc)) if isinstance(exc, cash.CashError)
                  else _("Not handed over: give the amount as a whole number"))
        else:
            accounts.audit(db.session, current_user, "cash.declared", object_type="cash_handover",
                           object_id=handover.id, details={"declared": declared, "expected": handover.expected_amount},
                           ip=request.remote_addr)
            db.session.commit()
            flash(_("Handed over: the hub will count it."))
        return redirect(url_for("driver.cash_summary"))
    currency = current_app.config["WAYBILL_CURRENCY"]
    items = cash.collected(db.session, driver.id, day, clock.network_zone())
    back = to_bring_back(db.session, driver.id, day)
    handovers = cash.handovers_of(db.session, driver_id=driver.id, day=day)
    return render_template("driver/cash.html", driver=driver, day=day, items=items,
                           totals=cash.totals(items), cash_totals=cash.totals(items, cash_only=True),
                           handovers=handovers, open_handover=any(h.received_at is None for h in handovers),
                           left=cash.still_to_hand_over(db.session, driver, day, clock.network_zone(), currency),
                           back=back, still_out=any(st == Status.OUT_FOR_DELIVERY for _, st in back),
                           currency=current_app.config["WAYBILL_CURRENCY"])
