"""Customers who are known: one record per person across partners (by E.164 phone, found
by e-mail too), their preferences and consent, and merges of two records of one person.

A merge points the merged record at the survivor (``merged_into_id``) and moves nothing:
the orders, messages and cases of both are read as the survivor's, the survivor's
preferences and opt-out speak for both, and undoing the merge clears the pointer — nothing
can be lost either way. Intake keeps finding the merged record by its phone; its new
orders are the survivor's too."""
from __future__ import annotations

import re

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app import clock
from app.crm.models import Customer, CustomerMerge
from app.crm.services import InvalidPhone, normalise_phone

LANGUAGES = ("vi", "en")
TIMES = ("morning", "afternoon", "evening")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: Merges chain (C into B, B into A): a family is read this deep at most.
MAX_DEPTH = 20


class CustomerError(ValueError):
    """The customer cannot be changed as asked; the message says why."""


def find(session: Session, q: str, *, limit: int = 50) -> list[Customer]:
    """Customers by phone (any way it is written), by e-mail, or by the start of a name."""
    q = (q or "").strip()
    if not q:
        return []
    if "@" in q:
        return list(session.scalars(select(Customer).where(Customer.email == q.lower()).limit(limit)))
    try:
        phone = normalise_phone(q)
    except InvalidPhone:
        phone = None
    if phone and any(ch.isdigit() for ch in q):
        found = list(session.scalars(select(Customer).where(Customer.phone == phone)))
        if found:
            return found
    return list(session.scalars(select(Customer).where(Customer.name.ilike(f"{q}%"))
                                .order_by(Customer.name, Customer.id).limit(limit)))


def root_of(session: Session, customer: Customer) -> Customer:
    """The record a customer's merges lead to (itself when never merged)."""
    seen = 0
    while customer.merged_into_id is not None and seen < MAX_DEPTH:
        customer = session.get(Customer, customer.merged_into_id)
        seen += 1
    return customer


def family(session: Session, customer_id: int) -> list[int]:
    """The record and every record merged into it, however deep: whose orders, messages
    and cases are this person's."""
    ids, frontier = [customer_id], [customer_id]
    for _ in range(MAX_DEPTH):
        frontier = list(session.scalars(select(Customer.id).where(Customer.merged_into_id.in_(frontier))))
        if not frontier:
            break
        ids += frontier
    return ids


def roots(session: Session, customers: dict[int, Customer]) -> dict[int, Customer]:
    """id -> the record that speaks for it (its merges' survivor), for many at once."""
    out = {}
    for cid, customer in customers.items():
        out[cid] = customer if customer.merged_into_id is None else root_of(session, customer)
    return out


def set_preferences(session: Session, customer: Customer, *, language: str | None, instructions: str | None,
                    safe_place: str | None, preferred_time: str | None, notify_email: bool,
                    notify_sms: bool, email: str | None = None) -> None:
    if language and language not in LANGUAGES:
        raise CustomerError(f"language is one of {', '.join(LANGUAGES)}")
    if preferred_time and preferred_time not in TIMES:
        raise CustomerError(f"preferred time is one of {', '.join(TIMES)}")
    email = (email or "").strip().lower() or None
    if email and not EMAIL.fullmatch(email):
        raise CustomerError(f"{email!r} is not an e-mail address")
    customer.language, customer.preferred_time = language or None, preferred_time or None
    customer.instructions = (instructions or "").strip()[:300] or None
    customer.safe_place = (safe_place or "").strip()[:200] or None
    customer.notify_email, customer.notify_sms = notify_email, notify_sms
    if email:
        customer.email = email
    session.flush()


def set_consent(session: Session, customer: Customer, *, marketing: bool) -> None:
    if customer.marketing_consent != marketing:
        customer.marketing_consent, customer.consent_changed_at = marketing, clock.now()
    session.flush()


def opt_out(session: Session, customer: Customer, *, out: bool = True) -> None:
    """No message at all from now (``out``), or messages again. Opting out also withdraws
    consent to offers."""
    now = clock.now()
    if out and customer.opted_out_at is None:
        customer.opted_out_at = now
        set_consent(session, customer, marketing=False)
    elif not out:
        customer.opted_out_at = None
    session.flush()


def merge(session: Session, survivor: Customer, merged: Customer, *, reason: str, user_id: int | None) -> CustomerMerge:
    """``merged`` is the same person as ``survivor``: its orders, messages and cases are
    read as the survivor's from now. Undoable. Flushes."""
    reason = (reason or "").strip()
    if not reason:
        raise CustomerError("say why they are the same person")
    if survivor.id == merged.id:
        raise CustomerError("a customer cannot be merged into itself")
    if merged.merged_into_id is not None:
        raise CustomerError(f"{merged.phone} is already merged into another record")
    if root_of(session, survivor).id == merged.id:
        raise CustomerError(f"{survivor.phone} is merged into {merged.phone}: merge the other way")
    survivor = root_of(session, survivor)
    merged.merged_into_id = survivor.id
    if survivor.email is None and merged.email:
        survivor.email = merged.email
    record = CustomerMerge(survivor_id=survivor.id, merged_id=merged.id, reason=reason[:200], by_user_id=user_id,
                           at=clock.now())
    session.add(record)
    session.flush()
    return record


def undo_merge(session: Session, merge_id: int, *, user_id: int | None) -> CustomerMerge:
    record = session.get(CustomerMerge, merge_id)
    if record is None:
        raise CustomerError(f"no merge {merge_id}")
    if record.undone_at is not None:
        raise CustomerError("the merge was undone already")
    merged = session.get(Customer, record.merged_id)
    if merged.merged_into_id != record.survivor_id:
        raise CustomerError("the record was merged again since: undo that first")
    merged.merged_into_id = None
    record.undone_at, record.undone_by = clock.now(), user_id
    session.flush()
    return record


def merges_of(session: Session, customer_id: int) -> list[CustomerMerge]:
    return list(session.scalars(select(CustomerMerge).where(or_(
        CustomerMerge.survivor_id == customer_id, CustomerMerge.merged_id == customer_id))
        .order_by(CustomerMerge.id.desc())))


def duplicates(session: Session, customer: Customer, *, limit: int = 10) -> list[Customer]:
    """Other unmerged records that look like the same person: the same e-mail."""
    if not customer.email:
        return []
    ids = set(family(session, customer.id))
    return [c for c in session.scalars(select(Customer).where(
        Customer.email == customer.email, Customer.merged_into_id.is_(None))
        .order_by(Customer.id).limit(limit + len(ids))) if c.id not in ids][:limit]
