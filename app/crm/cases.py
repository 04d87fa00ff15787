"""Customer service: cases, their threads and their service-level clocks.

A case is opened by staff, by a partner (portal, API), by a customer (the tracking page)
or by an event (a parcel declared lost or damaged, a third failed attempt, a parcel late
by some days: once per event, ``trigger`` being unique). Its SLA has two targets, the
first response and the resolution, counted in the office's business hours
(``app.workdays``: weekdays and hours, public holidays closed); while the case waits on
the customer or the partner its resolution clock stops. Its outcomes are done through
the other modules' services (a credit note or a charge adjustment, a reschedule) in the
same transaction as the case's resolution. E-mails of the thread go through the outbox.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock, workdays
from app.billing import claims, fees, invoices
from app.billing.models import Invoice
from app.crm.accounts import recipients
from app.crm.models import Case, CaseMessage, Customer, Partner
from app.delivery import planning
from app.orders import shipments
from app.orders.lifecycle import Event
from app.orders.models import Shipment
from app.outbox import add_outbox

#: Type -> (the queue that works it, its priority unless told, words for people).
TYPES = {
    "damaged": ("claims", "high", "Parcel damaged"),
    "lost": ("claims", "high", "Parcel lost"),
    "late": ("customer_service", "normal", "Parcel late"),
    "wrong_address": ("customer_service", "high", "Wrong address"),
    "cod_dispute": ("finance", "high", "Cash on delivery disputed"),
    "failed_delivery": ("customer_service", "normal", "Failed delivery"),
    "return_request": ("customer_service", "normal", "Return requested"),
    "feedback": ("customer_service", "low", "Feedback"),
}
#: What people read for the services' names (lazy: in the reader's language).
TYPE_WORDS = {"damaged": _l("Parcel damaged"), "lost": _l("Parcel lost"), "late": _l("Parcel late"),
              "wrong_address": _l("Wrong address"), "cod_dispute": _l("Cash on delivery disputed"),
              "failed_delivery": _l("Failed delivery"), "return_request": _l("Return requested"),
              "feedback": _l("Feedback")}
STATUS_WORDS = {"new": _l("new"), "open": _l("open"), "waiting": _l("waiting"), "resolved": _l("resolved"),
                "closed": _l("closed")}
QUEUE_WORDS = {"customer_service": _l("customer service"), "claims": _l("claims"), "finance": _l("finance")}
PRIORITY_WORDS = {"urgent": _l("urgent"), "high": _l("high"), "normal": _l("normal"), "low": _l("low")}
CLOCK_WORDS = {"first response": _l("first response"), "resolution": _l("resolution"), "met": _l("met"),
               "breached": _l("breached"), "at_risk": _l("at risk"), "running": _l("running"), "paused": _l("paused")}
QUEUES = ("customer_service", "claims", "finance")
#: What partners may report (portal, API); the rest come from staff and events.
PARTNER_TYPES = tuple(TYPES)
#: Priority -> (first response, resolution), in business hours.
SLA_TARGETS = {
    "urgent": (timedelta(hours=1), timedelta(hours=8)),
    "high": (timedelta(hours=2), timedelta(hours=16)),
    "normal": (timedelta(hours=4), timedelta(hours=24)),
    "low": (timedelta(hours=8), timedelta(hours=40)),
}
PRIORITIES = tuple(SLA_TARGETS)
STATUSES = ("new", "open", "waiting", "resolved", "closed")
OPEN_STATUSES = ("new", "open", "waiting")
#: Status -> the statuses staff may move it to (resolving goes through ``resolve``).
MOVES = {"new": {"open", "waiting", "closed"}, "open": {"waiting", "closed"}, "waiting": {"open", "closed"},
         "resolved": {"open", "closed"}, "closed": {"open"}}
CHANNELS = ("staff", "portal", "api", "tracking", "auto")
#: What a case may end with; each but "explained" is done through another module.
OUTCOMES = {
    "compensation": "Compensated (credit to the partner)",
    "claim": "Claim accepted (declared value owed to the partner)",
    "reschedule": "Delivery rescheduled",
    "explained": "Explained, nothing to do",
}
#: A clock with less than this left warns the case's owner (once).
WARN_BEFORE = timedelta(hours=1)
#: Message kinds that reach someone outside (and so are a response).
OUTBOUND = ("to_customer", "to_partner")
INBOUND = ("from_customer", "from_partner")
#: Failed attempts after which a case is opened by itself.
FAILED_ATTEMPTS_CASE = shipments.CASE_AFTER_FAILED_ATTEMPTS


class CaseError(ValueError):
    """The case cannot be opened or changed as asked; the message says why."""


@dataclass(frozen=True)
class Clock:
    """One SLA target as seen now."""

    name: str
    due: datetime
    #: Business time left (negative once breached); None once met or while paused.
    left: timedelta | None
    #: met, breached (late, met or not), at_risk, running, paused.
    state: str


def _targets(priority: str) -> tuple[timedelta, timedelta]:
    if priority not in SLA_TARGETS:
        raise CaseError(f"priority must be one of {', '.join(PRIORITIES)}")
    return SLA_TARGETS[priority]


def open_case(session: Session, type_: str, subject: str, body: str, *, opened_via: str,
              shipment_id: int | None = None, partner_id: int | None = None, customer_id: int | None = None,
              priority: str | None = None, author_id: int | None = None, author_name: str = "",
              reporter_name: str | None = None, reporter_email: str | None = None,
              trigger: str | None = None) -> Case:
    """A new case with its first message (the report) and its SLA due moments. A shipment
    names the account and the customer. Flushes."""
    if type_ not in TYPES:
        raise CaseError(f"type must be one of {', '.join(TYPES)}")
    if opened_via not in CHANNELS:
        raise CaseError(f"opened via one of {', '.join(CHANNELS)}")
    queue, default_priority, words = TYPES[type_]
    priority = priority or default_priority
    response, resolution = _targets(priority)
    body = (body or "").strip()
    if not body:
        raise CaseError("say what happened")
    if shipment_id is not None:
        shipment = session.get(Shipment, shipment_id)
        if shipment is None:
            raise CaseError(f"no shipment {shipment_id}")
        if partner_id is not None and partner_id != shipment.partner_id:
            raise CaseError(f"no shipment {shipment_id}")
        partner_id, customer_id = shipment.partner_id, customer_id or shipment.order.customer_id
    now = clock.now()
    calendar = workdays.office()
    case = Case(type=type_, status="new", priority=priority, queue=queue,
                subject=((subject or "").strip() or words)[:200], shipment_id=shipment_id, partner_id=partner_id,
                customer_id=customer_id, opened_via=opened_via, trigger=trigger,
                reporter_name=(reporter_name or None) and reporter_name[:200],
                reporter_email=(reporter_email or None) and reporter_email.strip().lower()[:254],
                first_response_due=calendar.add(now, response), resolution_due=calendar.add(now, resolution),
                created_by=author_id, created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    kind = {"portal": "from_partner", "api": "from_partner", "tracking": "from_customer"}.get(opened_via, "note")
    _message(session, case, kind, body, author_id=author_id, author_name=author_name or _who(opened_via))
    return case


def shipment_for(session: Session, tracking_number: str, *, partner_id: int | None = None) -> int:
    """The shipment a case is about, by its tracking number (within one partner's when
    ``partner_id`` is given: another's is not found). Raises CaseError."""
    number = (tracking_number or "").strip()
    shipment = shipments.get_by_tracking_number(session, number)
    if shipment is None or (partner_id is not None and shipment.partner_id != partner_id):
        raise CaseError(f"no parcel {number}" + (" of yours" if partner_id is not None else ""))
    return shipment.id


def _who(opened_via: str) -> str:
    return {"auto": "Waybill", "tracking": "Customer", "api": "Partner (API)", "portal": "Partner"}.get(
        opened_via, "Staff")


def open_once(session: Session, trigger: str, type_: str, subject: str, body: str, **kwargs) -> Case | None:
    """An automatic case for ``trigger``, unless one was opened for it before (also by a
    worker at the same moment). Returns the new case, or None."""
    if session.scalar(select(Case.id).where(Case.trigger == trigger)) is not None:
        return None
    try:
        with session.begin_nested():
            return open_case(session, type_, subject, body, opened_via="auto", trigger=trigger,
                             author_name="Waybill", **kwargs)
    except IntegrityError:
        return None


def open_for_events(session: Session, keys: list[tuple[int, int]]) -> list[Case]:
    """The automatic cases that shipment events (shipment id, seq) call for: a parcel
    declared lost or damaged; the third failed attempt. Once per event."""
    opened = []
    for shipment_id, seq in keys:
        event = shipments.event_of(session, shipment_id, seq)
        if event is None:
            continue
        shipment = session.get(Shipment, shipment_id)
        trigger = f"event:{shipment_id}:{seq}"
        if event.type == Event.LOST:
            kind = (event.data or {}).get("kind", "lost")
            type_ = "damaged" if kind == "damaged" else "lost"
            case = open_once(session, trigger, type_, f"{shipment.tracking_number} declared {kind}",
                             f"The parcel was declared {kind}: {event.reason or 'no reason given'}. "
                             "Settle the claim with the partner.", shipment_id=shipment_id)
        elif event.type == Event.DELIVERY_FAILED and shipment.failed_attempts == FAILED_ATTEMPTS_CASE:
            case = open_once(session, trigger, "failed_delivery",
                             f"{shipment.tracking_number}: {shipment.failed_attempts} failed attempts",
                             f"Delivery failed {shipment.failed_attempts} times (last: {event.reason or 'no reason'}). "
                             "Call the customer before the parcel goes back.", shipment_id=shipment_id)
        else:
            continue
        if case is not None:
            opened.append(case)
    return opened


def open_for_late(session: Session, *, days: int, limit: int = 500) -> list[Case]:
    """A case for each open shipment ``days`` or more past its promised day (once each)."""
    before = clock.today() - timedelta(days=days - 1)  # promised on or before today - days
    opened = []
    for shipment_id, tracking_number, promised in shipments.late_shipments(session, promised_before=before,
                                                                            limit=limit):
        case = open_once(session, f"late:{shipment_id}", "late", f"{tracking_number} is late",
                         f"Promised for {promised:%d %b %Y}, still not delivered.", shipment_id=shipment_id)
        if case is not None:
            opened.append(case)
    return opened


def _message(session: Session, case: Case, kind: str, body: str, *, author_id: int | None, author_name: str,
             recipient: str | None = None) -> CaseMessage:
    message = CaseMessage(case_id=case.id, kind=kind, body=body[:4000], author_id=author_id,
                          author_name=(author_name or "Staff")[:200], recipient=recipient, created_at=clock.now())
    session.add(message)
    session.flush()
    if kind in OUTBOUND:
        add_outbox(session, "case_email", {"message_id": message.id})
    case.updated_at = clock.now()
    return message


def recipient_for(session: Session, case: Case, kind: str) -> str | None:
    """Where an e-mail of the thread goes: the customer's (or reporter's) address, or the
    account's contacts for cases (else its contact address)."""
    if kind == "to_customer":
        customer = session.get(Customer, case.customer_id) if case.customer_id else None
        return (customer.email if customer and customer.email else None) or case.reporter_email
    if kind == "to_partner":
        partner = session.get(Partner, case.partner_id) if case.partner_id else None
        if partner is None:
            return None
        found = recipients(session, partner, "cases", fallback=partner.contact_email)
        return ", ".join(found) or None
    return None


def reply(session: Session, case: Case, kind: str, body: str, *, author_id: int | None, author_name: str,
          wait: bool = False) -> CaseMessage:
    """Staff write in the thread: an internal note, or an e-mail to the customer or the
    partner (the first of which is the first response). ``wait``: the case then waits on
    them, its resolution clock stopped. Flushes."""
    body = (body or "").strip()
    if not body:
        raise CaseError("write something")
    if kind not in ("note", *OUTBOUND):
        raise CaseError("a reply is a note or an e-mail to the customer or the partner")
    if case.status == "closed":
        raise CaseError("the case is closed: reopen it first")
    recipient = None
    if kind in OUTBOUND:
        recipient = recipient_for(session, case, kind)
        if recipient is None:
            who = "customer" if kind == "to_customer" else "partner"
            raise CaseError(f"the {who} has no e-mail address: call, and write a note")
    message = _message(session, case, kind, body, author_id=author_id, author_name=author_name,
                       recipient=recipient)
    if kind in OUTBOUND:
        if case.first_response_at is None:
            case.first_response_at = clock.now()
        if case.status == "new":
            _move(session, case, "open", author_id=author_id, author_name=author_name, quiet=True)
    if wait and case.status in ("new", "open"):
        _move(session, case, "waiting", author_id=author_id, author_name=author_name)
    session.flush()
    return message


def receive(session: Session, case: Case, body: str, *, from_: str, author_name: str,
            author_id: int | None = None) -> CaseMessage:
    """The customer or the partner writes in the thread (tracking page, portal, API): a
    waiting case opens again and its clock runs; a resolved one is reopened."""
    if from_ not in INBOUND:
        raise CaseError("a message comes from the customer or the partner")
    body = (body or "").strip()
    if not body:
        raise CaseError("write something")
    if case.status == "closed":
        raise CaseError("the case is closed: open a new one")
    message = _message(session, case, from_, body, author_id=author_id, author_name=author_name)
    if case.status in ("waiting", "resolved"):
        _move(session, case, "open", author_id=None, author_name=author_name)
    session.flush()
    return message


def _move(session: Session, case: Case, status: str, *, author_id: int | None, author_name: str,
          quiet: bool = False) -> None:
    now, calendar = clock.now(), workdays.office()
    before = case.status
    if before == "waiting" and case.paused_seconds_left is not None:
        case.resolution_due = calendar.add(now, timedelta(seconds=max(case.paused_seconds_left, 0)))
        case.paused_seconds_left = None
    if status == "waiting":
        case.paused_seconds_left = int(calendar.between(now, case.resolution_due).total_seconds())
    if status == "closed":
        case.closed_at = now
    if status == "open" and before in ("resolved", "closed"):
        case.resolved_at = case.closed_at = None
        case.outcome, case.outcome_details = None, None
        # A case reopened has a fresh resolution target from now.
        case.resolution_due = calendar.add(now, _targets(case.priority)[1])
        case.resolution_warned_at = None
    case.status = status
    if not quiet:
        _message(session, case, "status", f"{before} → {status}", author_id=author_id, author_name=author_name)
    case.updated_at = now


def set_status(session: Session, case: Case, status: str, *, author_id: int | None, author_name: str) -> None:
    if status not in STATUSES:
        raise CaseError(f"status must be one of {', '.join(STATUSES)}")
    if status == "resolved":
        raise CaseError("resolve a case with its outcome")
    if status == case.status:
        return
    if status not in MOVES[case.status]:
        raise CaseError(f"a case that is {case.status} cannot become {status}")
    _move(session, case, status, author_id=author_id, author_name=author_name)
    session.flush()


def assign(session: Session, case: Case, *, owner_id: int | None, queue: str, priority: str,
           author_id: int | None, author_name: str) -> None:
    """Give the case an owner, a queue and a priority; a new priority sets new targets,
    counted from when the case was opened."""
    if queue not in QUEUES:
        raise CaseError(f"queue must be one of {', '.join(QUEUES)}")
    response, resolution = _targets(priority)
    changes = []
    if priority != case.priority:
        calendar = workdays.office()
        case.first_response_due = calendar.add(case.created_at, response)
        if case.paused_seconds_left is None and case.status in OPEN_STATUSES:
            case.resolution_due = calendar.add(case.created_at, resolution)
        case.response_warned_at = case.resolution_warned_at = None
        changes.append(f"priority {case.priority} → {priority}")
    if queue != case.queue:
        changes.append(f"queue {case.queue} → {queue}")
    if owner_id != case.owner_id:
        changes.append("owner changed")
    case.owner_id, case.queue, case.priority = owner_id, queue, priority
    if changes:
        _message(session, case, "status", "; ".join(changes), author_id=author_id, author_name=author_name)
    session.flush()


def resolve(session: Session, case: Case, outcome: str, *, note: str, author_id: int | None, author_name: str,
            amount: int | None = None, day: date | None = None) -> dict:
    """End the case with ``outcome``, done through the module it belongs to, in this
    transaction: a compensation credits the partner (a credit note on the invoice that
    billed the shipment, or a negative adjustment of its charges before it is billed); a
    claim accepts the parcel's claim (``amount``, default its declared value: owed to the
    partner, posted); a reschedule puts the delivery off to ``day``. Returns what was
    done. Flushes."""
    if outcome not in OUTCOMES:
        raise CaseError(f"outcome must be one of {', '.join(OUTCOMES)}")
    if case.status not in OPEN_STATUSES:
        raise CaseError(f"the case is {case.status}")
    note = (note or "").strip()
    if not note:
        raise CaseError("say how it was resolved")
    details: dict = {}
    actor = f"case:{case.id}"
    if outcome in ("compensation", "reschedule", "claim") and case.shipment_id is None:
        raise CaseError(f"a {outcome} needs the case's shipment")
    if outcome == "compensation":
        details = _compensate(session, case, amount, note=note, author_id=author_id, actor=actor)
    elif outcome == "claim":
        claim = claims.claim_of(session, case.shipment_id)
        if claim is None:
            raise CaseError("the parcel has no claim: declare it lost or damaged on the shipment's page first")
        try:
            claims.accept(session, claim, amount=amount, case_id=case.id, actor=actor)
        except claims.ClaimError as exc:
            raise CaseError(str(exc)) from None
        details = {"claim_id": claim.id, "amount": claim.accepted_amount, "currency": claim.currency}
    elif outcome == "reschedule":
        if day is None:
            raise CaseError("say which day to deliver on")
        try:
            planning.reschedule(session, case.shipment_id, day, today=clock.today(), actor=actor,
                                reason=f"case {case.id}: {note}"[:200])
        except planning.PlanningError as exc:
            raise CaseError(str(exc)) from None
        details = {"day": day.isoformat()}
    now = clock.now()
    case.outcome, case.outcome_details, case.resolved_at = outcome, details, now
    _message(session, case, "note", f"Resolved — {OUTCOMES[outcome]}: {note}", author_id=author_id,
             author_name=author_name)
    _move(session, case, "resolved", author_id=author_id, author_name=author_name)
    session.flush()
    return details


def _compensate(session: Session, case: Case, amount: int | None, *, note: str, author_id: int | None,
                actor: str) -> dict:
    if not isinstance(amount, int) or amount <= 0:
        raise CaseError("a compensation is an amount more than zero")
    charges, _ = fees.money_of(session, case.shipment_id)
    if not charges:
        raise CaseError("the shipment is not charged yet: compensate once it is delivered or returned")
    billed = next((c.invoice_id for c in charges if c.invoice_id is not None), None)
    reason = f"Case {case.id}: {note}"[:300]
    if billed is not None:
        try:
            credit = invoices.credit_note(session, billed, amount, reason=reason, user_id=author_id)
        except invoices.InvoiceError as exc:
            raise CaseError(str(exc)) from None
        return {"credit_note": credit.number, "credit_note_id": credit.id, "amount": amount,
                "currency": credit.currency}
    try:
        charge = fees.adjust(session, case.shipment_id, -amount, reason=reason, user_id=author_id, actor=actor)
    except fees.AdjustmentError as exc:
        raise CaseError(str(exc)) from None
    return {"adjustment_id": charge.id, "amount": amount, "currency": charge.currency}


# -- the SLA ------------------------------------------------------------------------------

def clocks(case: Case, *, now: datetime | None = None) -> list[Clock]:
    """The case's two SLA targets as they stand ``now``."""
    now, calendar = now or clock.now(), workdays.office()
    out = []
    if case.first_response_at is not None:
        state = "breached" if case.first_response_at > case.first_response_due else "met"
        out.append(Clock("first response", case.first_response_due, None, state))
    elif case.status in ("resolved", "closed"):
        out.append(Clock("first response", case.first_response_due, None,
                         "breached" if (case.resolved_at or case.closed_at or now) > case.first_response_due else "met"))
    else:
        out.append(_running("first response", case.first_response_due, now, calendar))
    if case.resolved_at is not None:
        out.append(Clock("resolution", case.resolution_due, None,
                         "breached" if case.resolved_at > case.resolution_due else "met"))
    elif case.status == "closed":
        out.append(Clock("resolution", case.resolution_due, None, "met"))
    elif case.paused_seconds_left is not None:
        out.append(Clock("resolution", case.resolution_due, timedelta(seconds=case.paused_seconds_left), "paused"))
    else:
        out.append(_running("resolution", case.resolution_due, now, calendar))
    return out


def _running(name: str, due: datetime, now: datetime, calendar) -> Clock:
    left = calendar.between(now, due)
    state = "breached" if now >= due else "at_risk" if left <= WARN_BEFORE else "running"
    return Clock(name, due, left, state)


def due_warnings(session: Session, *, limit: int = 200) -> list[tuple[int, str]]:
    """Mark, once, the open cases whose first response or resolution is near or past,
    with a line in their thread; returns (case id, target) for the owner's e-mail."""
    now, calendar = clock.now(), workdays.office()
    horizon = calendar.add(now, WARN_BEFORE)
    found = session.scalars(select(Case).where(Case.status.in_(OPEN_STATUSES), or_(
        (Case.first_response_at.is_(None)) & Case.response_warned_at.is_(None) & (Case.first_response_due <= horizon),
        (Case.paused_seconds_left.is_(None)) & Case.resolution_warned_at.is_(None) & (Case.resolution_due <= horizon),
    )).order_by(Case.id).limit(limit).with_for_update(skip_locked=True))
    warned = []
    for case in found:
        for target, due, mark in (("first response", case.first_response_due, "response_warned_at"),
                                  ("resolution", case.resolution_due, "resolution_warned_at")):
            if getattr(case, mark) is not None or due > horizon:
                continue
            if target == "first response" and case.first_response_at is not None:
                continue
            if target == "resolution" and case.paused_seconds_left is not None:
                continue
            setattr(case, mark, now)
            when = "breached" if due <= now else f"due {clock.local(due):%d %b %H:%M}"
            session.add(CaseMessage(case_id=case.id, kind="warning", body=f"SLA {target} {when}",
                                    author_name="Waybill", created_at=now))
            if case.owner_id is not None:
                add_outbox(session, "case_warning", {"case_id": case.id, "target": target})
            warned.append((case.id, target))
    session.flush()
    return warned


# -- e-mails -----------------------------------------------------------------------------

def email_for(session: Session, message_id: int, *, public_url: str) -> tuple[str, str, str] | None:
    """(to, subject, body) of a thread's e-mail, or None when it is not one (or went)."""
    message = session.get(CaseMessage, message_id)
    if message is None or message.kind not in OUTBOUND or not message.recipient or message.sent_at is not None:
        return None
    case = session.get(Case, message.case_id)
    shipment = session.get(Shipment, case.shipment_id) if case.shipment_id else None
    if message.kind == "to_customer":
        follow = (f"Follow your parcel: {public_url}/track/{shipment.tracking_number}" if shipment
                  else "Reply to this e-mail to write to us.")
    else:
        follow = f"Follow the case: {public_url}/portal/cases/{case.id}"
    body = f"{message.body}\n\n— {message.author_name}, Waybill customer service\n{follow}"
    return message.recipient, f"[Case #{case.id}] {case.subject}", body


def mark_sent(session: Session, message_id: int) -> None:
    message = session.get(CaseMessage, message_id)
    if message is not None and message.sent_at is None:
        message.sent_at = clock.now()


def warning_text(case: Case, target: str, *, public_url: str) -> tuple[str, str]:
    due = case.first_response_due if target == "first response" else case.resolution_due
    when = "is past due" if due <= clock.now() else f"is due at {clock.local(due):%H:%M on %d %b}"
    return (f"[Case #{case.id}] SLA {target} {when}",
            f"The {target} of case #{case.id} ({case.subject}) {when}.\n{public_url}/console/crm/cases/{case.id}")


# -- reading ------------------------------------------------------------------------------

def thread(session: Session, case_id: int, *, public_only: bool = False) -> list[CaseMessage]:
    stmt = select(CaseMessage).where(CaseMessage.case_id == case_id)
    if public_only:
        stmt = stmt.where(CaseMessage.kind.in_((*OUTBOUND, *INBOUND)))
    return list(session.scalars(stmt.order_by(CaseMessage.created_at, CaseMessage.id)))


def find_cases(session: Session, *, status: str | None = "open", queue: str | None = None,
               owner_id: int | None = None, partner_id: int | None = None, shipment_id: int | None = None,
               customer_id: int | None = None, customer_ids: list[int] | None = None, limit: int = 200,
               after_id: int | None = None, by_id: bool = False) -> list[Case]:
    """Cases, the most urgent first (``by_id``: oldest first, after ``after_id``, to read a
    long list a page at a time): ``status`` "open" means new, open or waiting."""
    stmt = select(Case)
    if after_id is not None:
        stmt = stmt.where(Case.id > after_id)
    if customer_ids is not None:
        stmt = stmt.where(Case.customer_id.in_(customer_ids))
    if status == "open":
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES))
    elif status:
        stmt = stmt.where(Case.status == status)
    for column, value in ((Case.queue, queue), (Case.owner_id, owner_id), (Case.partner_id, partner_id),
                          (Case.shipment_id, shipment_id), (Case.customer_id, customer_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    order = (Case.id,) if by_id else (Case.resolution_due, Case.id)
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


def counts_by_status(session: Session, *, partner_id: int | None = None) -> dict[str, int]:
    stmt = select(Case.status, func.count()).group_by(Case.status)
    if partner_id is not None:
        stmt = stmt.where(Case.partner_id == partner_id)
    return dict(session.execute(stmt).all())


def case_of(session: Session, case_id: int, *, partner_id: int | None = None) -> Case | None:
    """A case by id; with ``partner_id``, only that account's (else None)."""
    case = session.get(Case, case_id)
    if case is None or (partner_id is not None and case.partner_id != partner_id):
        return None
    return case


def customer_of(session: Session, case: Case) -> Customer | None:
    return session.get(Customer, case.customer_id) if case.customer_id else None


def credit_note_of(session: Session, case: Case) -> Invoice | None:
    found = (case.outcome_details or {}).get("credit_note_id")
    return session.get(Invoice, found) if found else None
