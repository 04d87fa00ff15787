"""Console pages: the dashboard, shipments (search and one shipment whole), the audit log."""
from __future__ import annotations

import base64
from datetime import date, datetime, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from app import clock, photos
from app.auth import services as accounts
from app.auth.models import STAFF_ROLES, User
from app.auth.web import roles_required
from app.billing import claims
from app.billing.fees import (
    SettlementError,
    money_of,
    open_cod_differences,
    settle_cod_difference,
)
from app.billing.money import written
from app.billing.posting import SETTLEMENTS
from app.console import exports
from app.console import words as console_words
from app.console.words import weekdays
from app.console.acting import acting, actor
from app.crm import services as crm
from app.crm.models import Partner
from app.crm.notifications import notifications_of
from app.db import db
from app.delivery.models import Driver
from app.delivery.planning import PlanningError, load_onto_van, reschedule
from app.delivery.services import (
    DeliveryError,
    attempts_of,
    hand_back,
    proof_for,
)
from app.forms import day_of, id_of
from app.hubs.bags import BagError, open_bags, sort_to_bag
from app.hubs.models import Hub
from app.hubs.routing import hubs_able_to_deliver, load_network
from app.hubs.services import ScanRefused, ScheduleError, all_hubs, scan_at_station, set_schedule
from app.orders import console_reads, stages
from app.orders.changes import ChangeRefused, change_dropoff_address, reroute
from app.orders.intake import AddressIn, IntakeError, locate_address
from app.orders.lifecycle import (
    ADDRESS_CHANGE_ANY_HUB,
    ADDRESS_CHANGE_SAME_HUB,
    PUBLIC_STATUS,
    RESCHEDULABLE,
    TRANSITIONS,
    Status,
)
from app.orders.models import Order, Shipment
from app.orders.shipments import (
    MAX_CODE_TRIES,
    TransitionError,
    get_by_tracking_number,
    history,
    lock_shipments,
    transition,
)
from app.orders.shipments import unlock_delivery_code as unlock_code
from app.orders.promise_words import explain
from app.orders.words import named
from app.webhooks.services import disabled_endpoints

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates")


@bp.before_request
@login_required
def _staff_only():
    """Every console page: staff only (drivers and partners' people get 403)."""
    if current_user.role not in STAFF_ROLES:
        abort(403)


@bp.app_template_filter("b64")
def base64_filter(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@bp.app_template_global()
def format_money(amount: int, currency: str) -> str:
    """An amount as the reader writes numbers ("1,250,000 VND"; "1.250.000 VND" in Vietnamese)."""
    return written(amount, currency)


@bp.app_template_filter("named")
def named_filter(code: str | None, words: dict) -> str:
    return named(code, words)


@bp.context_processor
def _console_words() -> dict:
    return console_words.all_words()


def scope_hub() -> int | None:
    """A hub operator sees their hub's work; everyone else the whole network."""
    return current_user.hub_id if current_user.role == "hub_operator" else None


def hubs_by_id() -> dict[int, Hub]:
    return {h.id: h for h in sorted(all_hubs(db.session), key=lambda h: h.code)}


@bp.get("/")
def dashboard():
    """The day's figures, read on the replica when there is one (they may lag a moment)."""
    hubs = hubs_by_id()
    with db.replica_session() as reader:
        figures = console_reads.dashboard(reader, today=clock.today(), tz=clock.network_zone(), hub_id=scope_hub())
        disabled = disabled_endpoints(reader)
        partners = {p.id: p.name for p in crm.all_partners(reader)}
        peak = max((n for _, n in figures.volume), default=0) or 1
        differences = open_cod_differences(reader)
        ships = {s.id: s for s in reader.scalars(select(Shipment).where(
            Shipment.id.in_([c.shipment_id for c in differences])))}
        differences = [c for c in differences
                       if not scope_hub() or ships[c.shipment_id].delivery_hub_id == scope_hub()]
        return render_template("console/dashboard.html", f=figures, hubs=hubs, statuses=[s.value for s in Status],
                               disabled=disabled, partners=partners, peak=peak, today=clock.today(),
                               cod_differences=differences, numbers={i: s.tracking_number for i, s in ships.items()},
                               stage_watch=stages.watch(reader, hub_id=scope_hub()))


@bp.get("/shipments")
def shipments():
    args = request.args
    hub_id = scope_hub() or id_of(args.get("hub"))
    with db.replica_session() as reader:  # a list: it may lag a moment behind (the replica)
        found, last = console_reads.search(
            reader, q=args.get("q", ""), status=args.get("status") or None, hub_id=hub_id,
            partner_id=id_of(args.get("partner")), created_from=_date(args.get("from")),
            created_to=_date(args.get("to")), late=args.get("late") == "1", today=clock.today(),
            before_id=id_of(args.get("before")), tz=clock.network_zone())
    if len(found) == 1 and args.get("q") and not last and args.get("jump", "1") == "1":
        return _redirect_to(found[0].id)
    partners = crm.all_partners(db.session)
    return render_template("console/shipments.html", found=found, last=last, hubs=hubs_by_id(), partners=partners,
                           statuses=[s.value for s in Status], args=args, scoped=scope_hub() is not None,
                           tz=clock.network_zone())


@bp.get("/shipments/export.<any(csv, xlsx):fmt>")
def shipments_export(fmt: str):
    """The shipments search, every match, as a file (the same filters as the list)."""
    args, tz, codes = request.args, clock.network_zone(), {h.id: h.code for h in hubs_by_id().values()}
    filters = dict(q=args.get("q", ""), status=args.get("status") or None, hub_id=scope_hub() or id_of(args.get("hub")),
                   partner_id=id_of(args.get("partner")), created_from=_date(args.get("from")),
                   created_to=_date(args.get("to")), late=args.get("late") == "1", today=clock.today(), tz=tz)

    def page(before):
        with db.replica_session() as reader:
            return console_reads.search(reader, before_id=before, limit=exports.PAGE, **filters)

    header = ("tracking_number", "status", "partner", "reference", "recipient", "phone", "delivering_hub",
              "promised_date", "created_at")
    rows = ((f.tracking_number, f.status, f.partner, f.reference, f.recipient_name, f.recipient_phone,
             codes.get(f.delivery_hub_id), f.promised_date, f.created_at) for f in exports.paged(page))
    return exports.send("shipments", fmt, header, rows)


def _redirect_to(shipment_id: int):
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


def _date(value: str | None) -> date | None:
    return day_of(value, strict=False)


def _visible_shipment(shipment_id: int) -> Shipment:
    """The shipment, if this user may see it (a hub operator: their hub's); else 404."""
    found = db.session.get(Shipment, shipment_id)
    if found is None or (scope_hub() and found.delivery_hub_id != scope_hub()
                         and found.centre_id != scope_hub()):
        abort(404)
    return found


@bp.get("/shipments/<id:shipment_id>")
def shipment(shipment_id: int):
    found = _visible_shipment(shipment_id)
    order = db.session.get(Order, found.order_id)
    events = history(db.session, found.id)
    attempts = attempts_of(db.session, found.id)
    hubs = hubs_by_id()
    on_route = [hubs[found.centre_id]] + ([hubs[found.delivery_hub_id]] if found.route == "linehaul" else [])
    pickup = order.pickup_location.address
    dropoff = order.dropoff_address
    route = [[pickup.lat, pickup.lon]] + [[h.lat, h.lon] for h in on_route] + [[dropoff.lat, dropoff.lon]]
    tz = clock.network_zone()
    return render_template("console/shipment.html", s=found, order=order, events=events, hubs=hubs_by_id(),
                           partner=db.session.get(Partner, found.partner_id), tz=tz,
                           promise_reason=explain(found.promise_basis),
                           public=PUBLIC_STATUS.get(Status(found.status), "delivered"),
                           actions=[(a, ACTIONS[a], TRANSITIONS[a].needs_reason) for a in _allowed_actions(found)],
                           reroute_to=([h.code for h in hubs_able_to_deliver(
                               load_network(db.session), found.centre_id, (order.dropoff_address.lat, order.dropoff_address.lon))
                               if h.id != found.delivery_hub_id]
                               if current_user.role in ("admin", "dispatcher")
                               and found.standing in ADDRESS_CHANGE_ANY_HUB else []),
                           can_change_address=(current_user.role in ACTING_ROLES and found.standing
                                               in ADDRESS_CHANGE_ANY_HUB | ADDRESS_CHANGE_SAME_HUB),
                           map_hubs=_map_hubs(on_route), route=route,
                           actual=[[e.lat, e.lon] for e in events if e.applied and e.lat is not None],
                           can_reschedule=(current_user.role in ACTING_ROLES
                                           and found.standing in RESCHEDULABLE),
                           tomorrow=clock.today() + timedelta(days=1),
                           notifications=notifications_of(db.session, found.id),
                           proof=proof_for(db.session, found.id), attempts=attempts,
                           who=actor_names({e.actor for e in events} | {f"driver:{a.driver_id}" for a in attempts}),
                           code_locked=found.delivery_code_failures >= MAX_CODE_TRIES,
                           can_unlock=current_user.role in ("admin", "dispatcher"),
                           can_settle=current_user.role in ("admin", "finance"), settlements=SETTLEMENTS,
                           can_declare_loss=(current_user.role in ("admin", "dispatcher")
                                             and found.status == Status.ON_HOLD.value),
                           claim=claims.claim_of(db.session, found.id),
                           can_hand_back=(current_user.role in ACTING_ROLES
                                          and found.status == Status.RETURNING_TO_SENDER.value),
                           money=money_of(db.session, found.id))


def actor_names(actors: set[str]) -> dict[str, str]:
    """Who "user:3", "driver:1", "partner:2" or "system:collect_fees" is, in words."""
    kinds = {"user": User, "driver": Driver, "partner": Partner}
    ids: dict[str, set[int]] = {}
    for who in actors:
        kind, _sep, ident = who.partition(":")
        if kind in kinds and ident.isdigit():
            ids.setdefault(kind, set()).add(int(ident))
    names = {}
    for kind, wanted in ids.items():
        model = kinds[kind]
        for row in db.session.scalars(select(model).where(model.id.in_(wanted))):
            label = row.name or getattr(row, "email", "") or f"{kind} {row.id}"
            names[f"{kind}:{row.id}"] = (_("driver %(name)s", name=label) if kind == "driver"
                                         else _("%(name)s (partner)", name=label) if kind == "partner" else label)
    for who in actors:
        kind, _sep, rest = who.partition(":")
        if who not in names:
            names[who] = "Waybill" if kind == "system" else who if not rest else f"{kind} {rest}"
    return names


#: What the console may do to a shipment from its page, and who may.
ACTIONS = {"hold": _l("Put on hold"), "release": _l("Release"), "cancel": _l("Cancel")}
ACTING_ROLES = ("admin", "dispatcher", "hub_operator")


def _allowed_actions(shipment: Shipment) -> list[str]:
    if current_user.role not in ACTING_ROLES:
        return []
    status = Status(shipment.status)
    return [a for a in ACTIONS if status in TRANSITIONS[a].sources]


@bp.post("/shipments/<id:shipment_id>/actions")
@roles_required(*ACTING_ROLES)
def shipment_action(shipment_id: int):
    found = _visible_shipment(shipment_id)
    action, reason = request.form.get("action", ""), request.form.get("reason", "").strip()
    if action not in ACTIONS:
        abort(400)
    with acting(_("Not done"), TransitionError) as act:
        transition(db.session, found.id, action, actor=actor(), reason=reason or None)
        act.audit(f"shipment.{TRANSITIONS[action].event}", "shipment", found.id, {"reason": reason} if reason else None)
        act.said(_("%(action)s: done.", action=ACTIONS[action]))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<id:shipment_id>/address")
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
    db.session.commit()  # the reads end here: no transaction is open while the geocoder works
    locate_address(address)
    with acting(_("Address not changed"), IntakeError, ChangeRefused, words=_refusal_words) as act:
        change_dropoff_address(db.session, partner, order, address, actor=actor(), reason=reason)
        act.audit("order.address_changed", "shipment", found.id, {"to": address.line1, "reason": reason})
        act.said(_("Address changed: routed and priced again."))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<id:shipment_id>/settle-cod")
@roles_required("admin", "finance")
def settle_cod(shipment_id: int):
    """Finance settles a short or over payment at the door; the shipment closes."""
    found = _visible_shipment(shipment_id)
    note, outcome = request.form.get("note", ""), request.form.get("outcome", "")
    with acting(_("Not settled"), SettlementError, TransitionError) as act:
        cod = settle_cod_difference(db.session, found.id, user_id=current_user.id, note=note, actor=actor(),
                                    outcome=outcome)
        act.audit("cod.difference_settled", "shipment", found.id,
                  {"due": cod.amount_due, "collected": cod.amount_collected, "note": cod.settlement_note,
                   "outcome": outcome})
        act.said(_("Cash difference settled; the shipment is closed."))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<id:shipment_id>/adjust")
@roles_required("admin", "finance")
def adjust_charge(shipment_id: int):
    """Finance corrects what a shipment is charged with a new line (billed on the next
    invoice), never by editing one."""
    from app.billing.fees import AdjustmentError, adjust
    from app.billing.payments import PaymentError, parse_amount

    found = _visible_shipment(shipment_id)
    reason = request.form.get("reason", "")
    with acting(_("Not adjusted"), AdjustmentError, PaymentError) as act:
        amount = parse_amount(request.form.get("amount", "").strip(), found.quoted_fee_currency)
        charge = adjust(db.session, found.id, amount, reason=reason, user_id=current_user.id, actor=actor())
        act.audit("charge.adjusted", "shipment", found.id, {"amount": amount, "reason": reason.strip()})
        act.said(_("Adjusted by %(amount)s: on the partner's next invoice.",
                   amount=format_money(charge.amount, charge.currency)))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<id:shipment_id>/hand-back")
@roles_required(*ACTING_ROLES)
def hand_back_to_shop(shipment_id: int):
    """A parcel on its way back is handed to its shop at the counter (the shop collected
    it): the return is complete, as when a driver hands it back."""
    found = _visible_shipment(shipment_id)
    received_by = request.form.get("received_by", "").strip()
    with acting(_("Not handed back"), DeliveryError, TransitionError) as act:
        hand_back(db.session, found.id, received_by=received_by, signature_svg=None, driver_id=None, actor=actor())
        act.audit("shipment.returned", "shipment", found.id, {"received_by": received_by})
        act.said(_("Handed back to the shop: the return is complete."))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<id:shipment_id>/declare-loss")
@roles_required("admin", "dispatcher")
def declare_loss(shipment_id: int):
    """A parcel on hold is written off as lost or damaged, with a reason and a photo; the
    partner is told and its declared value is owed (a claim)."""
    found = _visible_shipment(shipment_id)
    form, upload = request.form, request.files.get("photo")
    with acting(_("Not declared"), claims.ClaimError, photos.PhotoError, TransitionError) as act:
        evidence = photos.save_photo(upload.read(photos.MAX_PHOTO_BYTES + 1), photos.photo_dir()) \
            if upload and upload.filename else None
        claim = claims.declare_loss(db.session, found.id, kind=form.get("kind", ""), reason=form.get("reason", ""),
                                    currency=current_app.config["WAYBILL_CURRENCY"], evidence_ref=evidence,
                                    user_id=current_user.id, actor=actor())
        act.audit(f"shipment.declared_{claim.kind}", "shipment", found.id,
                  {"reason": claim.reason, "claim": f"{claim.amount} {claim.currency}"})
        act.said(_("Declared %(kind)s: the partner is told; %(amount)s owed as a claim.",
                   kind=named(claim.kind, console_words.CLAIM_WORDS), amount=format_money(claim.amount, claim.currency)))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


def _refusal_words(exc: Exception) -> str:
    """A refusal in words: an intake error's messages without their field paths."""
    if isinstance(exc, IntakeError):
        return "; ".join(e["message"] for e in exc.errors)
    return str(exc)


@bp.post("/shipments/<id:shipment_id>/unlock-code")
@roles_required("admin", "dispatcher")
def unlock_delivery_code(shipment_id: int):
    """After too many wrong codes at the door, a dispatcher (who has spoken to the
    customer) lets the driver try again."""
    found = _visible_shipment(shipment_id)
    with acting(_("Not unlocked")) as act:
        unlock_code(db.session, found.id)
        act.audit("shipment.delivery_code_unlocked", "shipment", found.id)
        act.said(_("Delivery code unlocked: the driver can try again."))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<id:shipment_id>/reroute")
@roles_required("admin", "dispatcher")
def reroute_shipment(shipment_id: int):
    found = _visible_shipment(shipment_id)
    hub_code, reason = request.form.get("hub", ""), request.form.get("reason", "")
    with acting(_("Not rerouted"), ChangeRefused) as act:
        reroute(db.session, found.id, hub_code, actor=actor(), reason=reason)
        act.audit("shipment.rerouted", "shipment", found.id, {"to": hub_code, "reason": reason.strip()})
        act.said(_("Rerouted: %(hub)s delivers it now.", hub=hub_code))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.post("/shipments/<id:shipment_id>/reschedule")
@roles_required(*ACTING_ROLES)
def reschedule_shipment(shipment_id: int):
    """Put delivery off to a later day (the customer asked), with a reason."""
    found = _visible_shipment(shipment_id)
    day, reason = _date(request.form.get("not_before")), request.form.get("reason", "")
    with acting(_("Not rescheduled"), PlanningError) as act:
        if day is None:
            raise PlanningError("give the day, as YYYY-MM-DD")
        reschedule(db.session, found.id, day, today=clock.today(), actor=actor(), reason=reason)
        act.audit("shipment.rescheduled", "shipment", found.id, {"not_before": day.isoformat(), "reason": reason.strip()})
        act.said(_("Rescheduled: not delivered before %(day)s.", day=format_date(day, "EEE dd MMM yyyy")))
    return redirect(url_for("console.shipment", shipment_id=shipment_id))


@bp.get("/hubs")
def hubs():
    all_hubs = [h for h in hubs_by_id().values() if not scope_hub() or h.id == scope_hub()]
    return render_template("console/hubs.html", hubs=all_hubs, map_hubs=_map_hubs(all_hubs),
                           work=console_reads.hub_work(db.session, hubs_by_id().values()), weekdays=weekdays())


@bp.post("/hubs/<id:hub_id>/schedule")
@roles_required("admin", "dispatcher")
def hub_schedule(hub_id: int):
    """A hub's working days, cut-offs, line-haul, capacity and window: what promises are
    worked out from, from the next quote on."""
    hub = hub_for_work(hub_id)
    form = request.form

    def clock_time(name: str, words: str, *, optional: bool = False):
        value = (form.get(name) or "").strip()
        if not value and optional:
            return None
        try:
            return datetime.strptime(value, "%H:%M").time()
        except ValueError:
            raise ScheduleError(_("%(field)s: a time, HH:MM", field=words)) from None

    def number(name: str, words: str):
        value = (form.get(name) or "").strip()
        if not value:
            return None
        if not value.isdigit() or int(value) > 1_000_000:
            raise ScheduleError(_("%(field)s: a whole number", field=words))
        return int(value)

    with acting(_("Not saved"), ScheduleError) as act:
        start, end = clock_time("window_from", _("window"), optional=True), clock_time("window_until", _("window"),
                                                                                        optional=True)
        changed = set_schedule(
            db.session, hub, working_days="".join(form.getlist("days")),
            pickup_cutoff=clock_time("pickup_cutoff", _("pickup cut-off")),
            linehaul_departs=clock_time("linehaul_departs", _("line-haul leaves")),
            linehaul_hours=number("linehaul_hours", _("line-haul hours")) or 0,
            out_by=clock_time("out_by", _("out by")), daily_capacity=number("daily_capacity", _("capacity")),
            window=(start, end) if start and end else None,
            same_day_out_by=clock_time("same_day_out_by", _("same-day run"), optional=True))
        act.audit("hub.schedule_changed", "hub", hub.id, changed)
        act.said(_("%(hub)s: the schedule is saved; promises from now on follow it.", hub=hub.code))
    return redirect(url_for("console.hubs") + f"#schedule-{hub.id}")


def _map_hubs(hubs) -> list[dict]:
    return [{"code": h.code, "name": h.name, "kind": h.kind.value, "lat": h.lat, "lon": h.lon,
             "radius_km": h.delivery_radius_km} for h in hubs]


def hub_for_work(hub_id: int) -> Hub:
    """The hub, if this user works at it (a hub operator: their own); else 404, as for
    any object outside what the user sees (``_visible_shipment``)."""
    hub = db.session.get(Hub, hub_id)
    if hub is None or (scope_hub() and hub.id != scope_hub()):
        abort(404)
    return hub


#: What the scan station does with a scan: receive, sort into a bag (centres), load a van.
SCAN_MODES = {"in": _l("Scan in"), "bag": _l("Sort to bag"), "out": _l("Scan out to a van")}


@bp.route("/hubs/<id:hub_id>/scan", methods=["GET", "POST"])
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
    tz = clock.network_zone()
    modes = {m: label for m, label in SCAN_MODES.items() if m != "bag" or hub.is_centre}
    return render_template("console/scan.html", hub=hub, result=result, tz=tz, mode=mode, modes=modes,
                           bags=open_bags(db.session, hub.id) if mode == "bag" else [], hubs=hubs_by_id(),
                           recent=console_reads.recent_scans(db.session, hub.id))


def _scanned(number: str) -> tuple[str, Shipment | None]:
    number = number.strip().upper()
    return number, (get_by_tracking_number(db.session, number) if number else None)


def _station(number: str, work, refused: str, *refusals: type[Exception]) -> dict:
    """One scan at a station: the parcel found by its number, ``work(shipment)`` (which
    says what happened) committed, or its refusal rolled back and said."""
    number, found = _scanned(number)
    if found is None:
        return {"ok": False, "number": number or "(nothing)", "message": "unknown tracking number"}
    try:
        message = work(found)
    except refusals as exc:
        db.session.rollback()
        return {"ok": False, "number": number, "message": f"{refused}{exc}", "shipment_id": found.id}
    db.session.commit()
    return {"ok": True, "number": number, "shipment_id": found.id, "message": message}


def _sort_to_bag(hub: Hub, number: str) -> dict:
    def work(found):
        [locked] = lock_shipments(db.session, [found.id])
        bag = sort_to_bag(db.session, hub, locked, actor=actor())
        return f"into bag {bag.code} for {db.session.get(Hub, bag.to_hub_id).code} ({len(bag.items)} in the bag)"

    return _station(number, work, "not bagged: ", BagError)


def _scan_out(hub: Hub, number: str) -> dict:
    def work(found):
        loaded = load_onto_van(db.session, hub.id, found.id)
        again = " (scanned out before)" if loaded.again else ""
        return f"onto {loaded.driver.name}'s van: stop {loaded.seq} of run sheet {loaded.sheet.id}{again}"

    return _station(number, work, "not loaded: ", PlanningError)


def _scan_in(hub: Hub, number: str) -> dict:
    return _station(number, lambda found: scan_at_station(db.session, hub, found.id, actor=actor()), "", ScanRefused)


@bp.get("/photos/<path:name>")
def photo(name: str):
    """A photo a driver took (proof of delivery, a failed attempt), for staff."""
    folder = photos.photo_dir()
    return send_from_directory(folder, name, max_age=3600)


@bp.get("/audit")
@roles_required("admin")
def audit():
    entries = accounts.audit_entries(db.session, before_id=id_of(request.args.get("before")))
    return render_template("console/audit.html", entries=entries, tz=clock.network_zone())


@bp.get("/audit/export.<any(csv, xlsx):fmt>")
@roles_required("admin")
def audit_export(fmt: str):
    """The whole audit log, newest first, as a file."""
    def page(before):
        found = accounts.audit_entries(db.session, before_id=before, limit=exports.PAGE)
        return found, (found[-1].id if len(found) == exports.PAGE else None)

    header = ("at", "user", "action", "object_type", "object_id", "details", "ip")
    rows = ((e.at, e.user_email, e.action, e.object_type, e.object_id, e.details, e.ip) for e in exports.paged(page))
    return exports.send("audit-log", fmt, header, rows)


@bp.get("/promises")
def promise_accuracy():
    """How the promises due in the last days fared: kept, revised or broken, by service
    level, delivering hub and partner."""
    today, tz = clock.today(), clock.network_zone()
    try:
        days = min(max(int(request.args.get("days", 30)), 1), 366)
    except ValueError:
        days = 30
    start = today - timedelta(days=days - 1)
    with db.replica_session() as reader:
        tables = {by: console_reads.promise_accuracy(reader, start, today, by=by, today=today, tz=tz)
                  for by in console_reads.ACCURACY_BY}
    partners = {p.id: p.name for p in crm.all_partners(db.session)}
    return render_template("console/promises.html", tables=tables, days=days, start=start, today=today,
                           hubs=hubs_by_id(), partners=partners)


@bp.get("/stages")
def stage_slas():
    """Shipments past their stage's time target now, and those near it, with the targets
    (the network's, a hub's, a partner's), which admins and dispatchers set here."""
    now, hub_id = clock.now(), scope_hub() or id_of(request.args.get("hub"))
    breached, at_risk, capped = stages.watch(db.session, now=now, hub_id=hub_id)
    partners = {p.id: p.name for p in crm.all_partners(db.session)}
    return render_template("console/stages.html", breached=breached, at_risk=at_risk, now=now, hubs=hubs_by_id(),
                           partners=partners, hub_id=hub_id, stages=stages.STAGES, targets=stages.targets(db.session),
                           scoped=scope_hub() is not None, span=console_words.span, capped=capped, limit=500)


@bp.post("/stages/targets")
@roles_required("admin", "dispatcher")
def set_stage_target():
    form = request.form
    with acting(_("Not saved"), stages.TargetError) as act:
        raw = (form.get("hours") or "").strip()
        if raw and not raw.isdigit():
            raise stages.TargetError(_("hours: a whole number, or empty to clear"))
        hub_id, partner_id = id_of(form.get("hub")), id_of(form.get("partner"))
        stage, hours = form.get("stage", ""), int(raw) if raw else None
        stages.set_target(db.session, stage, hours, hub_id=hub_id, partner_id=partner_id)
        act.audit("stage_target.set", "stage_target", None,
                  {"stage": stage, "hub": hub_id, "partner": partner_id, "hours": hours})
        act.said(_("Target saved.") if hours else _("Target cleared."))
    return redirect(url_for("console.stage_slas") + "#targets")
