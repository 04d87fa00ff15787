"""Accounts: a partner's status and owner, its contacts, and the activities logged on any
record (account, lead, case, customer). Services flush; the edge commits."""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.crm.models import Activity, Contact, Partner
from app.crm.services import InvalidPhone, forget_api_keys, normalise_phone
from app.outbox import add_outbox

#: An account's life: a prospect signs, is onboarded, ships (active), may pause or leave.
STATUSES = ("prospect", "onboarding", "active", "paused", "churned")
#: The statuses in which the partner's keys work and its orders are taken.
TRADING = frozenset({"onboarding", "active"})
#: Status -> the statuses it may move to.
MOVES = {
    "prospect": {"onboarding", "churned"},
    "onboarding": {"active", "paused", "churned"},
    "active": {"paused", "churned"},
    "paused": {"active", "churned"},
    "churned": {"onboarding"},
}
CONTACT_ROLES = ("billing", "operations", "technical", "escalation")
#: What Waybill e-mails a contact, and the role that gets it unless told otherwise.
SUBSCRIPTIONS = {"invoices": "billing", "remittances": "billing", "webhook_alerts": "technical",
                 "cases": "escalation", "reports": "operations"}
ACTIVITY_KINDS = ("call", "email", "meeting", "note", "task")
SUBJECTS = ("partner", "lead", "case", "customer")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AccountError(ValueError):
    """The account, contact or activity cannot be changed as asked; the message says why."""


def set_status(session: Session, partner: Partner, status: str) -> str:
    """Move the account to ``status``; its API keys work only while it trades (onboarding
    or active). Returns the status it had."""
    if status not in STATUSES:
        raise AccountError(f"status must be one of {', '.join(STATUSES)}")
    before = partner.status
    if status != before and status not in MOVES[before]:
        raise AccountError(f"an account that is {before} cannot become {status}")
    partner.status, partner.active = status, status in TRADING
    session.flush()
    forget_api_keys()
    return before


def set_owner(session: Session, partner: Partner, user_id: int | None) -> None:
    partner.owner_id = user_id
    session.flush()


def _contact_fields(name: str, email: str | None, phone: str | None, roles, subscriptions) -> dict:
    name = (name or "").strip()
    if not name:
        raise AccountError("a contact has a name")
    email = (email or "").strip().lower() or None
    if email and not EMAIL.fullmatch(email):
        raise AccountError(f"{email!r} is not an e-mail address")
    try:
        phone = normalise_phone(phone) if phone and phone.strip() else None
    except InvalidPhone as exc:
        raise AccountError(str(exc)) from None
    roles = sorted(set(roles or ()))
    if unknown := set(roles) - set(CONTACT_ROLES):
        raise AccountError(f"roles are some of {', '.join(CONTACT_ROLES)} (not {', '.join(sorted(unknown))})")
    if subscriptions is None:
        subscriptions = sorted(topic for topic, role in SUBSCRIPTIONS.items() if role in roles)
    if unknown := set(subscriptions) - set(SUBSCRIPTIONS):
        raise AccountError(f"subscriptions are some of {', '.join(SUBSCRIPTIONS)} (not {', '.join(sorted(unknown))})")
    if subscriptions and not email:
        raise AccountError("a contact who receives e-mails needs an e-mail address")
    return {"name": name[:200], "email": email, "phone": phone, "roles": roles,
            "subscriptions": sorted(set(subscriptions))}


def add_contact(session: Session, partner_id: int, name: str, *, email: str | None = None,
                phone: str | None = None, roles=(), subscriptions=None) -> Contact:
    """A contact of the account; without ``subscriptions`` they get what their roles get."""
    contact = Contact(partner_id=partner_id, **_contact_fields(name, email, phone, roles, subscriptions))
    session.add(contact)
    session.flush()
    return contact


def update_contact(session: Session, contact: Contact, *, name: str, email: str | None, phone: str | None,
                   roles, subscriptions, active: bool = True) -> Contact:
    for key, value in _contact_fields(name, email, phone, roles, subscriptions).items():
        setattr(contact, key, value)
    contact.active = active
    session.flush()
    return contact


def contacts_of(session: Session, partner_id: int, *, active_only: bool = False) -> list[Contact]:
    stmt = select(Contact).where(Contact.partner_id == partner_id)
    if active_only:
        stmt = stmt.where(Contact.active.is_(True))
    return list(session.scalars(stmt.order_by(Contact.active.desc(), Contact.name, Contact.id)))


def recipients(session: Session, partner: Partner, topic: str, *, fallback: str | None = None) -> list[str]:
    """Who at the account gets ``topic`` e-mails: the active contacts subscribed to it,
    else ``fallback`` (the account's billing or contact address)."""
    if topic not in SUBSCRIPTIONS:
        raise ValueError(f"no subscription {topic!r}")
    found = [c.email for c in contacts_of(session, partner.id, active_only=True)
             if topic in (c.subscriptions or ()) and c.email]
    return sorted(set(found)) or ([fallback] if fallback else [])


def log_activity(session: Session, subject_type: str, subject_id: int, kind: str, summary: str, *,
                 body: str | None = None, due_at: datetime | None = None, owner_id: int | None = None,
                 created_by: int | None = None) -> Activity:
    """A call, e-mail, meeting or note on a record; a task with a due moment and an owner."""
    if subject_type not in SUBJECTS:
        raise AccountError(f"activities are on one of {', '.join(SUBJECTS)}")
    if kind not in ACTIVITY_KINDS:
        raise AccountError(f"kind must be one of {', '.join(ACTIVITY_KINDS)}")
    summary = (summary or "").strip()
    if not summary:
        raise AccountError("say what happened (or what is to be done)")
    if kind == "task" and due_at is None:
        raise AccountError("a task has a due date")
    if kind != "task":
        due_at = None
    activity = Activity(subject_type=subject_type, subject_id=subject_id, kind=kind, summary=summary[:200],
                        body=(body or "").strip()[:4000] or None, due_at=due_at,
                        owner_id=owner_id if kind == "task" else None, created_by=created_by,
                        created_at=clock.now())
    session.add(activity)
    session.flush()
    return activity


def complete_task(session: Session, activity: Activity) -> None:
    if activity.kind != "task":
        raise AccountError("only a task is done")
    if activity.done_at is None:
        activity.done_at = clock.now()
    session.flush()


def activities_of(session: Session, subject_type: str, subject_id: int) -> list[Activity]:
    return list(session.scalars(select(Activity).where(
        Activity.subject_type == subject_type, Activity.subject_id == subject_id)
        .order_by(Activity.created_at.desc(), Activity.id.desc())))


def open_tasks(session: Session, *, owner_id: int | None = None, limit: int = 200) -> list[Activity]:
    stmt = select(Activity).where(Activity.kind == "task", Activity.done_at.is_(None))
    if owner_id is not None:
        stmt = stmt.where(Activity.owner_id == owner_id)
    return list(session.scalars(stmt.order_by(Activity.due_at, Activity.id).limit(limit)))


def remind_due_tasks(session: Session, *, limit: int = 200) -> list[int]:
    """Open tasks whose moment has come, marked reminded (once each) with an e-mail to
    their owner written to the outbox. Returns their ids."""
    due = list(session.scalars(select(Activity).where(
        Activity.kind == "task", Activity.done_at.is_(None), Activity.reminded_at.is_(None),
        Activity.owner_id.is_not(None), Activity.due_at <= clock.now())
        .order_by(Activity.due_at).limit(limit).with_for_update(skip_locked=True)))
    for task in due:
        task.reminded_at = clock.now()
        add_outbox(session, "task_reminder", {"activity_id": task.id})
    session.flush()
    return [t.id for t in due]


def reminder_text(activity: Activity, *, public_url: str) -> tuple[str, str]:
    where = {"partner": f"/console/crm/accounts/{activity.subject_id}", "lead": f"/console/crm/leads/{activity.subject_id}",
             "case": f"/console/crm/cases/{activity.subject_id}",
             "customer": f"/console/crm/customers/{activity.subject_id}"}[activity.subject_type]
    return (f"Due now: {activity.summary}",
            f"{activity.summary}\n(due {clock.local(activity.due_at):%d %b %H:%M})\n{public_url.rstrip('/')}{where}")
