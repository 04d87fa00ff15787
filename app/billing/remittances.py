"""COD from the hub to the partner's bank: deposits of the hubs' counted cash, and
remittances to partners on their cycle.

A deposit takes a hub's counted, not yet deposited handovers to the bank (a slip listing
them) and posts ``cash_deposited``. A remittance run gives each partner one remittance
for the COD of its deliveries made up to T-N days ago (its ``remittance_days``) that is
settled (no open cash difference) and not yet remitted: the collections are claimed in
one ``UPDATE ... RETURNING``, so none is remitted twice; when the partner agreed, its open
invoices are netted from the COD (oldest first, posted at once: ``remittance_netted``);
the rest is the payout, in the bank's payout file until finance marks it paid
(``remittance_paid``), when the partner is told (e-mail and ``remittance.paid``).

What a collection owes the partner (``payable``) is what 2100 holds for it: the COD due,
less a short payment the partner accepted when finance settled the difference.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from app import clock
from app.billing import ledger, posting
from app.billing.invoices import lock_series, open_amount, take_number
from app.billing.models import (
    CashDeposit,
    CashHandover,
    CodCollection,
    DriverSettlement,
    Invoice,
    PaymentAllocation,
    ProviderPayout,
    Remittance,
)
from app.billing.money import Money
from app.crm.models import Partner
from app.orders.models import Order, Shipment
from app.outbox import add_outbox

SERIES = "REM"


class RemittanceError(ValueError):
    pass


def payable_sql():
    """What a collection owes its partner, as a column expression."""
    return CodCollection.amount_due - case(
        (CodCollection.settlement_outcome == "partner_accepts",
         CodCollection.amount_due - CodCollection.amount_collected), else_=0)


def payable(cod: CodCollection) -> int:
    if cod.settlement_outcome == "partner_accepts":
        return cod.amount_collected
    return cod.amount_due


def _ready(partner: Partner, today: date):
    """The collections of ``partner`` that are due for remittance ``today``."""
    until = today - timedelta(days=partner.remittance_days)
    cut = datetime.combine(until + timedelta(days=1), time(), clock.network_zone())
    return until, (CodCollection.partner_id == partner.id, CodCollection.remittance_id.is_(None),
                   CodCollection.collected_at < cut,
                   (CodCollection.amount_collected == CodCollection.amount_due) | CodCollection.settled_at.is_not(None))


# -- deposits ----------------------------------------------------------------------------

def deposit(session: Session, hub_id: int, currency: str, *, bank_reference: str, user_id: int | None,
            deposited_on: date | None = None) -> CashDeposit:
    """Take every counted, not yet deposited handover of the hub in ``currency`` to the
    bank. Flushes; raises RemittanceError when there is nothing to deposit."""
    bank_reference = (bank_reference or "").strip()
    if not bank_reference:
        raise RemittanceError("give the bank's reference of the deposit slip")
    slip = CashDeposit(hub_id=hub_id, currency=currency, amount=0, deposited_on=deposited_on or clock.today(),
                       bank_reference=bank_reference[:100], created_by=user_id, created_at=clock.now())
    session.add(slip)
    session.flush()
    claimed = session.execute(
        update(CashHandover).where(CashHandover.hub_id == hub_id, CashHandover.currency == currency,
                                   CashHandover.received_at.is_not(None), CashHandover.deposit_id.is_(None))
        .values(deposit_id=slip.id).returning(CashHandover.received_amount)
        .execution_options(synchronize_session=False)).all()
    slip.amount = sum(amount for (amount,) in claimed)
    if not claimed or slip.amount <= 0:
        raise RemittanceError("no counted cash at this hub waits for the bank")
    session.flush()
    posting.post(session, "cash_deposited", slip, actor=f"user:{user_id}" if user_id else "system:billing")
    return slip


def cash_at_hubs(session: Session) -> list[tuple[int, str, int, int]]:
    """(hub id, currency, handovers, amount) counted and not yet deposited."""
    return [(hub, currency, n, int(total or 0)) for hub, currency, n, total in session.execute(
        select(CashHandover.hub_id, CashHandover.currency, func.count(), func.sum(CashHandover.received_amount))
        .where(CashHandover.received_at.is_not(None), CashHandover.deposit_id.is_(None))
        .group_by(CashHandover.hub_id, CashHandover.currency).order_by(CashHandover.hub_id))]


def deposits_of(session: Session, *, hub_id: int | None = None, limit: int = 100) -> list[CashDeposit]:
    stmt = select(CashDeposit).order_by(CashDeposit.id.desc()).limit(limit)
    if hub_id:
        stmt = stmt.where(CashDeposit.hub_id == hub_id)
    return list(session.scalars(stmt))


def handovers_in(session: Session, deposit_id: int) -> list[CashHandover]:
    return list(session.scalars(select(CashHandover).where(CashHandover.deposit_id == deposit_id)
                                .order_by(CashHandover.id)))


# -- remittances -------------------------------------------------------------------------

@dataclass
class RunResult:
    remittances: list[Remittance]


def run(session: Session, *, partner_ids: list[int] | None = None, user_id: int | None = None) -> RunResult:
    """One remittance per partner and currency with COD due today. Holds the series'
    row, so two runs at once make one set. Flushes; the caller commits."""
    today = clock.today()
    stmt = select(Partner).where(Partner.active.is_(True)).order_by(Partner.id)
    if partner_ids is not None:
        stmt = stmt.where(Partner.id.in_(partner_ids))
    series = lock_series(session, SERIES, today.year)
    made = []
    for partner in session.scalars(stmt):
        until, ready = _ready(partner, today)
        for currency in sorted(session.scalars(select(CodCollection.currency).distinct().where(*ready))):
            made.append(_remit(session, series, partner, currency, until, ready, user_id))
    return RunResult(made)


def _remit(session: Session, series, partner: Partner, currency: str, until: date, ready, user_id) -> Remittance:
    remittance = Remittance(number=take_number(series), partner_id=partner.id, currency=currency,
                            delivered_until=until, shipments=0, cod_amount=0, payout_amount=0,
                            created_by=user_id, created_at=clock.now())
    session.add(remittance)
    session.flush()
    claimed = session.execute(
        update(CodCollection).where(*ready, CodCollection.currency == currency).values(remittance_id=remittance.id)
        .returning(payable_sql()).execution_options(synchronize_session=False)).all()
    remittance.shipments = len(claimed)
    remittance.cod_amount = sum(amount for (amount,) in claimed)
    netted = 0
    if partner.net_cod_against_invoices:
        left = remittance.cod_amount
        for invoice in session.scalars(select(Invoice).where(
                Invoice.partner_id == partner.id, Invoice.kind == "invoice", Invoice.currency == currency)
                .order_by(Invoice.due_on, Invoice.id).with_for_update()):
            owed = open_amount(session, invoice)
            part = min(owed, left)
            if part > 0:
                session.add(PaymentAllocation(invoice_id=invoice.id, remittance_id=remittance.id, amount=part,
                                              created_at=clock.now()))
                session.flush()
                left -= part
                netted += part
    remittance.netted_amount, remittance.payout_amount = netted, remittance.cod_amount - netted
    session.flush()
    actor = f"user:{user_id}" if user_id else "system:billing"
    posting.post(session, "remittance_netted", remittance, actor=actor)
    if remittance.payout_amount == 0:  # all of it netted: nothing goes through the bank
        _paid(session, remittance, user_id=user_id, bank_reference="netted in full")
    return remittance


def mark_paid(session: Session, remittance_id: int, *, bank_reference: str, user_id: int | None) -> Remittance:
    """The bank confirmed the payout: recorded once, posted, the partner told."""
    remittance = session.get(Remittance, remittance_id, with_for_update=True)
    if remittance is None:
        raise RemittanceError(f"no remittance {remittance_id}")
    if remittance.status == "paid":
        raise RemittanceError(f"{remittance.number} is paid already")
    if not (bank_reference or "").strip():
        raise RemittanceError("give the bank's reference of the payout")
    _paid(session, remittance, user_id=user_id, bank_reference=bank_reference.strip()[:100])
    return remittance


def _paid(session: Session, remittance: Remittance, *, user_id: int | None, bank_reference: str) -> None:
    remittance.status, remittance.paid_at, remittance.paid_by = "paid", clock.now(), user_id
    remittance.bank_reference = bank_reference
    session.flush()
    posting.post(session, "remittance_paid", remittance, actor=f"user:{user_id}" if user_id else "system:billing")
    add_outbox(session, "remittance_email", {"remittance_id": remittance.id})
    add_outbox(session, "partner_event", {
        "partner_id": remittance.partner_id, "type": "remittance.paid", "id": f"evt_remittance_{remittance.id}",
        "data": {"remittance_id": remittance.id, "number": remittance.number,
                 "cod": {"amount": remittance.cod_amount, "currency": remittance.currency},
                 "netted": {"amount": remittance.netted_amount, "currency": remittance.currency},
                 "payout": {"amount": remittance.payout_amount, "currency": remittance.currency},
                 "shipments": remittance.shipments}})


def remittances_of(session: Session, *, partner_id: int | None = None, status: str | None = None,
                   limit: int = 100, before_id: int | None = None) -> list[Remittance]:
    stmt = select(Remittance).order_by(Remittance.id.desc()).limit(limit)
    if before_id:
        stmt = stmt.where(Remittance.id < before_id)
    if partner_id is not None:
        stmt = stmt.where(Remittance.partner_id == partner_id)
    if status:
        stmt = stmt.where(Remittance.status == status)
    return list(session.scalars(stmt))


def cod_payable(session: Session, *, partner_id: int | None = None) -> list[tuple[int, str, int, int, date | None]]:
    """(partner id, currency, shipments, amount, earliest due date) of COD collected and
    not yet remitted: what is payable, and from when."""
    stmt = (select(CodCollection.partner_id, CodCollection.currency, func.count(), func.sum(payable_sql()),
                   func.min(CodCollection.collected_at))
            .where(CodCollection.remittance_id.is_(None))
            .group_by(CodCollection.partner_id, CodCollection.currency).order_by(CodCollection.partner_id))
    if partner_id is not None:
        stmt = stmt.where(CodCollection.partner_id == partner_id)
    partners = {p.id: p for p in session.scalars(select(Partner))}
    tz = clock.network_zone()
    return [(pid, currency, n, int(total or 0),
             first.astimezone(tz).date() + timedelta(days=partners[pid].remittance_days) if first else None)
            for pid, currency, n, total, first in session.execute(stmt)]


def statement_rows(session: Session, remittance: Remittance):
    """Every shipment a remittance pays: tracking number, reference, when, due, paid, payable."""
    tz = clock.network_zone()
    for r in session.execute(
            select(Shipment.tracking_number, Order.reference, CodCollection.collected_at, CodCollection.amount_due,
                   CodCollection.amount_collected, CodCollection.method, payable_sql().label("payable"))
            .join(Shipment, Shipment.id == CodCollection.shipment_id).join(Order, Order.id == Shipment.order_id)
            .where(CodCollection.remittance_id == remittance.id).order_by(CodCollection.collected_at)
            .execution_options(yield_per=5000)):
        yield (r.tracking_number, r.reference, r.collected_at.astimezone(tz).strftime("%Y-%m-%d"), r.amount_due,
               r.amount_collected, r.method, int(r.payable))


def statement_csv(session: Session, remittance: Remittance):
    from app.billing.exports import major

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["remittance", "tracking_number", "reference", "delivered_on", "cod_due", "cod_collected",
                     "method", "payable", "currency"])
    c = remittance.currency
    for n, (number, reference, day, due, got, method, pay) in enumerate(statement_rows(session, remittance)):
        writer.writerow([remittance.number, number, reference, day, major(due, c), major(got, c), method,
                         major(pay, c), c])
        if n % 1000 == 999:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def netted_invoices(session: Session, remittance_id: int) -> list[tuple[str, int]]:
    return [(number, int(amount)) for number, amount in session.execute(
        select(Invoice.number, PaymentAllocation.amount).join(Invoice, Invoice.id == PaymentAllocation.invoice_id)
        .where(PaymentAllocation.remittance_id == remittance_id).order_by(PaymentAllocation.id))]


PAYOUT_HEADER = ["remittance", "beneficiary", "account", "amount", "currency", "description"]


def payout_file(session: Session) -> str:
    """The bank's payout file: one transfer per approved, unpaid remittance."""
    from app.billing.exports import major

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(PAYOUT_HEADER)
    partners = {p.id: p for p in session.scalars(select(Partner))}
    for r in session.scalars(select(Remittance).where(Remittance.status == "approved").order_by(Remittance.id)):
        partner = partners[r.partner_id]
        writer.writerow([r.number, partner.legal_name or partner.name, partner.bank_account or "",
                         major(r.payout_amount, r.currency), r.currency,
                         f"Waybill COD {r.number}"])
    return out.getvalue()


def pdf_of(session: Session, remittance: Remittance, *, company, font: str | None = None) -> bytes:
    """The remittance statement as a PDF: every shipment, the invoices netted, the payout."""
    from app.billing.documents import remittance_pdf

    return remittance_pdf(remittance, session.get(Partner, remittance.partner_id),
                          list(statement_rows(session, remittance)), netted_invoices(session, remittance.id),
                          company, font=font)


def email_for(session: Session, remittance_id: int, *, company, font: str | None = None):
    """(to, subject, body, attachments) telling the partner its COD was paid."""
    from app.billing.invoices import billing_address_of

    remittance = session.get(Remittance, remittance_id)
    partner = session.get(Partner, remittance.partner_id) if remittance else None
    to = billing_address_of(partner) if partner else None
    if not to:
        return None
    money = Money(remittance.payout_amount, remittance.currency)
    body = (f"Dear {partner.legal_name or partner.name},\n\nwe paid you {money} of cash on delivery "
            f"({remittance.shipments} shipments delivered up to {remittance.delivered_until:%d %b %Y}"
            + (f", less {Money(remittance.netted_amount, remittance.currency)} of invoices netted"
               if remittance.netted_amount else "")
            + f"). Remittance {remittance.number}; the statement lists every shipment.\n\n{company.name}\n")
    pdf = pdf_of(session, remittance, company=company, font=font)
    return to, f"Waybill COD remittance {remittance.number}", body, (
        (f"{remittance.number}.pdf", pdf, "application/pdf"),
        (f"{remittance.number}.csv", "".join(statement_csv(session, remittance)).encode(), "text/csv"))


# -- clearing and drivers' balances ------------------------------------------------------

def provider_payout(session: Session, provider_id: int, amount: int, currency: str, *, received_on: date,
                    reference: str, user_id: int | None) -> ProviderPayout:
    """The card acquirer or transfer provider paid out the COD it held. Flushes."""
    if provider_id not in posting.PROVIDERS.values():
        raise RemittanceError("the provider is the card acquirer or bank transfers")
    if not isinstance(amount, int) or amount <= 0:
        raise RemittanceError("the amount is a whole number of minor units, more than zero")
    held = ledger.balance(session, "1150", currency, party=("provider", provider_id))
    if amount > held:
        raise RemittanceError(f"the provider holds {Money(held, currency)}: more cannot be paid out")
    if not (reference or "").strip():
        raise RemittanceError("give the bank's reference")
    row = ProviderPayout(provider_id=provider_id, amount=amount, currency=currency, received_on=received_on,
                         reference=reference.strip()[:100], created_by=user_id, created_at=clock.now())
    session.add(row)
    session.flush()
    posting.post(session, "clearing_settled", row, actor=f"user:{user_id}" if user_id else "system:billing")
    return row


def settle_shortage(session: Session, driver_id: int, amount: int, currency: str, *, how: str, note: str,
                    user_id: int | None) -> DriverSettlement:
    """A driver's shortage (what they owe on 1310) repaid or written off, up to what they
    owe. Flushes."""
    if how not in ("repaid", "written_off"):
        raise RemittanceError("a shortage is repaid or written off")
    owed = ledger.balance(session, "1310", currency, party=("driver", driver_id))
    if not isinstance(amount, int) or amount <= 0:
        raise RemittanceError("the amount is a whole number of minor units, more than zero")
    if amount > owed:
        raise RemittanceError(f"the driver owes {Money(max(owed, 0), currency)}")
    if not (note or "").strip():
        raise RemittanceError("say how it was settled")
    row = DriverSettlement(driver_id=driver_id, amount=amount, currency=currency, how=how, note=note.strip()[:300],
                           created_by=user_id, created_at=clock.now())
    session.add(row)
    session.flush()
    posting.post(session, "shortage_settled", row, actor=f"user:{user_id}" if user_id else "system:billing")
    return row


def driver_balances(session: Session) -> list[tuple[int, str, int]]:
    """(driver id, currency, owed) of every driver who owes a shortage (or is owed an overage)."""
    from app.billing.models import JournalEntry, JournalLine

    return [(d, c, int(t)) for d, c, t in session.execute(
        select(JournalLine.party_id, JournalLine.currency, func.sum(JournalLine.amount))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalLine.account == "1310", JournalEntry.sealed_at.is_not(None))
        .group_by(JournalLine.party_id, JournalLine.currency)
        .having(func.sum(JournalLine.amount) != 0).order_by(JournalLine.party_id))]
