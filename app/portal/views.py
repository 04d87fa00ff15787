"""The partner portal under /portal: a partner's people work their own account — orders
(search, one order whole, labels, cancel, a new address), CSV uploads, pickup places,
API keys and webhook endpoints, invoices, remittances and the statement, cases, and the
account's logins. The same services as the API; every object is looked up within the
signed-in person's account, so another account's is a 404."""
from __future__ import annotations

from datetime import time, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from app import clock, photos
from app.auth import services as people
from app.auth.models import User
from app.billing import invoices, payments, remittances
from app.billing.documents import Company, statement_pdf
from app.billing.models import Invoice, Remittance
from app.console.acting import acting
from app.crm import cases
from app.crm import services as crm
from app.crm.models import Partner, PickupLocation
from app.db import db
from app.delivery.services import FAILURE_REASON_WORDS, proof_for
from app.forms import day_of
from app.orders import csv_import, labels, reads, words
from app.orders.changes import ChangeRefused, change_dropoff_address
from app.orders.intake import AddressIn, IntakeError, locate_address
from app.orders.lifecycle import PUBLIC_VOCABULARY, TransitionError
from app.orders.models import Order
from app.orders.shipments import transition
from app.webhooks import services as webhooks

bp = Blueprint("portal", __name__, url_prefix="/portal", template_folder="templates")

PARTNER_CASE_TYPES = cases.PARTNER_TYPES
PAGE = 50


@bp.before_request
@login_required
def _partners_only():
    """Every portal page: a partner's people only, within their own account."""
    if current_user.role != "partner" or current_user.partner_id is None:
        abort(403)
    g.account = db.session.get(Partner, current_user.partner_id)
    if g.account is None:
        abort(403)


def _name() -> str:
    return current_user.name or current_user.email


def _actor() -> str:
    return f"partner:{g.account.id}:user:{current_user.id}"


#: The portal's words for what the services name, in the reader's language.
STATUS_WORDS = words.PUBLIC_STATUS_WORDS
LEVEL_WORDS = words.LEVEL_WORDS
EVENT_WORDS = words.EVENT_WORDS
CASE_TYPE_WORDS = cases.TYPE_WORDS
CASE_STATUS_WORDS = {**cases.STATUS_WORDS, "waiting": _l("waiting for you")}
OUTCOME_WORDS = {"compensation": _l("Compensated (a credit to you)"),
                 "claim": _l("Claim accepted (the declared value is paid to you)"),
                 "reschedule": _l("Delivery rescheduled"), "explained": _l("Explained")}
INVOICE_STATUS_WORDS = {"issued": _l("issued"), "overdue": _l("overdue"), "partially_paid": _l("partly paid"),
                        "paid": _l("paid")}


@bp.context_processor
def _portal_words():
    from app.driver.views import RELATION_LABELS  # the words the driver chose them by

    return {"status_words": STATUS_WORDS, "level_words": LEVEL_WORDS, "event_words": EVENT_WORDS,
            "case_type_words": CASE_TYPE_WORDS, "case_status_words": CASE_STATUS_WORDS,
            "outcome_words": OUTCOME_WORDS, "invoice_status_words": INVOICE_STATUS_WORDS,
            "relation_words": RELATION_LABELS}


# -- orders -------------------------------------------------------------------------------

@bp.get("/")
def home():
    return redirect(url_for("portal.orders"))


@bp.get("/orders")
def orders():
    args = request.args
    status = args.get("status") if args.get("status") in PUBLIC_VOCABULARY else None
    q = (args.get("q") or "").strip()
    before = int(args["before"]) if (args.get("before") or "").isdigit() else None
    page, last = reads.list_orders(db.session, g.account.id, status=status, search=q or None, before_id=before,
                                   limit=PAGE)
    return render_template("portal/orders.html", orders=page, last=last, q=q, status=status,
                           statuses=PUBLIC_VOCABULARY, tz=clock.network_zone())


def _order(order_id: int) -> dict:
    found = reads.order_resource(db.session, g.account.id, order_id)
    if found is None:
        abort(404)
    return found


@bp.get("/orders/<id:order_id>")
def order(order_id: int):
    found = _order(order_id)
    session = db.session
    shipment_id = reads.shipment_id_of(session, g.account.id, order_id)
    history = reads.tracking_resource(session, g.account.id, found["tracking_number"])
    order_row = session.get(Order, order_id)
    return render_template("portal/order.html", order=found, history=history, proof=proof_for(session, shipment_id),
                           cases=cases.find_cases(session, status=None, partner_id=g.account.id,
                                                  shipment_id=shipment_id),
                           recipient=order_row, address=order_row.dropoff_address, case_types=cases.TYPES,
                           partner_case_types=PARTNER_CASE_TYPES, reason_words=FAILURE_REASON_WORDS,
                           tz=clock.network_zone())


@bp.get("/orders/<id:order_id>/proof-photo")
def proof_photo(order_id: int):
    shipment_id = reads.shipment_id_of(db.session, g.account.id, order_id)
    proof = proof_for(db.session, shipment_id) if shipment_id else None
    if proof is None or not proof.photo_ref:
        abort(404)
    return send_from_directory(photos.photo_dir(), proof.photo_ref, max_age=3600)


@bp.get("/orders/<id:order_id>/label")
def label(order_id: int):
    found = labels.orders_for_labels(db.session, g.account.id, [order_id])
    if not found:
        abort(404)
    config = current_app.config
    body = labels.render(db.session, found, public_url=config["WAYBILL_PUBLIC_URL"], font=config["WAYBILL_LABEL_FONT"])
    return current_app.response_class(body, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="label-{found[0].shipment.tracking_number}.pdf"'})


@bp.post("/orders/<id:order_id>/cancel")
def cancel(order_id: int):
    shipment_id = reads.shipment_id_of(db.session, g.account.id, order_id)
    if shipment_id is None:
        abort(404)
    with acting(_("Not cancelled"), TransitionError, words=lambda e: _("it has been picked up: too late to cancel")
                if "cannot cancel" in str(e) else str(e)) as act:
        reason = (request.form.get("reason") or "").strip() or "cancelled by the shop"
        transition(db.session, shipment_id, "cancel", actor=_actor(), reason=reason[:200])
        act.audit("order.cancelled", "order", order_id, {"reason": reason[:200]})
        act.said(_("Cancelled."))
    return redirect(url_for("portal.order", order_id=order_id))


@bp.post("/orders/<id:order_id>/address")
def change_address(order_id: int):
    form = request.form
    order_row = db.session.get(Order, order_id)
    if order_row is None or order_row.partner_id != g.account.id:
        abort(404)
    db.session.rollback()  # the geocoder may take seconds: no transaction is held across it
    try:
        address = locate_address(AddressIn(line1=form.get("line1", ""), district=form.get("district", ""),
                                           city=form.get("city", ""), country="VN",
                                           postal_code=form.get("postal_code") or ""))
    except IntakeError as exc:
        flash(_("Not changed: %(why)s", why=str(exc)))
        return redirect(url_for("portal.order", order_id=order_id))
    order_row = db.session.get(Order, order_id)
    with acting(_("Not changed"), IntakeError, ChangeRefused) as act:
        change_dropoff_address(db.session, g.account, order_row, address, actor=_actor(),
                               reason=(form.get("reason") or "the shop corrected it")[:200])
        act.audit("order.address_changed", "order", order_id, {"line1": address.line1})
        act.said(_("The new address is on its way to the hub."))
    return redirect(url_for("portal.order", order_id=order_id))


@bp.route("/upload", methods=["GET", "POST"])
def upload():
    results = None
    if request.method == "POST":
        file = request.files.get("file")
        data = file.read() if file else b""
        try:
            text = data.decode("utf-8-sig")
            parsed = csv_import.read_file(text, max_orders=1000)
        except UnicodeDecodeError:
            flash(_("Not taken: the file is not UTF-8 text; save it as CSV UTF-8"))
            return redirect(url_for("portal.upload"))
        except csv_import.CsvFileError as exc:
            flash(_("Not taken: %(why)s", why=str(exc)))
            return redirect(url_for("portal.upload"))
        rows = csv_import.take_parsed(db.session, g.account, parsed, actor=_actor())
        people.audit(db.session, current_user, "orders.uploaded", object_type="partner", object_id=g.account.id,
                     details={"created": sum(1 for r in rows if r.created), "rejected": sum(1 for r in rows
                                                                                          if not r.created)},
                     ip=request.remote_addr)
        db.session.commit()
        results = rows
    return render_template("portal/upload.html", results=results)


@bp.get("/upload/template.csv")
def upload_template():
    return current_app.response_class(csv_import.template(), mimetype="text/csv",
                                      headers={"Content-Disposition": 'attachment; filename="waybill-orders.csv"'})


# -- pickups ------------------------------------------------------------------------------

@bp.get("/pickups")
def pickups():
    return render_template("portal/pickups.html", places=crm.pickup_locations_of(db.session, g.account.id))


@bp.post("/pickups/<id:location_id>")
def pickup_window(location_id: int):
    place = db.session.get(PickupLocation, location_id)
    if place is None or place.partner_id != g.account.id:
        abort(404)
    with acting(_("Not changed"), ValueError) as act:
        crm.set_pickup_window(db.session, place.id, time.fromisoformat(request.form.get("ready_from", "")),
                              time.fromisoformat(request.form.get("ready_until", "")))
        act.audit("pickup_location.window", "pickup_location", place.id,
                  {"from": place.ready_from.isoformat(), "until": place.ready_until.isoformat()})
        act.said(_("%(place)s: ready %(start)s–%(end)s.", place=place.name, start=f"{place.ready_from:%H:%M}",
                   end=f"{place.ready_until:%H:%M}"))
    return redirect(url_for("portal.pickups"))


# -- cases --------------------------------------------------------------------------------

@bp.get("/cases")
def case_list():
    found = cases.find_cases(db.session, status=None, partner_id=g.account.id, limit=200)
    return render_template("portal/cases.html", cases=found, types=cases.TYPES,
                           partner_case_types=PARTNER_CASE_TYPES, tz=clock.network_zone())


@bp.post("/cases")
def open_case():
    form = request.form
    made = None
    with acting(_("Not opened"), cases.CaseError) as act:
        number = (form.get("tracking_number") or "").strip()
        shipment_id = cases.shipment_for(db.session, number, partner_id=g.account.id) if number else None
        type_ = form.get("type", "")
        if type_ not in PARTNER_CASE_TYPES:
            raise cases.CaseError(_("choose what the problem is"))
        case = cases.open_case(db.session, type_, form.get("subject", ""), form.get("body", ""), opened_via="portal",
                               shipment_id=shipment_id, partner_id=g.account.id, author_id=current_user.id,
                               author_name=_name(), reporter_name=_name(), reporter_email=current_user.email)
        act.audit("case.opened", "case", case.id, {"type": case.type, "via": "portal"})
        act.said(_("Case #%(id)s opened: our customer service answers within %(hours)s business hours.", id=case.id,
                   hours=int(cases.SLA_TARGETS[case.priority][0].total_seconds() // 3600)))
        made = case.id
    if made is None:
        back = request.form.get("back") or ""
        return redirect(back if back.startswith("/portal/") else url_for("portal.case_list"))
    return redirect(url_for("portal.case", case_id=made))


def _case(case_id: int):
    found = cases.case_of(db.session, case_id, partner_id=g.account.id)
    if found is None:
        abort(404)
    return found


@bp.get("/cases/<id:case_id>")
def case(case_id: int):
    found = _case(case_id)
    return render_template("portal/case.html", case=found, thread=cases.thread(db.session, found.id, public_only=True),
                           types=cases.TYPES, outcomes=cases.OUTCOMES, tz=clock.network_zone(),
                           tracking=reads.tracking_number_of(db.session, found.shipment_id) if found.shipment_id
                           else None)


@bp.post("/cases/<id:case_id>/reply")
def case_reply(case_id: int):
    found = _case(case_id)
    with acting(_("Not sent"), cases.CaseError) as act:
        message = cases.receive(db.session, found, request.form.get("body", ""), from_="from_partner",
                                author_name=_name(), author_id=current_user.id)
        act.audit("case.replied", "case", found.id, {"message": message.id, "via": "portal"})
        act.said(_("Sent to our customer service."))
    return redirect(url_for("portal.case", case_id=case_id))


# -- billing ------------------------------------------------------------------------------

def _company() -> Company:
    return Company.from_config(current_app.config)


@bp.get("/billing")
def billing():
    session = db.session
    today = clock.today()
    start = day_of(request.args.get("start")) or today.replace(day=1) - timedelta(days=62)
    end = day_of(request.args.get("end")) or today
    if end < start or (end - start).days > 366:
        start, end = today.replace(day=1), today
    return render_template("portal/billing.html",
                           invoices=invoices.invoices_of(session, partner_id=g.account.id, limit=50),
                           remittances=remittances.remittances_of(session, partner_id=g.account.id, limit=50),
                           statement=payments.statement(session, g.account.id, start, end, currency=g.account.currency),
                           status_of=invoices.status_of, start=start, end=end)


@bp.get("/billing/invoices/<id:invoice_id>.pdf")
def invoice_pdf(invoice_id: int):
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or invoice.partner_id != g.account.id:
        abort(404)
    body = invoices.pdf_of(db.session, invoice, company=_company(), font=current_app.config.get("WAYBILL_LABEL_FONT"))
    return current_app.response_class(body, mimetype="application/pdf",
                                      headers={"Content-Disposition": f'inline; filename="{invoice.number}.pdf"'})


@bp.get("/billing/remittances/<id:remittance_id>.pdf")
def remittance_pdf(remittance_id: int):
    remittance = db.session.get(Remittance, remittance_id)
    if remittance is None or remittance.partner_id != g.account.id:
        abort(404)
    body = remittances.pdf_of(db.session, remittance, company=_company(),
                              font=current_app.config.get("WAYBILL_LABEL_FONT"))
    return current_app.response_class(body, mimetype="application/pdf",
                                      headers={"Content-Disposition": f'inline; filename="{remittance.number}.pdf"'})


@bp.get("/billing/statement.pdf")
def statement_download():
    today = clock.today()
    start = day_of(request.args.get("start")) or today.replace(day=1)
    end = day_of(request.args.get("end")) or today
    if end < start or (end - start).days > 366:
        abort(400)
    found = payments.statement(db.session, g.account.id, start, end, currency=g.account.currency)
    body = statement_pdf(found, g.account, _company(), font=current_app.config.get("WAYBILL_LABEL_FONT"))
    return current_app.response_class(body, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="statement-{start}-{end}.pdf"'})


# -- developers: API keys and webhooks ------------------------------------------------------

@bp.get("/developers")
def developers(new_key: str | None = None, new_secret: str | None = None, status: int = 200):
    session = db.session
    return render_template("portal/developers.html", keys=crm.api_keys_of(session, g.account.id),
                           endpoints=webhooks.health_of(session, g.account.id, since=clock.now() - timedelta(days=1)),
                           new_key=new_key, new_secret=new_secret, event_types=webhooks.EVENT_TYPES,
                           tz=clock.network_zone()), status


@bp.post("/developers/keys")
def issue_key():
    with acting(_("Not issued")) as act:
        record, key = crm.issue_api_key(db.session, g.account)
        act.audit("partner.key_issued", "partner", g.account.id, {"key": record.prefix, "via": "portal"})
    return developers(new_key=key, status=201)  # shown once, here, and nowhere else


@bp.post("/developers/keys/revoke")
def revoke_key():
    prefix = request.form.get("prefix", "")
    with acting(_("Not revoked"), LookupError) as act:
        crm.revoke_api_key(db.session, prefix, partner_id=g.account.id)
        act.audit("partner.key_revoked", "partner", g.account.id, {"key": prefix, "via": "portal"})
        act.said(_("Key %(key)s revoked: requests with it are refused within seconds.", key=prefix))
    return redirect(url_for("portal.developers"))


@bp.post("/developers/endpoints")
def add_endpoint():
    form = request.form
    secret = None
    with acting(_("Not added"), webhooks.WebhookError) as act:
        endpoint = webhooks.create_endpoint(
            db.session, g.account, url=(form.get("url") or "").strip(), event_types=form.getlist("events"),
            description=(form.get("description") or "")[:200],
            allow_private=current_app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"])
        act.audit("webhook_endpoint.created", "webhook_endpoint", endpoint.id, {"url": endpoint.url})
        secret = endpoint.secret
    if secret is None:
        return redirect(url_for("portal.developers"))
    return developers(new_secret=secret, status=201)


def _endpoint(endpoint_id: int):
    found = webhooks.endpoint_of(db.session, g.account.id, endpoint_id)
    if found is None:
        abort(404)
    return found


@bp.post("/developers/endpoints/<id:endpoint_id>/delete")
def delete_endpoint(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    with acting(_("Not deleted")) as act:
        url = endpoint.url
        webhooks.delete_endpoint(db.session, endpoint)
        act.audit("webhook_endpoint.deleted", "webhook_endpoint", endpoint_id, {"url": url})
        act.said(_("%(url)s deleted: nothing more is sent to it.", url=url))
    return redirect(url_for("portal.developers"))


@bp.get("/developers/endpoints/<id:endpoint_id>")
def endpoint_log(endpoint_id: int):
    endpoint = _endpoint(endpoint_id)
    status = request.args.get("status") or None
    deliveries, _ = webhooks.deliveries_of(db.session, endpoint.id, status=status, limit=100)
    return render_template("portal/endpoint.html", endpoint=endpoint, deliveries=deliveries, status=status,
                           tz=clock.network_zone())


# -- the account's people ---------------------------------------------------------------------

@bp.get("/users")
def users():
    return render_template("portal/users.html", users=people.users_of_partner(db.session, g.account.id),
                           tz=clock.network_zone())


@bp.post("/users")
def add_user():
    form = request.form
    with acting(_("Not added"), people.AccountError) as act:
        user = people.create_user(db.session, form.get("email", ""), role="partner", password=form.get("password", ""),
                                  name=(form.get("name") or "")[:200], partner_id=g.account.id)
        act.audit("user.created", "user", user.id, {"email": user.email, "role": "partner", "via": "portal"})
        act.said(_("%(email)s can sign in now.", email=user.email))
    return redirect(url_for("portal.users"))


@bp.post("/users/<id:user_id>/active")
def user_active(user_id: int):
    user = db.session.get(User, user_id)
    if user is None or user.partner_id != g.account.id or user.role != "partner":
        abort(404)
    active = request.form.get("active") == "on"
    if user.id == current_user.id and not active:
        flash(_("Not changed: you cannot switch yourself off"))
        return redirect(url_for("portal.users"))
    with acting(_("Not changed")) as act:
        people.set_active(db.session, user, active)
        act.audit("user.activated" if active else "user.deactivated", "user", user.id, {"via": "portal"})
        act.said(_("%(email)s can sign in again.", email=user.email) if active
                 else _("%(email)s is signed out and cannot sign in.", email=user.email))
    return redirect(url_for("portal.users"))
