"""Console: account management and customer service under /console/crm.

Accounts (a partner's status, owner, contacts, activities, and a page that shows all that
Waybill knows of it) for account managers; cases (queues, SLA clocks, threads, outcomes)
for customer service."""
from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from app import clock
from app.auth import services as people
from app.auth.web import roles_required
from app.billing import fees, invoices, payments, remittances
from app.billing.money import Money
from app.billing.rating import SERVICE_LEVELS
from app.console import exports, words
from app.console.words import span
from app.console.acting import acting
from app.console.views import bp, format_money
from app.crm import accounts as book
from app.crm import campaigns, cases, csat, notifications, pipeline, wording
from app.crm import customers as known
from app.crm import services as crm
from app.crm.models import Activity, Campaign, Case, Contact, Customer, Lead, Partner
from app.db import db
from app.delivery import reads as delivery_reads
from app.forms import day_of
from app.hubs.services import all_hubs
from app.orders import console_reads
from app.orders.intake import AddressIn, IntakeError, locate_address
from app.orders.lifecycle import public_status
from app.orders.models import Shipment
from app.orders.words import named
from app.webhooks import services as webhooks

ACCOUNT_ROLES = ("admin", "account_manager")
CASE_ROLES = ("admin", "customer_service", "account_manager", "dispatcher", "finance")
#: Who may resolve a case with a compensation (it credits the partner).
COMPENSATION_ROLES = ("admin", "customer_service", "finance")
WEEKS = 12


def _row(model, row_id: int):
    """The row of ``model`` with this id, or a 404."""
    found = db.session.get(model, row_id)
    if found is None:
        abort(404)
    return found


def _partner(partner_id: int) -> Partner:
    return _row(Partner, partner_id)


def _name() -> str:
    return current_user.name or current_user.email


# -- accounts -----------------------------------------------------------------------------

@bp.get("/crm")
@roles_required(*CASE_ROLES)
def crm_home():
    if current_user.role in ACCOUNT_ROLES:
        return redirect(url_for("console.accounts"))
    return redirect(url_for("console.case_list"))


@bp.get("/crm/accounts")
@roles_required(*ACCOUNT_ROLES)
def accounts():
    status = request.args.get("status") or None
    mine = request.args.get("mine") == "1"
    partners = [p for p in crm.all_partners(db.session)
                if (status is None or p.status == status) and (not mine or p.owner_id == current_user.id)]
    open_cases = {}
    for case in cases.find_cases(db.session, status="open", limit=5000):
        open_cases[case.partner_id] = open_cases.get(case.partner_id, 0) + 1
    owners = {u.id: u for u in people.staff_with_roles(db.session, ACCOUNT_ROLES)}
    return render_template("console/crm_accounts.html", partners=partners, open_cases=open_cases, owners=owners,
                           statuses=book.STATUSES, status=status, mine=mine, tz=clock.network_zone(),
                           tasks=book.open_tasks(db.session, owner_id=current_user.id, limit=20))


@bp.get("/crm/accounts/<id:partner_id>")
@roles_required(*ACCOUNT_ROLES)
def account(partner_id: int):
    partner = _partner(partner_id)
    session, today, tz = db.session, clock.today(), clock.network_zone()
    weeks = console_reads.partner_weeks(session, partner.id, weeks=WEEKS, today=today, tz=tz)
    since = datetime.combine(weeks[0].start, time(0), tz)
    month_start = today.replace(day=1)
    statement = payments.statement(session, partner.id, month_start, today, currency=partner.currency)
    cod = remittances.cod_payable(session, partner_id=partner.id)
    revenue = fees.charged_between(session, partner.id, datetime.combine(month_start, time(0), tz), clock.now())
    return render_template(
        "console/crm_account.html", partner=partner, weeks=weeks,
        max_created=max((w.created for w in weeks), default=0) or 1,
        reasons=delivery_reads.failure_reasons(session, partner.id, since=since),
        cases=cases.find_cases(session, status="open", partner_id=partner.id, limit=50),
        case_counts=cases.counts_by_status(session, partner_id=partner.id),
        contacts=book.contacts_of(session, partner.id),
        keys=crm.api_keys_of(session, partner.id),
        endpoints=webhooks.health_of(session, partner.id, since=clock.now() - timedelta(days=1)),
        statement=statement, cod=cod, revenue=revenue, month_start=month_start,
        csat=csat.scores_of(session, partner.id, since=since), csat_comments=csat.comments_of(session, partner.id),
        invoices=invoices.invoices_of(session, partner_id=partner.id, limit=5), status_of=invoices.status_of,
        timeline=_timeline(partner), owners=people.staff_with_roles(session, ACCOUNT_ROLES),
        statuses=book.STATUSES, moves=book.MOVES[partner.status], contact_roles=book.CONTACT_ROLES,
        subscriptions=book.SUBSCRIPTIONS, activity_kinds=book.ACTIVITY_KINDS, tz=tz,
        case_types=cases.TYPES, Money=Money)


def _timeline(partner: Partner, limit: int = 60) -> list[tuple[datetime, str, str, str | None]]:
    """Everything that happened with the account, newest first: (when, kind, text, link)."""
    session = db.session
    items: list[tuple[datetime, str, str, str | None]] = []
    for a in book.activities_of(session, "partner", partner.id)[:limit]:
        text = a.summary
        if a.due_at:
            text += " — " + _("due %(when)s", when=format_datetime(a.due_at, "dd MMM HH:mm"))
        if a.kind == "task" and a.done_at:
            text += " (" + _("done") + ")"
        items.append((a.created_at, a.kind, text, None))
    for c in cases.find_cases(session, status=None, partner_id=partner.id, limit=limit):
        items.append((c.created_at, "case", _("Case #%(id)s %(subject)s (%(status)s)", id=c.id, subject=c.subject,
                                              status=named(c.status, cases.STATUS_WORDS)),
                      url_for("console.case", case_id=c.id)))
    for inv, _paid in invoices.invoices_of(session, partner_id=partner.id, limit=limit):
        items.append((datetime.combine(inv.issued_on, time(0), clock.network_zone()), inv.kind,
                      f"{inv.number}: {format_money(inv.total_amount, inv.currency)}",
                      url_for("console.invoice", invoice_id=inv.id)))
    for entry in people.audit_entries_about(session, "partner", str(partner.id), limit=limit):
        if not entry.action.startswith("partner."):
            continue  # an activity's own entry: the activity is on the timeline already
        what = entry.action.split(".", 1)[-1].replace("_", " ")
        items.append((entry.at, "change", _("%(what)s by %(who)s", what=what, who=entry.user_email or "Waybill"), None))
    items.sort(key=lambda i: i[0], reverse=True)
    return items[:limit]


@bp.post("/crm/accounts/<id:partner_id>/status")
@roles_required(*ACCOUNT_ROLES)
def account_status(partner_id: int):
    partner = _partner(partner_id)
    status = request.form.get("status", "")
    with acting(_("Not changed"), book.AccountError) as act:
        before = book.set_status(db.session, partner, status)
        act.audit("partner.status_changed", "partner", partner.id, {"from": before, "to": status})
        said = named(status, words.ACCOUNT_STATUS_WORDS)
        act.said(_("%(name)s is %(status)s.", name=partner.name, status=said) if partner.active
                 else _("%(name)s is %(status)s: its API keys are refused.", name=partner.name, status=said))
    return redirect(url_for("console.account", partner_id=partner.id))


@bp.post("/crm/accounts/<id:partner_id>/owner")
@roles_required(*ACCOUNT_ROLES)
def account_owner(partner_id: int):
    partner = _partner(partner_id)
    raw = request.form.get("owner_id", "")
    owners = {u.id: u for u in people.staff_with_roles(db.session, ACCOUNT_ROLES)}
    owner_id = int(raw) if raw.isdigit() and int(raw) in owners else None
    if raw and owner_id is None:
        abort(400)
    with acting(_("Not changed")) as act:
        book.set_owner(db.session, partner, owner_id)
        act.audit("partner.owner_changed", "partner", partner.id, {"owner": owner_id})
        act.said(_("%(name)s is owned by %(owner)s.", name=partner.name,
                   owner=owners[owner_id].name or owners[owner_id].email) if owner_id
                 else _("%(name)s has no owner.", name=partner.name))
    return redirect(url_for("console.account", partner_id=partner.id))


def _contact_form() -> dict:
    form = request.form
    return {"name": form.get("name", ""), "email": form.get("email"), "phone": form.get("phone"),
            "roles": form.getlist("roles"), "subscriptions": form.getlist("subscriptions")}


@bp.post("/crm/accounts/<id:partner_id>/contacts")
@roles_required(*ACCOUNT_ROLES)
def add_contact(partner_id: int):
    partner = _partner(partner_id)
    fields = _contact_form()
    if request.form.get("default_subscriptions") == "on":
        fields["subscriptions"] = None
    with acting(_("Not added"), book.AccountError) as act:
        contact = book.add_contact(db.session, partner.id, fields.pop("name"), **fields)
        act.audit("partner.contact_added", "partner", partner.id, {"contact": contact.id, "name": contact.name})
        act.said(_("%(name)s added.", name=contact.name))
    return redirect(url_for("console.account", partner_id=partner.id) + "#contacts")


@bp.post("/crm/accounts/<id:partner_id>/contacts/<id:contact_id>")
@roles_required(*ACCOUNT_ROLES)
def edit_contact(partner_id: int, contact_id: int):
    partner = _partner(partner_id)
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.partner_id != partner.id:
        abort(404)
    fields = _contact_form()
    with acting(_("Not changed"), book.AccountError) as act:
        book.update_contact(db.session, contact, active=request.form.get("active") == "on", **fields)
        act.audit("partner.contact_changed", "partner", partner.id, {"contact": contact.id})
        act.said(_("%(name)s saved.", name=contact.name))
    return redirect(url_for("console.account", partner_id=partner.id) + "#contacts")


def _due(form) -> datetime | None:
    day = day_of(form.get("due_day"))
    if day is None:
        return None
    raw = form.get("due_time") or "09:00"
    try:
        hour, minute = (int(x) for x in raw.split(":", 1))
        return datetime.combine(day, time(hour, minute), clock.network_zone())
    except ValueError:
        raise book.AccountError(f"{raw!r} is not a time (HH:MM)") from None


@bp.post("/crm/<subject>/<id:subject_id>/activities")
@roles_required(*CASE_ROLES)
def log_activity(subject: str, subject_id: int):
    if subject not in ("accounts", "cases", "leads"):
        abort(404)
    subject_type = {"accounts": "partner", "cases": "case", "leads": "lead"}[subject]
    if subject_type in ("partner", "lead") and current_user.role not in ACCOUNT_ROLES:
        abort(403)
    if subject_type == "partner":
        _partner(subject_id)
        back = url_for("console.account", partner_id=subject_id) + "#timeline"
    elif subject_type == "lead":
        _lead(subject_id)
        back = url_for("console.lead", lead_id=subject_id) + "#activities"
    else:
        _case(subject_id)
        back = url_for("console.case", case_id=subject_id)
    form = request.form
    with acting(_("Not logged"), book.AccountError) as act:
        owner = form.get("owner_id", "")
        activity = book.log_activity(
            db.session, subject_type, subject_id, form.get("kind", ""), form.get("summary", ""),
            body=form.get("body"), due_at=_due(form), created_by=current_user.id,
            owner_id=int(owner) if owner.isdigit() else current_user.id)
        act.audit("activity.logged", subject_type, subject_id, {"activity": activity.id, "kind": activity.kind})
        act.said(_("Logged: %(kind)s.", kind=named(activity.kind, words.ACTIVITY_WORDS)))
    return redirect(back)


@bp.post("/crm/activities/<id:activity_id>/done")
@roles_required(*CASE_ROLES)
def complete_task(activity_id: int):
    activity = _row(Activity, activity_id)
    with acting(_("Not done"), book.AccountError) as act:
        book.complete_task(db.session, activity)
        act.audit("activity.done", activity.subject_type, activity.subject_id, {"activity": activity.id})
        act.said(_("Done: %(what)s", what=activity.summary))
    return redirect(request.form.get("back") if (request.form.get("back") or "").startswith("/console/")
                    else url_for("console.accounts"))


# -- cases --------------------------------------------------------------------------------

def _case(case_id: int) -> Case:
    return _row(Case, case_id)


@bp.get("/crm/cases")
@roles_required(*CASE_ROLES)
def case_list():
    args = request.args
    status = args.get("status", "open")
    queue = args.get("queue") or None
    mine = args.get("mine") == "1"
    found = cases.find_cases(db.session, status=None if status == "all" else status,
                             queue=queue if queue in cases.QUEUES else None,
                             owner_id=current_user.id if mine else None)
    now = clock.now()
    return render_template("console/crm_cases.html", cases=found, clocks={c.id: cases.clocks(c, now=now) for c in found},
                           partners={p.id: p for p in crm.all_partners(db.session)}, status=status, queue=queue,
                           mine=mine, queues=cases.QUEUES, statuses=cases.STATUSES, types=cases.TYPES,
                           priorities=cases.PRIORITIES, span=span,
                           owners={u.id: u for u in people.staff_with_roles(db.session, CASE_ROLES)})


@bp.get("/crm/cases/export.<any(csv, xlsx):fmt>")
@roles_required(*CASE_ROLES)
def cases_export(fmt: str):
    """The cases the list shows (its status, queue and "mine"), every one, as a file."""
    args = request.args
    status, queue = args.get("status", "open"), args.get("queue") or None
    owners = {u.id: u.name or u.email for u in people.staff_with_roles(db.session, CASE_ROLES)}
    partners = {p.id: p.name for p in crm.all_partners(db.session)}

    def page(after):
        found = cases.find_cases(db.session, status=None if status == "all" else status,
                                 queue=queue if queue in cases.QUEUES else None,
                                 owner_id=current_user.id if args.get("mine") == "1" else None,
                                 after_id=after, by_id=True, limit=exports.PAGE)
        return found, (found[-1].id if len(found) == exports.PAGE else None)

    header = ("case", "type", "status", "priority", "queue", "subject", "partner", "shipment_id", "opened_via",
              "owner", "created_at", "first_response_due", "first_response_at", "resolution_due", "resolved_at",
              "outcome")
    rows = ((c.id, c.type, c.status, c.priority, c.queue, c.subject, partners.get(c.partner_id), c.shipment_id,
             c.opened_via, owners.get(c.owner_id), c.created_at, c.first_response_due, c.first_response_at,
             c.resolution_due, c.resolved_at, c.outcome) for c in exports.paged(page))
    return exports.send("cases", fmt, header, rows)


@bp.post("/crm/cases")
@roles_required(*CASE_ROLES)
def open_case():
    form = request.form
    made = None
    with acting(_("Not opened"), cases.CaseError) as act:
        number = (form.get("tracking_number") or "").strip()
        shipment_id = cases.shipment_for(db.session, number) if number else None
        priority = form.get("priority") or None
        case = cases.open_case(db.session, form.get("type", ""), form.get("subject", ""), form.get("body", ""),
                               opened_via="staff", shipment_id=shipment_id, priority=priority,
                               author_id=current_user.id, author_name=_name())
        case.owner_id = current_user.id
        act.audit("case.opened", "case", case.id, {"type": case.type, "shipment": shipment_id})
        act.said(_("Case #%(id)s opened.", id=case.id))
        made = case.id
    if made is None:
        return redirect(url_for("console.case_list"))
    return redirect(url_for("console.case", case_id=made))


@bp.get("/crm/cases/<id:case_id>")
@roles_required(*CASE_ROLES)
def case(case_id: int):
    found = _case(case_id)
    session = db.session
    shipment = session.get(Shipment, found.shipment_id) if found.shipment_id else None
    return render_template(
        "console/crm_case.html", case=found, clocks=cases.clocks(found), span=span,
        thread=cases.thread(session, found.id), shipment=shipment,
        partner=session.get(Partner, found.partner_id) if found.partner_id else None,
        customer=cases.customer_of(session, found), activities=book.activities_of(session, "case", found.id),
        owners=people.staff_with_roles(session, CASE_ROLES), queues=cases.QUEUES, priorities=cases.PRIORITIES,
        moves=sorted(cases.MOVES[found.status]), outcomes=cases.OUTCOMES, types=cases.TYPES,
        can_compensate=current_user.role in COMPENSATION_ROLES, credit_note=cases.credit_note_of(session, found),
        tomorrow=clock.today() + timedelta(days=1), tz=clock.network_zone(),
        recipients={k: cases.recipient_for(session, found, k) for k in cases.OUTBOUND},
        activity_kinds=book.ACTIVITY_KINDS)


@bp.post("/crm/cases/<id:case_id>/reply")
@roles_required(*CASE_ROLES)
def case_reply(case_id: int):
    found = _case(case_id)
    kind = request.form.get("kind", "note")
    with acting(_("Not sent"), cases.CaseError) as act:
        message = cases.reply(db.session, found, kind, request.form.get("body", ""), author_id=current_user.id,
                              author_name=_name(), wait=request.form.get("wait") == "on")
        act.audit("case.replied", "case", found.id, {"message": message.id, "kind": kind})
        act.said(_("Note added.") if kind == "note" else _("E-mail to %(to)s on its way.", to=message.recipient))
    return redirect(url_for("console.case", case_id=case_id) + "#thread")


@bp.post("/crm/cases/<id:case_id>/status")
@roles_required(*CASE_ROLES)
def case_status(case_id: int):
    found = _case(case_id)
    status = request.form.get("status", "")
    with acting(_("Not changed"), cases.CaseError) as act:
        before = found.status
        cases.set_status(db.session, found, status, author_id=current_user.id, author_name=_name())
        act.audit("case.status_changed", "case", found.id, {"from": before, "to": status})
        act.said(_("Case #%(id)s is %(status)s.", id=found.id, status=named(status, cases.STATUS_WORDS)))
    return redirect(url_for("console.case", case_id=case_id))


@bp.post("/crm/cases/<id:case_id>/assign")
@roles_required(*CASE_ROLES)
def case_assign(case_id: int):
    found = _case(case_id)
    form = request.form
    owners = {u.id for u in people.staff_with_roles(db.session, CASE_ROLES)}
    raw = form.get("owner_id", "")
    owner_id = int(raw) if raw.isdigit() and int(raw) in owners else None
    with acting(_("Not changed"), cases.CaseError) as act:
        cases.assign(db.session, found, owner_id=owner_id, queue=form.get("queue", found.queue),
                     priority=form.get("priority", found.priority), author_id=current_user.id, author_name=_name())
        act.audit("case.assigned", "case", found.id, {"owner": owner_id, "queue": found.queue,
                                                       "priority": found.priority})
        act.said(_("Case #%(id)s saved.", id=found.id))
    return redirect(url_for("console.case", case_id=case_id))


@bp.post("/crm/cases/<id:case_id>/resolve")
@roles_required(*CASE_ROLES)
def case_resolve(case_id: int):
    found = _case(case_id)
    form = request.form
    outcome = form.get("outcome", "")
    if outcome in ("compensation", "claim") and current_user.role not in COMPENSATION_ROLES:
        abort(403)
    with acting(_("Not resolved"), cases.CaseError, payments.PaymentError) as act:
        amount = None
        if outcome == "compensation" or (outcome == "claim" and (form.get("amount") or "").strip()):
            currency = (found.partner_id and _partner(found.partner_id).currency) or "VND"
            amount = payments.parse_amount(form.get("amount", ""), currency)
        details = cases.resolve(db.session, found, outcome, note=form.get("note", ""), author_id=current_user.id,
                                author_name=_name(), amount=amount, day=day_of(form.get("day")))
        act.audit("case.resolved", "case", found.id, {"outcome": outcome, **details})
        amount = format_money(details["amount"], details["currency"]) if "amount" in details else ""
        if "credit_note" in details:
            act.said(_("Case #%(id)s resolved: credit note %(number)s for %(amount)s.", id=found.id,
                       number=details["credit_note"], amount=amount))
        elif "adjustment_id" in details:
            act.said(_("Case #%(id)s resolved: %(amount)s off the shipment's charges.", id=found.id, amount=amount))
        elif "claim_id" in details:
            act.said(_("Case #%(id)s resolved: %(amount)s owed to the partner, for finance to pay.", id=found.id,
                       amount=amount))
        else:
            act.said(_("Case #%(id)s resolved.", id=found.id))
    return redirect(url_for("console.case", case_id=case_id))



# -- customers ----------------------------------------------------------------------------

def _customer(customer_id: int) -> Customer:
    return _row(Customer, customer_id)


@bp.get("/crm/customers")
@roles_required(*CASE_ROLES)
def customers():
    q = (request.args.get("q") or "").strip()
    found = known.find(db.session, q) if q else []
    if len(found) == 1 and request.args.get("go") != "0":
        return redirect(url_for("console.customer", customer_id=found[0].id))
    return render_template("console/crm_customers.html", q=q, found=found)


@bp.get("/crm/customers/<id:customer_id>")
@roles_required(*CASE_ROLES)
def customer(customer_id: int):
    session = db.session
    record = _customer(customer_id)
    person = known.root_of(session, record)
    ids = known.family(session, person.id)
    return render_template(
        "console/crm_customer.html", record=record, person=person,
        records=[session.get(Customer, i) for i in ids],
        orders=console_reads.customer_orders(session, ids), messages=notifications.messages_of_customers(session, ids),
        cases=cases.find_cases(session, status=None, customer_ids=ids, limit=50),
        merges=[m for i in ids for m in known.merges_of(session, i)], duplicates=known.duplicates(session, person),
        languages=known.LANGUAGES, times=known.TIMES, tz=clock.network_zone(), public_status=public_status)


@bp.post("/crm/customers/<id:customer_id>/preferences")
@roles_required(*CASE_ROLES)
def customer_preferences(customer_id: int):
    record = _customer(customer_id)
    form = request.form
    with acting(_("Not saved"), known.CustomerError) as act:
        known.set_preferences(db.session, record, language=form.get("language") or None,
                              instructions=form.get("instructions"), safe_place=form.get("safe_place"),
                              preferred_time=form.get("preferred_time") or None,
                              notify_email=form.get("notify_email") == "on", notify_sms=form.get("notify_sms") == "on",
                              email=form.get("email"))
        known.set_consent(db.session, record, marketing=form.get("marketing_consent") == "on")
        known.opt_out(db.session, record, out=form.get("opted_out") == "on")
        act.audit("customer.preferences_changed", "customer", record.id,
                  {"language": record.language, "consent": record.marketing_consent,
                   "opted_out": record.opted_out_at is not None})
        act.said(_("Saved: every message from now follows these wishes."))
    return redirect(url_for("console.customer", customer_id=customer_id))


@bp.post("/crm/customers/<id:customer_id>/merge")
@roles_required(*CASE_ROLES)
def merge_customer(customer_id: int):
    survivor = _customer(customer_id)
    form = request.form
    with acting(_("Not merged"), known.CustomerError) as act:
        other = db.session.get(Customer, int(form["other_id"])) if (form.get("other_id") or "").isdigit() else None
        if other is None:
            found = known.find(db.session, form.get("other", ""))
            if len(found) != 1:
                raise known.CustomerError("name the other record by its phone or e-mail (one record)")
            other = found[0]
        record = known.merge(db.session, survivor, other, reason=form.get("reason", ""), user_id=current_user.id)
        act.audit("customer.merged", "customer", record.survivor_id, {"merged": record.merged_id,
                                                                       "merge": record.id, "reason": record.reason})
        act.said(_("%(phone)s merged into this customer: their orders, messages and cases are one person's.",
                   phone=other.phone))
    return redirect(url_for("console.customer", customer_id=customer_id))


@bp.post("/crm/customers/merges/<id:merge_id>/undo")
@roles_required(*CASE_ROLES)
def undo_customer_merge(merge_id: int):
    with acting(_("Not undone"), known.CustomerError) as act:
        record = known.undo_merge(db.session, merge_id, user_id=current_user.id)
        act.audit("customer.merge_undone", "customer", record.survivor_id, {"merged": record.merged_id,
                                                                             "merge": record.id})
        act.said(_("Merge undone: the two records are apart again, each with its own orders and messages."))
    back = request.form.get("back") or ""
    return redirect(back if back.startswith("/console/") else url_for("console.customers"))


# -- the sales pipeline ---------------------------------------------------------------------

def _lead(lead_id: int) -> Lead:
    return _row(Lead, lead_id)


def _int(raw: str | None, name: str) -> int:
    raw = (raw or "").replace(",", "").replace(".", "").strip()
    if not raw:
        return 0
    if not raw.isdigit():
        raise pipeline.PipelineError(f"{name}: a whole number")
    return int(raw)


@bp.get("/crm/pipeline")
@roles_required(*ACCOUNT_ROLES)
def pipeline_board():
    session = db.session
    mine = request.args.get("mine") == "1"
    found = pipeline.leads(session, owner_id=current_user.id if mine else None)
    by_stage = {stage: [lead for lead in found if lead.stage == stage] for stage in pipeline.STAGES}
    return render_template("console/crm_pipeline.html", by_stage=by_stage, board=pipeline.board(session),
                           funnel=pipeline.funnel(session), stages=pipeline.STAGES, mine=mine,
                           owners={u.id: u for u in people.staff_with_roles(session, ACCOUNT_ROLES)},
                           levels=SERVICE_LEVELS, currency=current_app.config["WAYBILL_CURRENCY"])


def _lead_fields(form) -> dict:
    return {"company": form.get("company", ""), "contact_name": form.get("contact_name", ""),
            "email": form.get("email"), "phone": form.get("phone"),
            "monthly_parcels": _int(form.get("monthly_parcels"), "parcels a month"),
            "typical_grams": _int(form.get("typical_grams"), "weight") or 1000,
            "service_level": form.get("service_level") or "standard",
            "typical_cod": _int(form.get("typical_cod"), "cash on delivery"),
            "pickup_address": form.get("pickup_address"), "note": form.get("note")}


@bp.post("/crm/leads")
@roles_required(*ACCOUNT_ROLES)
def add_lead():
    made = None
    with acting(_("Not added"), pipeline.PipelineError) as act:
        lead = pipeline.add_lead(db.session, **_lead_fields(request.form), source="manual",
                                 owner_id=current_user.id, created_by=current_user.id,
                                 currency=current_app.config["WAYBILL_CURRENCY"])
        act.audit("lead.added", "lead", lead.id, {"company": lead.company})
        act.said(_("%(name)s added.", name=lead.company))
        made = lead.id
    return redirect(url_for("console.lead", lead_id=made) if made else url_for("console.pipeline_board"))


@bp.post("/crm/leads/import")
@roles_required(*ACCOUNT_ROLES)
def import_leads():
    file = request.files.get("file")
    try:
        text = (file.read() if file else b"").decode("utf-8-sig")
    except UnicodeDecodeError:
        flash(_("Not imported: the file is not UTF-8 text; save it as CSV UTF-8"))
        return redirect(url_for("console.pipeline_board"))
    taken, refused = [], []
    for line, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        try:
            with db.session.begin_nested():
                fields = _lead_fields({k.strip(): (v or "") for k, v in row.items() if k})
                taken.append(pipeline.add_lead(db.session, **fields, source="import", owner_id=current_user.id,
                                               created_by=current_user.id,
                                               currency=current_app.config["WAYBILL_CURRENCY"]))
        except pipeline.PipelineError as exc:
            refused.append(f"line {line}: {exc}")
    people.audit(db.session, current_user, "leads.imported", details={"taken": len(taken), "refused": refused[:50]},
                 ip=request.remote_addr)
    db.session.commit()
    flash(_("%(taken)s leads imported, %(refused)s refused", taken=len(taken), refused=len(refused))
          + (": " + "; ".join(refused[:10]) if refused else "."))
    return redirect(url_for("console.pipeline_board"))


@bp.get("/crm/leads/<id:lead_id>")
@roles_required(*ACCOUNT_ROLES)
def lead(lead_id: int, onboarded=None, status: int = 200):
    found = _lead(lead_id)
    session = db.session
    return render_template(
        "console/crm_lead.html", lead=found, changes=pipeline.stage_changes(session, found.id),
        activities=book.activities_of(session, "lead", found.id), moves=sorted(pipeline.MOVES[found.stage] - {
            "proposal", "won", "lost"}), levels=SERVICE_LEVELS, onboarded=onboarded, tz=clock.network_zone(),
        activity_kinds=book.ACTIVITY_KINDS, owners=people.staff_with_roles(session, ACCOUNT_ROLES),
        partner=session.get(Partner, found.partner_id) if found.partner_id else None), status


@bp.post("/crm/leads/<id:lead_id>/stage")
@roles_required(*ACCOUNT_ROLES)
def lead_stage(lead_id: int):
    found = _lead(lead_id)
    stage = request.form.get("stage", "")
    with acting(_("Not moved"), pipeline.PipelineError) as act:
        before = found.stage
        pipeline.move(db.session, found, stage, by=current_user.id)
        act.audit("lead.moved", "lead", found.id, {"from": before, "to": stage})
        act.said(_("%(name)s is %(stage)s.", name=found.company, stage=named(stage, words.STAGE_WORDS)))
    return redirect(url_for("console.lead", lead_id=lead_id))


@bp.post("/crm/leads/<id:lead_id>/offer")
@roles_required(*ACCOUNT_ROLES)
def lead_offer(lead_id: int):
    found = _lead(lead_id)
    form = request.form
    with acting(_("No offer"), pipeline.PipelineError) as act:
        try:
            percent = Decimal((form.get("discount") or "0").replace(",", ".").strip() or "0")
        except InvalidOperation:
            raise pipeline.PipelineError("the discount is a percentage, e.g. 12.5") from None
        offer = pipeline.propose(db.session, found, discount_bp=int(percent * 100),
                                 service_level=form.get("service_level") or None, by=current_user.id)
        act.audit("lead.offered", "lead", found.id, {"discount_bp": found.offer["discount_bp"],
                                                     "price": offer.price.amount})
        act.said(_("Offer made: %(price)s a parcel (list %(list)s), %(month)s a month.",
                   price=format_money(offer.price.amount, offer.price.currency),
                   list=format_money(offer.list_price.amount, offer.list_price.currency),
                   month=format_money(found.value_amount, found.currency)))
    return redirect(url_for("console.lead", lead_id=lead_id))


@bp.post("/crm/leads/<id:lead_id>/lose")
@roles_required(*ACCOUNT_ROLES)
def lose_lead(lead_id: int):
    found = _lead(lead_id)
    with acting(_("Not changed"), pipeline.PipelineError) as act:
        pipeline.lose(db.session, found, request.form.get("reason", ""), by=current_user.id)
        act.audit("lead.lost", "lead", found.id, {"reason": found.lost_reason})
        act.said(_("%(name)s lost: %(why)s.", name=found.company, why=found.lost_reason))
    return redirect(url_for("console.lead", lead_id=lead_id))


@bp.post("/crm/leads/<id:lead_id>/win")
@roles_required(*ACCOUNT_ROLES)
def win_lead(lead_id: int):
    form = request.form
    pickup = None
    if (form.get("line1") or "").strip():
        _lead(lead_id)
        db.session.rollback()  # the geocoder may take seconds: no transaction is held across it
        try:
            pickup = locate_address(AddressIn(line1=form.get("line1", ""), district=form.get("district", ""),
                                              city=form.get("city", ""), country="VN", postal_code=""))
        except IntakeError as exc:
            flash(_("Not won: the pickup address: %(why)s", why=exc))
            return redirect(url_for("console.lead", lead_id=lead_id))
    found = _lead(lead_id)
    onboarded = None
    with acting(_("Not won"), pipeline.PipelineError) as act:
        onboarded = pipeline.win(db.session, found, pickup=pickup, by=current_user.id)
        act.audit("lead.won", "lead", found.id, {"partner": onboarded.partner.id, "login": onboarded.login_email,
                                                 "contract": onboarded.contract.id})
        act.said(_("%(name)s won and onboarding: hand over the login and the API key below (shown once).",
                   name=found.company))
    if onboarded is None:
        return redirect(url_for("console.lead", lead_id=lead_id))
    return lead(lead_id, onboarded=onboarded, status=201)


# -- message templates ------------------------------------------------------------------------

@bp.route("/crm/messages", methods=["GET", "POST"])
@roles_required(*ACCOUNT_ROLES)
def message_templates():
    """The wording of customer messages: pick an event, channel, language and partner;
    see the current wording; preview and save a template (rendered in the sandbox)."""
    session = db.session
    source = request.form if request.method == "POST" else request.args
    event = source.get("event") if source.get("event") in wording.EVENTS else wording.EVENTS[0]
    channel = source.get("channel") if source.get("channel") in wording.CHANNELS else "sms"
    language = source.get("language") if source.get("language") in wording.LANGUAGES else "vi"
    raw_partner = source.get("partner_id") or ""
    partner_id = int(raw_partner) if raw_partner.isdigit() and session.get(Partner, int(raw_partner)) else None
    current = wording.load(session).find(event, channel, language, partner_id)
    own = current is not None and current.partner_id == partner_id
    subject, body = (current.subject, current.body) if current else ("", "")
    preview, error = None, None
    if request.method == "POST":
        subject, body = request.form.get("subject", ""), request.form.get("body", "")
        action = request.form.get("action")
        if action == "default":
            with acting(_("Not changed")) as act:
                if own:
                    wording.remove(session, current)
                    act.audit("template.removed", "message_template", current.id, {"key": current.key})
                act.said(_("Back to the default wording."))
            return redirect(url_for("console.message_templates", event=event, channel=channel, language=language,
                                    partner_id=partner_id or ""))
        try:
            preview = wording.check(event, channel, subject, body)
        except wording.WordingError as exc:
            error = str(exc)
        if action == "save" and error is None:
            with acting(_("Not saved"), wording.WordingError) as act:
                row = wording.save(session, event=event, channel=channel, language=language, partner_id=partner_id,
                                   subject=subject, body=body, user_id=current_user.id)
                act.audit("template.saved", "message_template", row.id, {"key": row.key})
                act.said(_("Saved: the next messages use it."))
            return redirect(url_for("console.message_templates", event=event, channel=channel, language=language,
                                    partner_id=partner_id or ""))
    return render_template("console/crm_messages.html", events=wording.EVENTS, channels=wording.CHANNELS,
                           languages=wording.LANGUAGES, event=event, channel=channel, language=language,
                           partner_id=partner_id, partners=crm.all_partners(session), current=current, own=own,
                           subject=subject or "", body=body or "", preview=preview, error=error,
                           variables=wording.VARIABLES[event], templates=wording.templates(session),
                           sms_limit=wording.SMS_LIMIT), 422 if error else 200


# -- campaigns --------------------------------------------------------------------------------

def _segment(form) -> dict:
    numbers = {}
    for name in ("min_shipments", "days", "last_within_days", "inactive_days"):
        raw = (form.get(name) or "").strip()
        if raw:
            if not raw.isdigit():
                raise campaigns.CampaignError(f"{name.replace('_', ' ')}: a whole number")
            numbers[name] = int(raw)
    hubs = [int(h) for h in form.getlist("hub_ids") if h.isdigit()]
    return {**numbers, "hub_ids": hubs, "language": form.get("language") or None}


@bp.route("/crm/campaigns", methods=["GET", "POST"])
@roles_required(*ACCOUNT_ROLES)
def campaign_list():
    session = db.session
    form = request.form if request.method == "POST" else {}
    audience, error = None, None
    if request.method == "POST":
        try:
            segment = campaigns.check_segment(_segment(request.form))
            audience = campaigns.audience(session, segment, request.form.get("channel", "sms"))
        except campaigns.CampaignError as exc:
            error = str(exc)
        if request.form.get("action") == "create" and error is None:
            made = None
            with acting(_("Not made"), campaigns.CampaignError) as act:
                campaign = campaigns.create(session, name=form.get("name", ""), channel=form.get("channel", ""),
                                            subject=form.get("subject"), body=form.get("body", ""),
                                            segment=segment, user_id=current_user.id)
                act.audit("campaign.created", "campaign", campaign.id, {"name": campaign.name,
                                                                       "segment": campaign.segment})
                act.said(_("%(name)s: a draft, for %(num)s customers; schedule it to send.", name=campaign.name,
                           num=format_decimal(audience[1])))
                made = campaign.id
            if made:
                return redirect(url_for("console.campaign", campaign_id=made))
    return render_template("console/crm_campaigns.html", campaigns=campaigns.campaigns(session), form=form,
                           audience=audience, error=error, hubs=all_hubs(session), languages=wording.LANGUAGES,
                           results={c.id: campaigns.results(session, c.id) for c in campaigns.campaigns(session)},
                           tz=clock.network_zone()), 422 if error else 200


def _campaign(campaign_id: int) -> Campaign:
    return _row(Campaign, campaign_id)


@bp.get("/crm/campaigns/<id:campaign_id>")
@roles_required(*ACCOUNT_ROLES)
def campaign(campaign_id: int):
    found = _campaign(campaign_id)
    session = db.session
    return render_template("console/crm_campaign.html", campaign=found, results=campaigns.results(session, found.id),
                           audience=campaigns.audience(session, found.segment, found.channel),
                           preview=wording.render(found.body, {"name": "An",
                                                               "unsubscribe_link": "https://…/unsubscribe/…"}),
                           hubs={h.id: h for h in all_hubs(session)}, tz=clock.network_zone(),
                           now=clock.local().strftime("%Y-%m-%dT%H:%M"))


@bp.post("/crm/campaigns/<id:campaign_id>/schedule")
@roles_required(*ACCOUNT_ROLES)
def schedule_campaign(campaign_id: int):
    found = _campaign(campaign_id)
    with acting(_("Not scheduled"), campaigns.CampaignError) as act:
        try:
            at = datetime.fromisoformat(request.form.get("at", "")).replace(tzinfo=clock.network_zone())
        except ValueError:
            raise campaigns.CampaignError("say when (day and time)") from None
        campaigns.schedule(db.session, found, at)
        act.audit("campaign.scheduled", "campaign", found.id, {"at": at.isoformat()})
        act.said(_("%(name)s goes out at %(when)s.", name=found.name, when=format_datetime(at, "dd MMM HH:mm")))
    return redirect(url_for("console.campaign", campaign_id=campaign_id))


@bp.post("/crm/campaigns/<id:campaign_id>/cancel")
@roles_required(*ACCOUNT_ROLES)
def cancel_campaign(campaign_id: int):
    found = _campaign(campaign_id)
    with acting(_("Not cancelled"), campaigns.CampaignError) as act:
        dropped = campaigns.cancel(db.session, found)
        act.audit("campaign.cancelled", "campaign", found.id, {"dropped": dropped})
        act.said(_("%(name)s cancelled: %(num)s messages not sent.", name=found.name, num=format_decimal(dropped)))
    return redirect(url_for("console.campaign", campaign_id=campaign_id))
