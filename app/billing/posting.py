"""Posting rules: the business events that move money, as journal entries.

A rule is data, like the lifecycle's table: its name, the source it records, and a
function from that source to the entry's lines (DESIGN.md "Money"). The service that makes
the business change posts in the same transaction, so an entry commits or rolls back with
its cause; the source and rule together are the entry's idempotency key, so an event
handled twice posts once. Entries are dated on the network's today: a late event lands in
the open period, never in a closed one.

The signs: a debit is positive, a credit negative (``ledger.Line``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from app import clock
from app.billing import ledger
from app.billing.ledger import Draft, Line
from app.billing.models import (
    CashDeposit,
    CashHandover,
    Charge,
    Claim,
    CodCollection,
    DriverSettlement,
    Invoice,
    Payment,
    ProviderPayout,
    Remittance,
)
from app.billing.rating import LINES

#: Card and transfer COD are held by a provider until it pays out: the party of 1150.
PROVIDERS = {"card": 1, "transfer": 2}
#: Which income account a fee goes to, by the charge's kind.
REVENUE = {"delivery_fee": "4100", "return_fee": "4200", "failed_attempt_fee": "4200", "adjustment": "4100"}
#: How finance settles a cash difference at the door (short or over payment).
SETTLEMENTS = {
    "partner_accepts": "the partner is owed what the customer paid (the rest was settled between them)",
    "driver_owes": "the driver owes the shortage until repaid",
    "written_off": "Waybill bears the difference",
}


def _lines(*lines: Line) -> list[Line]:
    return [line for line in lines if line.amount]


def fee_charged(charge: Charge) -> list[Line]:
    """The partner owes the fee, VAT included, not yet invoiced (1305) against each line's
    income account (freight, returns and attempts, surcharges) and VAT payable."""
    partner = ("partner", charge.partner_id)
    income: dict[str, int] = {}
    for code, amount in charge.breakdown.get("lines", []):
        account = LINES[code][1] if code in LINES else REVENUE[charge.kind]
        income[account] = income.get(account, 0) + amount
    net = charge.amount - charge.vat_amount
    if sum(income.values()) != net:  # a breakdown kept before lines were: all of it to the kind's account
        income = {REVENUE[charge.kind]: net}
    return _lines(Line("1305", charge.amount, charge.currency, partner),
                  *(Line(account, -amount, charge.currency) for account, amount in sorted(income.items())),
                  Line("2200", -charge.vat_amount, charge.currency))


def cod_collected(cod: CodCollection) -> list[Line]:
    """The partner is owed the COD due. Cash: the driver answers for the amount due (the hub
    counts against it, and a short payment shows there). Card or transfer: the provider
    holds what was paid, and a difference at the door is the driver's until finance
    settles it."""
    partner, driver = ("partner", cod.partner_id), ("driver", cod.driver_id)
    if cod.method == "cash":
        return _lines(Line("1100", cod.amount_due, cod.currency, driver),
                      Line("2100", -cod.amount_due, cod.currency, partner))
    return _lines(Line("1150", cod.amount_collected, cod.currency, ("provider", PROVIDERS[cod.method])),
                  Line("1310", cod.amount_due - cod.amount_collected, cod.currency, driver),
                  Line("2100", -cod.amount_due, cod.currency, partner))


def cash_counted(handover: CashHandover) -> list[Line]:
    """The hub counted the driver's cash: it is at the hub now; a shortage is owed by the
    driver (an overage, owed to them) until settled."""
    driver = ("driver", handover.driver_id)
    return _lines(Line("1110", handover.received_amount, handover.currency, ("hub", handover.hub_id)),
                  Line("1310", handover.expected_amount - handover.received_amount, handover.currency, driver),
                  Line("1100", -handover.expected_amount, handover.currency, driver))


def cod_difference_settled(cod: CodCollection) -> list[Line]:
    """Finance's settlement of a difference at the door: the shortage (due less paid; an
    overage is negative) leaves the driver's balance for the partner's or Waybill's."""
    short = cod.amount_due - cod.amount_collected
    driver = ("driver", cod.driver_id)
    if cod.settlement_outcome == "partner_accepts":
        return _lines(Line("2100", short, cod.currency, ("partner", cod.partner_id)),
                      Line("1310", -short, cod.currency, driver))
    if cod.settlement_outcome == "written_off":
        return _lines(Line("5200", short, cod.currency), Line("1310", -short, cod.currency, driver))
    return []  # driver_owes: the balance stays where the count put it


def invoice_issued(invoice: Invoice) -> list[Line]:
    """Invoiced: the charges on it move from unbilled to receivable; a credit note takes
    its amount off the receivable, against credit notes (net) and VAT."""
    partner = ("partner", invoice.partner_id)
    if invoice.kind == "credit_note":
        return _lines(Line("4900", invoice.net_amount, invoice.currency),
                      Line("2200", invoice.vat_amount, invoice.currency),
                      Line("1300", -invoice.total_amount, invoice.currency, partner))
    return _lines(Line("1300", invoice.total_amount, invoice.currency, partner),
                  Line("1305", -invoice.total_amount, invoice.currency, partner))


def payment_received(payment: Payment) -> list[Line]:
    """The partner paid into Waybill's bank."""
    return _lines(Line("1200", payment.amount, payment.currency),
                  Line("1300", -payment.amount, payment.currency, ("partner", payment.partner_id)))


def cash_deposited(slip: CashDeposit) -> list[Line]:
    """A hub's counted cash taken to the bank."""
    return _lines(Line("1200", slip.amount, slip.currency), Line("1110", -slip.amount, slip.currency,
                                                                ("hub", slip.hub_id)))


def remittance_netted(remittance: Remittance) -> list[Line]:
    """Open invoices netted from the partner's COD (it agreed): what it owes and what it
    is owed both go down."""
    partner = ("partner", remittance.partner_id)
    return _lines(Line("2100", remittance.netted_amount, remittance.currency, partner),
                  Line("1300", -remittance.netted_amount, remittance.currency, partner))


def remittance_paid(remittance: Remittance) -> list[Line]:
    """The COD payout left the bank for the partner."""
    return _lines(Line("2100", remittance.payout_amount, remittance.currency, ("partner", remittance.partner_id)),
                  Line("1200", -remittance.payout_amount, remittance.currency))


def clearing_settled(payout: ProviderPayout) -> list[Line]:
    """A provider paid the card or transfer COD it held into the bank."""
    return _lines(Line("1200", payout.amount, payout.currency),
                  Line("1150", -payout.amount, payout.currency, ("provider", payout.provider_id)))


def shortage_settled(settlement: DriverSettlement) -> list[Line]:
    """A driver's shortage repaid (into the bank or from their pay) or written off."""
    debit = "1200" if settlement.how == "repaid" else "5200"
    return _lines(Line(debit, settlement.amount, settlement.currency),
                  Line("1310", -settlement.amount, settlement.currency, ("driver", settlement.driver_id)))


def claim_accepted(claim: Claim) -> list[Line]:
    """Waybill owes the partner for a parcel lost or damaged: an expense and a liability."""
    return _lines(Line("5100", claim.accepted_amount, claim.currency),
                  Line("2300", -claim.accepted_amount, claim.currency, ("partner", claim.partner_id)))


def claim_paid(claim: Claim) -> list[Line]:
    """The claim paid to the partner from the bank."""
    return _lines(Line("2300", claim.accepted_amount, claim.currency, ("partner", claim.partner_id)),
                  Line("1200", -claim.accepted_amount, claim.currency))


@dataclass(frozen=True)
class Rule:
    name: str
    source_type: str
    lines: Callable[[object], list[Line]]
    memo: Callable[[object], str]


RULES = {r.name: r for r in (
    Rule("fee_charged", "charge", fee_charged, lambda c: f"{c.kind.replace('_', ' ')}, shipment {c.shipment_id}"),
    Rule("cod_collected", "cod_collection", cod_collected,
         lambda c: f"COD by {c.method}, shipment {c.shipment_id}"),
    Rule("cash_counted", "cash_handover", cash_counted,
         lambda h: f"cash counted at hub {h.hub_id}, driver {h.driver_id}, {h.run_date:%Y-%m-%d}"),
    Rule("cod_difference_settled", "cod_collection", cod_difference_settled,
         lambda c: f"cash difference settled ({c.settlement_outcome}), shipment {c.shipment_id}"),
    Rule("invoice_issued", "invoice", invoice_issued,
         lambda i: f"{'credit note' if i.kind == 'credit_note' else 'invoice'} {i.number}"),
    Rule("payment_received", "payment", payment_received,
         lambda p: f"payment received{': ' + p.reference if p.reference else ''}"),
    Rule("cash_deposited", "cash_deposit", cash_deposited,
         lambda d: f"deposit from hub {d.hub_id}: {d.bank_reference}"),
    Rule("remittance_netted", "remittance", remittance_netted, lambda r: f"invoices netted from {r.number}"),
    Rule("remittance_paid", "remittance", remittance_paid, lambda r: f"COD remitted: {r.number}"),
    Rule("clearing_settled", "provider_payout", clearing_settled,
         lambda p: f"payout from {p.provider_id == 1 and 'the card acquirer' or 'bank transfers'}: {p.reference}"),
    Rule("claim_accepted", "claim", claim_accepted, lambda c: f"{c.kind} parcel claim, shipment {c.shipment_id}"),
    Rule("claim_paid", "claim", claim_paid, lambda c: f"claim paid: {c.paid_reference}"),
    Rule("shortage_settled", "driver_settlement", shortage_settled,
         lambda s: f"driver {s.driver_id}'s shortage {s.how.replace('_', ' ')}: {s.note}"),
)}


def draft(rule: str, source, *, actor: str) -> Draft | None:
    """The entry ``rule`` makes of ``source`` (flushed, so it has its id), or None when it
    moves no money."""
    r = RULES[rule]
    lines = r.lines(source)
    if not lines:
        return None
    return Draft(rule=r.name, source_type=r.source_type, source_id=source.id, entry_date=clock.today(),
                 lines=lines, memo=r.memo(source), actor=actor)


def post(session: Session, rule: str, source, *, actor: str) -> int:
    """Post one source by its rule, in the caller's transaction."""
    return post_each(session, [(rule, source)], actor=actor)


def post_each(session: Session, work: list[tuple[str, object]], *, actor: str) -> int:
    """Post many (rule, source) pairs in a few statements; returns the entries made."""
    drafts = [d for d in (draft(rule, source, actor=actor) for rule, source in work) if d is not None]
    return ledger.post_many(session, drafts)
