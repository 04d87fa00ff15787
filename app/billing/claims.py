"""Parcels declared lost or damaged: the shipment ends (the lifecycle tells the partner)
and the declared value is recorded as a claim. Customer service accepts it (all or part
of the declared value: posted, owed to the partner) or rejects it; finance pays it from
the bank (posted)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.billing import posting
from app.billing.models import Claim
from app.billing.money import Money
from app.orders import shipments

KINDS = ("lost", "damaged")


class ClaimError(ValueError):
    pass


def claim_of(session: Session, shipment_id: int) -> Claim | None:
    return session.scalars(select(Claim).where(Claim.shipment_id == shipment_id)).first()


def declare_loss(session: Session, shipment_id: int, *, kind: str, reason: str, currency: str,
                 evidence_ref: str | None, user_id: int | None, actor: str) -> Claim:
    """A parcel on hold is written off as lost or damaged, with a reason (and evidence):
    one transition (``declare_lost``, its event carrying the kind) and one claim for its
    declared value. Flushes."""
    if kind not in KINDS:
        raise ClaimError(f"kind must be one of {', '.join(KINDS)}")
    reason = (reason or "").strip()
    if not reason:
        raise ClaimError("say why: where it was last seen, what the damage is")
    [shipment] = shipments.lock_shipments(session, [shipment_id]) or [None]
    if shipment is None:
        raise LookupError(f"no shipment {shipment_id}")
    shipments.transition(session, shipment, "declare_lost", actor=actor, locked=True, reason=reason[:200],
                         data={"kind": kind, "evidence": evidence_ref})
    values = shipments.declared_values(session, shipment_id)
    amount = values.get(currency, 0)
    claim = Claim(shipment_id=shipment_id, partner_id=shipment.partner_id, kind=kind, amount=amount,
                  currency=currency, reason=reason[:500], evidence_ref=evidence_ref, created_by=user_id)
    session.add(claim)
    session.flush()
    return claim


def accept(session: Session, claim: Claim, *, amount: int | None = None, case_id: int | None = None,
           actor: str) -> Claim:
    """Waybill will pay ``amount`` (default: the declared value; never more): posted as
    owed to the partner. Flushes."""
    if claim.status != "open":
        raise ClaimError(f"the claim is {claim.status}")
    amount = claim.amount if amount is None else amount
    if not isinstance(amount, int) or amount <= 0:
        raise ClaimError("the amount is a whole number of minor units, more than zero (reject it otherwise)")
    if amount > claim.amount:
        raise ClaimError(f"at most the declared value, {Money(claim.amount, claim.currency)}")
    claim.status, claim.accepted_amount, claim.accepted_at, claim.case_id = "accepted", amount, clock.now(), case_id
    session.flush()
    posting.post(session, "claim_accepted", claim, actor=actor)
    return claim


def reject(session: Session, claim: Claim, *, reason: str, case_id: int | None = None) -> Claim:
    if claim.status != "open":
        raise ClaimError(f"the claim is {claim.status}")
    reason = (reason or "").strip()
    if not reason:
        raise ClaimError("say why the claim is rejected")
    claim.status, claim.rejected_reason, claim.case_id = "rejected", reason[:300], case_id
    session.flush()
    return claim


def pay(session: Session, claim: Claim, *, reference: str, actor: str) -> Claim:
    """The accepted amount left the bank for the partner: posted. Flushes."""
    if claim.status != "accepted":
        raise ClaimError("only an accepted claim is paid" if claim.status == "open" else f"the claim is {claim.status}")
    reference = (reference or "").strip()
    if not reference:
        raise ClaimError("give the bank's reference of the transfer")
    claim.status, claim.paid_at, claim.paid_reference = "paid", clock.now(), reference[:100]
    session.flush()
    posting.post(session, "claim_paid", claim, actor=actor)
    return claim


def claims_to_pay(session: Session, *, limit: int = 200) -> list[Claim]:
    return list(session.scalars(select(Claim).where(Claim.status == "accepted")
                                .order_by(Claim.accepted_at).limit(limit)))
