"""Fee collection: when a shipment is delivered or returned, charge the partner, record
the cash taken on delivery, and close the shipment. Idempotent: a redelivered job finds
the charge and does nothing more."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from app import clock
from app.billing import posting
from app.billing.models import Charge, CodCollection
from app.billing.money import Money, round_minor
from app.billing.rating import (
    Rate,
    Shipped,
    card_by_id,
    failed_attempts_rate,
    rate,
    rate_card_for,
    return_rate,
)
from app.delivery.services import proofs_for
from app.orders import shipments
from app.orders.lifecycle import Status

#: The fees as people read them (lazy: in the reader's language).
CHARGE_WORDS = {"delivery_fee": _l("delivery fee"), "return_fee": _l("return fee"),
                "failed_attempt_fee": _l("failed attempt fee"), "adjustment": _l("adjustment")}


def collect_fees(session: Session, shipment_ids: Iterable[int], *,
                 actor: str = "system:collect_fees") -> list[Charge]:
    """Charge the fee for each delivered or returned shipment, record its COD, and close
    it. Returns the charges made now; shipments with nothing (left) to do are skipped."""
    ready = [s for s in shipments.lock_shipments(session, list(shipment_ids))
             if s.status in (Status.DELIVERED, Status.RETURNED)]
    if not ready:
        return []
    ids = [s.id for s in ready]
    orders = shipments.orders_of(session, ready)
    charged = set(session.execute(select(Charge.shipment_id, Charge.kind)
                                  .where(Charge.shipment_id.in_(ids))).all())
    cod_done = {c.shipment_id: c for c in session.scalars(select(CodCollection)
                                                           .where(CodCollection.shipment_id.in_(ids)))}
    proofs = proofs_for(session, [s.id for s in ready if orders[s.id].cod_amount])
    tz = clock.network_zone()
    made, cods = [], []
    for shipment in ready:
        order = orders[shipment.id]
        kind = "delivery_fee" if shipment.status == Status.DELIVERED else "return_fee"
        for fee_kind, fee in _fees(session, shipment, order, kind, tz).items():
            if (shipment.id, fee_kind) not in charged and fee.amount.amount:
                made.append(Charge(partner_id=shipment.partner_id, shipment_id=shipment.id, kind=fee_kind,
                                   amount=fee.amount.amount, vat_amount=fee.vat, currency=fee.amount.currency,
                                   rate_card_id=fee.rate_card_id, breakdown=fee.breakdown))
        cod = cod_done.get(shipment.id)
        if kind == "delivery_fee" and order.cod_amount and cod is None:
            proof = proofs[shipment.id]
            cod = CodCollection(
                shipment_id=shipment.id, partner_id=shipment.partner_id, amount_due=order.cod_amount,
                amount_collected=proof.cod_received_amount, currency=order.cod_currency,
                method=proof.cod_method, driver_id=proof.driver_id, collected_at=proof.captured_at,
                difference_reason=proof.cod_difference_reason)
            session.add(cod)
            cods.append(cod)
        if cod is not None and cod.open_difference:
            continue  # charged, but open until finance settles the cash
        shipments.transition(session, shipment, "close", actor=actor, locked=True, fees_collected=True)
    session.add_all(made)
    session.flush()
    posting.post_each(session, [("fee_charged", c) for c in made] + [("cod_collected", c) for c in cods],
                      actor=actor)
    return made


def _fees(session: Session, shipment, order, kind: str, tz) -> dict[str, Rate]:
    """The fees a finished shipment owes: the delivery as quoted (the quote kept at intake)
    or the return, and its failed attempts, from the card the quote came from."""
    quote = shipment.quote
    if quote is not None:
        card = card_by_id(session, quote["card"])
    else:  # taken before quotes were kept: rated again on the card of its day
        card = rate_card_for(session, order.service_level, shipment.quoted_fee_currency,
                             order.created_at.astimezone(tz).date(), partner_id=shipment.partner_id)
    fees = {}
    if kind == "delivery_fee":
        fees[kind] = (Rate(Money(quote["total"], card.currency), quote["net"], quote["vat"], card.id, quote)
                      if quote is not None else rate(card, Shipped(shipment.distance_km, shipment.billable_grams)))
    else:
        fees[kind] = return_rate(card)
    if shipment.failed_attempts:
        fees["failed_attempt_fee"] = failed_attempts_rate(card, shipment.failed_attempts)
    return fees


class SettlementError(ValueError):
    pass


def open_cod_differences(session: Session, *, limit: int = 200) -> list[CodCollection]:
    """Cash taken at the door that differs from the amount due and is not yet settled: the
    exceptions queue lists them, oldest first."""
    return list(session.scalars(select(CodCollection).where(
        CodCollection.amount_collected != CodCollection.amount_due, CodCollection.settled_at.is_(None))
        .order_by(CodCollection.collected_at).limit(limit)))


def settle_cod_difference(session: Session, shipment_id: int, *, user_id: int, note: str, actor: str,
                          outcome: str = "partner_accepts") -> CodCollection:
    """Finance has dealt with a short or over payment: recorded once, with a note and who
    bears the difference (``posting.SETTLEMENTS``), posted; the shipment then closes."""
    [shipment] = shipments.lock_shipments(session, [shipment_id])
    cod = session.scalars(select(CodCollection).where(CodCollection.shipment_id == shipment_id)
                          .with_for_update(key_share=True)).first()
    if cod is None or cod.amount_collected == cod.amount_due:
        raise SettlementError("no cash difference on this shipment")
    if cod.settled_at is not None:
        raise SettlementError("already settled: a settlement is not changed")
    if not (note or "").strip():
        raise SettlementError("say how it was settled")
    if outcome not in posting.SETTLEMENTS:
        raise SettlementError(f"say who bears the difference: one of {', '.join(posting.SETTLEMENTS)}")
    if outcome == "driver_owes" and cod.amount_collected > cod.amount_due:
        raise SettlementError("the customer paid more than due: the driver owes nothing")
    cod.settled_at, cod.settled_by, cod.settlement_note = clock.now(), user_id, note.strip()[:500]
    cod.settlement_outcome = outcome
    if shipment.status == Status.DELIVERED:
        shipments.transition(session, shipment, "close", actor=actor, locked=True, fees_collected=True)
    session.flush()
    posting.post(session, "cod_difference_settled", cod, actor=actor)
    return cod


def fee_totals(session: Session, *, only=None) -> dict:
    """Charges by kind (count, shipments charged, total) and cash collected on delivery."""
    stmt = select(Charge.kind, Charge.currency, func.count(), func.count(distinct(Charge.shipment_id)),
                  func.sum(Charge.amount)).group_by(Charge.kind, Charge.currency)
    cod = select(CodCollection.currency, func.count(), func.sum(CodCollection.amount_due),
                 func.sum(CodCollection.amount_collected)).group_by(CodCollection.currency)
    if only is not None:
        stmt = stmt.where(Charge.shipment_id.in_(list(only)))
        cod = cod.where(CodCollection.shipment_id.in_(list(only)))
    return {
        "charges": [{"kind": k, "currency": c, "count": n, "shipments": d, "total": int(t or 0)}
                    for k, c, n, d, t in session.execute(stmt)],
        "cod": [{"currency": c, "count": n, "due": int(due or 0), "collected": int(got or 0)}
                for c, n, due, got in session.execute(cod)],
    }


class AdjustmentError(ValueError):
    pass


def adjust(session: Session, shipment_id: int, amount: int, *, reason: str, user_id: int | None,
           actor: str) -> Charge:
    """A correction of what a shipment is charged, as a new line (never an edit): ``amount``
    VAT included, more (positive) or less (negative), with a reason; its VAT at the rate
    of the shipment's quote. Billed on the partner's next invoice; posted now. Flushes."""
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentError("say why the charge is adjusted")
    if not isinstance(amount, int) or amount == 0:
        raise AdjustmentError("the amount is a whole number of minor units, not zero")
    [shipment] = shipments.lock_shipments(session, [shipment_id]) or [None]
    if shipment is None:
        raise AdjustmentError(f"no shipment {shipment_id}")
    charged = sum(c.amount for c in session.scalars(select(Charge).where(Charge.shipment_id == shipment_id)))
    if charged + amount < 0:
        raise AdjustmentError(f"the shipment is charged {Money(charged, shipment.quoted_fee_currency)} in all: "
                              "it cannot be credited more")
    vat_bp = (shipment.quote or {}).get("vat_bp", 0)
    vat = round_minor(Decimal(amount) * vat_bp / (10_000 + vat_bp))
    card = (shipment.quote or {}).get("card") or session.scalar(select(Charge.rate_card_id).where(
        Charge.shipment_id == shipment_id).limit(1))
    if card is None:
        raise AdjustmentError("the shipment has no quote or charge to adjust")
    charge = Charge(partner_id=shipment.partner_id, shipment_id=shipment_id, kind="adjustment", amount=amount,
                    vat_amount=vat, currency=shipment.quoted_fee_currency, rate_card_id=card,
                    breakdown={"lines": [["adjustment", amount - vat]], "vat": vat, "total": amount,
                               "reason": reason[:200], "by": user_id})
    session.add(charge)
    session.flush()
    posting.post(session, "fee_charged", charge, actor=actor)
    return charge


def money_of(session: Session, shipment_id: int) -> tuple[list[Charge], CodCollection | None]:
    """A shipment's charges to its partner and the cash collected on delivery, if any."""
    charges = list(session.scalars(select(Charge).where(Charge.shipment_id == shipment_id).order_by(Charge.id)))
    cod = session.scalars(select(CodCollection).where(CodCollection.shipment_id == shipment_id)).first()
    return charges, cod


def charged_between(session: Session, partner_id: int, start: datetime, end: datetime) -> tuple[int, int, str | None]:
    """(net revenue, shipments charged, currency) of a partner's charges made in [start, end)."""
    row = session.execute(
        select(func.coalesce(func.sum(Charge.amount - Charge.vat_amount), 0),
               func.count(distinct(Charge.shipment_id)), func.min(Charge.currency))
        .where(Charge.partner_id == partner_id, Charge.created_at >= start, Charge.created_at < end)).one()
    return int(row[0]), int(row[1]), row[2]
