"""Console: account management and customer service under /console/crm.

Accounts (a partner's status, owner, contacts, activities, and a page that shows all that
Waybill knows of it) for account managers; cases (queues, SLA clocks, threads, outcomes)
for customer service."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from flask import abort, redirect, render_template, request, url_for
from flask_login import current_user

from app import clock
from app.auth import services as people
from app.auth.web import roles_required
from app.billing import fees, invoices, payments, remittances
from app.billing.money import Money
from app.console.acting import acting
from app.console.views import bp
from app.crm import accounts as book
from app.crm import cases, notifications
from app.crm import customers as known
from app.crm import services as crm
from app.crm.models import Activity, Case, Contact, Customer, Partner
from app.db import db
from app.delivery import reads as delivery_reads
from app.delivery.services import FAILURE_REASON_WORDS
from app.forms import day_of
from app.orders import console_reads, shipments
from app.orders.lifecycle import public_status
from app.orders.models import Shipment
from app.webhooks import services as webhooks

ACCOUNT_ROLES = ("admin", "account_manager")
CASE_ROLES = ("admin", "customer_service", "account_manager", "dispatcher", "finance")
#: Who may resolve a case with a compensation (it credits the partner).
COMPENSATION_ROLES = ("admin", "customer_service", "finance")
WEEKS = 12


def _partner(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


def _name() -> str:
    return current_user.name or current_user.email


def span(left: timedelta | None) -> str:
    """Business time as people say it: "2 h 05 min", "45 min", "3 d 4 h" (8-hour days
    would mislead: the office's days differ), negative as "… over"."""
    if left is None:
        return ""
    over = left < timedelta(0)
    minutes = int(abs(left).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    text = f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
    return f"{text} over" if over else f"{text} left"


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
        reason_words=FAILURE_REASON_WORDS, invoices=invoices.invoices_of(session, partner_id=partner.id, limit=5),
        timeline=_timeline(partner), owners=people.staff_with_roles(session, ACCOUNT_ROLES),
        statuses=book.STATUSES, moves=book.MOVES[partner.status], contact_roles=book.CONTACT_ROLES,
        subscriptions=book.SUBSCRIPTIONS, activity_kinds=book.ACTIVITY_KINDS, tz=tz,
        case_types=cases.TYPES, Money=Money)


def _timeline(partner: Partner, limit: int = 60) -> list[tuple[datetime, str, str, str | None]]:
    """Everything that happened with the account, newest first: (when, kind, text, link)."""
    session = db.session
    items: list[tuple[datetime, str, str, str | None]] = []
    for a in book.activities_of(session, "partner", partner.id)[:limit]:
        text = a.summary + (f" — due {clock.local(a.due_at):%d %b %H:%M}" if a.due_at else "")
        if a.kind == "task" and a.done_at:
            text += " (done)"
        items.append((a.created_at, a.kind, text, None))
    for c in cases.find_cases(session, status=None, partner_id=partner.id, limit=limit):
        items.append((c.created_at, "case", f"Case #{c.id} {c.subject} ({c.status})",
                      url_for("console.case", case_id=c.id)))
    for inv in invoices.invoices_of(session, partner_id=partner.id, limit=limit):
        items.append((datetime.combine(inv.issued_on, time(0), clock.network_zone()), inv.kind.replace("_", " "),
                      f"{inv.number}: {Money(inv.total_amount, inv.currency)}",
                      url_for("console.invoice", invoice_id=inv.id)))
    for entry in people.audit_entries_about(session, "partner", str(partner.id), limit=limit):
        if not entry.action.startswith("partner."):
            continue  # an activity's own entry: the activity is on the timeline already
        what = entry.action.split(".", 1)[-1].replace("_", " ")
        items.append((entry.at, "change", f"{what} by {entry.user_email or 'Waybill'}", None))
    items.sort(key=lambda i: i[0], reverse=True)
    return items[:limit]


@bp.post("/crm/accounts/<id:partner_id>/status")
@roles_required(*ACCOUNT_ROLES)
def account_status(partner_id: int):
    partner = _partner(partner_id)
    status = request.form.get("status", "")
    with acting("Not changed", book.AccountError) as act:
        before = book.set_status(db.session, partner, status)
        act.audit("partner.status_changed", "partner", partner.id, {"from": before, "to": status})
        act.said(f"{partner.name} is {status}" + ("" if partner.active else ": its API keys are refused."))
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
    with acting("Not changed") as act:
        book.set_owner(db.session, partner, owner_id)
        act.audit("partner.owner_changed", "partner", partner.id, {"owner": owner_id})
        act.said(f"{partner.name} is owned by {owners[owner_id].name or owners[owner_id].email}" if owner_id
                 else f"{partner.name} has no owner.")
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
    with acting("Not added", book.AccountError) as act:
        contact = book.add_contact(db.session, partner.id, fields.pop("name"), **fields)
        act.audit("partner.contact_added", "partner", partner.id, {"contact": contact.id, "name": contact.name})
        act.said(f"{contact.name} added.")
    return redirect(url_for("console.account", partner_id=partner.id) + "#contacts")


@bp.post("/crm/accounts/<id:partner_id>/contacts/<id:contact_id>")
@roles_required(*ACCOUNT_ROLES)
def edit_contact(partner_id: int, contact_id: int):
    partner = _partner(partner_id)
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.partner_id != partner.id:
        abort(404)
    fields = _contact_form()
    with acting("Not changed", book.AccountError) as act:
        book.update_contact(db.session, contact, active=request.form.get("active") == "on", **fields)
        act.audit("partner.contact_changed", "partner", partner.id, {"contact": contact.id})
        act.said(f"{contact.name} saved.")
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
    if subject not in ("accounts", "cases"):
        abort(404)
    subject_type = "partner" if subject == "accounts" else "case"
    if subject_type == "partner":
        if current_user.role not in ACCOUNT_ROLES:
            abort(403)
        _partner(subject_id)
        back = url_for("console.account", partner_id=subject_id) + "#timeline"
    else:
        _case(subject_id)
        back = url_for("console.case", case_id=subject_id)
    form = request.form
    with acting("Not logged", book.AccountError) as act:
        owner = form.get("owner_id", "")
        activity = book.log_activity(
            db.session, subject_type, subject_id, form.get("kind", ""), form.get("summary", ""),
            body=form.get("body"), due_at=_due(form), created_by=current_user.id,
            owner_id=int(owner) if owner.isdigit() else current_user.id)
        act.audit("activity.logged", subject_type, subject_id, {"activity": activity.id, "kind": activity.kind})
        act.said(f"{activity.kind.capitalize()} logged.")
    return redirect(back)


@bp.post("/crm/activities/<id:activity_id>/done")
@roles_required(*CASE_ROLES)
def complete_task(activity_id: int):
    activity = db.session.get(Activity, activity_id)
    if activity is None:
        abort(404)
    with acting("Not done", book.AccountError) as act:
        book.complete_task(db.session, activity)
        act.audit("activity.done", activity.subject_type, activity.subject_id, {"activity": activity.id})
        act.said(f"Done: {activity.summary}")
    return redirect(request.form.get("back") if (request.form.get("back") or "").startswith("/console/")
                    else url_for("console.accounts"))


# -- cases --------------------------------------------------------------------------------

def _case(case_id: int) -> Case:
    case = cases.case_of(db.session, case_id)
    if case is None:
        abort(404)
    return case


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


@bp.post("/crm/cases")
@roles_required(*CASE_ROLES)
def open_case():
    form = request.form
    made = None
    with acting("Not opened", cases.CaseError) as act:
        shipment_id = None
        number = (form.get("tracking_number") or "").strip()
        if number:
            shipment = shipments.get_by_tracking_number(db.session, number)
            if shipment is None:
                raise cases.CaseError(f"no shipment {number}")
            shipment_id = shipment.id
        priority = form.get("priority") or None
        case = cases.open_case(db.session, form.get("type", ""), form.get("subject", ""), form.get("body", ""),
                               opened_via="staff", shipment_id=shipment_id, priority=priority,
                               author_id=current_user.id, author_name=_name())
        case.owner_id = current_user.id
        act.audit("case.opened", "case", case.id, {"type": case.type, "shipment": shipment_id})
        act.said(f"Case #{case.id} opened.")
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
    with acting("Not sent", cases.CaseError) as act:
        message = cases.reply(db.session, found, kind, request.form.get("body", ""), author_id=current_user.id,
                              author_name=_name(), wait=request.form.get("wait") == "on")
        act.audit("case.replied", "case", found.id, {"message": message.id, "kind": kind})
        act.said("Note added." if kind == "note" else f"E-mail to {message.recipient} on its way.")
    return redirect(url_for("console.case", case_id=case_id) + "#thread")


@bp.post("/crm/cases/<id:case_id>/status")
@roles_required(*CASE_ROLES)
def case_status(case_id: int):
    found = _case(case_id)
    status = request.form.get("status", "")
    with acting("Not changed", cases.CaseError) as act:
        before = found.status
        cases.set_status(db.session, found, status, author_id=current_user.id, author_name=_name())
        act.audit("case.status_changed", "case", found.id, {"from": before, "to": status})
        act.said(f"Case #{found.id} is {status}.")
    return redirect(url_for("console.case", case_id=case_id))


@bp.post("/crm/cases/<id:case_id>/assign")
@roles_required(*CASE_ROLES)
def case_assign(case_id: int):
    found = _case(case_id)
    form = request.form
    owners = {u.id for u in people.staff_with_roles(db.session, CASE_ROLES)}
    raw = form.get("owner_id", "")
    owner_id = int(raw) if raw.isdigit() and int(raw) in owners else None
    with acting("Not changed", cases.CaseError) as act:
        cases.assign(db.session, found, owner_id=owner_id, queue=form.get("queue", found.queue),
                     priority=form.get("priority", found.priority), author_id=current_user.id, author_name=_name())
        act.audit("case.assigned", "case", found.id, {"owner": owner_id, "queue": found.queue,
                                                       "priority": found.priority})
        act.said(f"Case #{found.id} saved.")
    return redirect(url_for("console.case", case_id=case_id))


@bp.post("/crm/cases/<id:case_id>/resolve")
@roles_required(*CASE_ROLES)
def case_resolve(case_id: int):
    found = _case(case_id)
    form = request.form
    outcome = form.get("outcome", "")
    if outcome == "compensation" and current_user.role not in COMPENSATION_ROLES:
        abort(403)
    with acting("Not resolved", cases.CaseError, payments.PaymentError) as act:
        amount = None
        if outcome == "compensation":
            currency = (found.partner_id and _partner(found.partner_id).currency) or "VND"
            amount = payments.parse_amount(form.get("amount", ""), currency)
        details = cases.resolve(db.session, found, outcome, note=form.get("note", ""), author_id=current_user.id,
                                author_name=_name(), amount=amount, day=day_of(form.get("day")))
        act.audit("case.resolved", "case", found.id, {"outcome": outcome, **details})
        done = ""
        if "credit_note" in details:
            done = f": credit note {details['credit_note']} for {Money(details['amount'], details['currency'])}"
        elif "adjustment_id" in details:
            done = f": {Money(details['amount'], details['currency'])} off the shipment's charges"
        act.said(f"Case #{found.id} resolved{done}.")
    return redirect(url_for("console.case", case_id=case_id))



# -- customers ----------------------------------------------------------------------------

def _customer(customer_id: int) -> Customer:
    found = db.session.get(Customer, customer_id)
    if found is None:
        abort(404)
    return found


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
    with acting("Not saved", known.CustomerError) as act:
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
        act.said("Saved: every message from now follows these wishes.")
    return redirect(url_for("console.customer", customer_id=customer_id))


@bp.post("/crm/customers/<id:customer_id>/merge")
@roles_required(*CASE_ROLES)
def merge_customer(customer_id: int):
    survivor = _customer(customer_id)
    form = request.form
    with acting("Not merged", known.CustomerError) as act:
        other = db.session.get(Customer, int(form["other_id"])) if (form.get("other_id") or "").isdigit() else None
        if other is None:
            found = known.find(db.session, form.get("other", ""))
            if len(found) != 1:
                raise known.CustomerError("name the other record by its phone or e-mail (one record)")
            other = found[0]
        record = known.merge(db.session, survivor, other, reason=form.get("reason", ""), user_id=current_user.id)
        act.audit("customer.merged", "customer", record.survivor_id, {"merged": record.merged_id,
                                                                       "merge": record.id, "reason": record.reason})
        act.said(f"{other.phone} merged into this customer: their orders, messages and cases are one person's.")
    return redirect(url_for("console.customer", customer_id=customer_id))


@bp.post("/crm/customers/merges/<id:merge_id>/undo")
@roles_required(*CASE_ROLES)
def undo_customer_merge(merge_id: int):
    with acting("Not undone", known.CustomerError) as act:
        record = known.undo_merge(db.session, merge_id, user_id=current_user.id)
        act.audit("customer.merge_undone", "customer", record.survivor_id, {"merged": record.merged_id,
                                                                             "merge": record.id})
        act.said("Merge undone: the two records are apart again, each with its own orders and messages.")
    back = request.form.get("back") or ""
    return redirect(back if back.startswith("/console/") else url_for("console.customers"))
