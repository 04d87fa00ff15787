"""Parcels declared lost or damaged: the shipment ends (the lifecycle tells the partner)
and the declared value is recorded as owed to the partner, a claim to settle."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.billing.models import Claim
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
