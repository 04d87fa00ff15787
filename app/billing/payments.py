"""Payments from partners, AR ageing and statements of account.

A payment is recorded by hand or imported from a bank statement (CSV: date, amount,
reference): each line is matched to a partner by the invoice numbers in its reference
(or the partner's name or tax id, or else the one open invoice of exactly its amount),
and recorded once (a line imported twice is skipped).
A payment is allocated to the invoices its reference names, then to the partner's oldest
open invoices; what is left stays on account. Each posts ``payment_received``."""
from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from app import clock
from app.billing import ledger, posting
from app.billing.invoices import open_amount
from app.billing.models import (
    Invoice,
    JournalEntry,
    JournalLine,
    Payment,
    PaymentAllocation,
)
from app.billing.money import EXPONENTS, CurrencyError, check_currency
from app.crm.models import Partner

INVOICE_NUMBER = re.compile(r"\bINV-\d{4}-\d{6}\b", re.IGNORECASE)
#: AR ageing buckets: days past the due date.
BUCKETS = (("current", None, 0), ("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))


class PaymentError(ValueError):
    pass


def _open_invoices(session: Session, partner_id: int, currency: str) -> list[Invoice]:
    return list(session.scalars(select(Invoice).where(
        Invoice.partner_id == partner_id, Invoice.kind == "invoice", Invoice.currency == currency)
        .order_by(Invoice.due_on, Invoice.id).with_for_update()))


def allocate(session: Session, payment: Payment) -> list[PaymentAllocation]:
    """Settle invoices with the payment: those its reference names first, then the oldest."""
    named = {n.upper() for n in INVOICE_NUMBER.findall(payment.reference or "")}
    invoices = _open_invoices(session, payment.partner_id, payment.currency)
    invoices.sort(key=lambda i: (i.number not in named, i.due_on, i.id))
    left, made = payment.amount, []
    for invoice in invoices:
        if left <= 0:
            break
        owed = open_amount(session, invoice)
        if owed <= 0:
            continue
        part = min(owed, left)
        made.append(PaymentAllocation(invoice_id=invoice.id, payment_id=payment.id, amount=part,
                                      created_at=clock.now()))
        session.add(made[-1])
        session.flush()
        left -= part
    return made


def record(session: Session, partner_id: int, amount: int, currency: str, received_on: date, *,
           reference: str = "", source: str = "manual", bank_line: str | None = None,
           user_id: int | None = None) -> Payment:
    """A payment received: recorded, posted, allocated. Flushes."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise PaymentError(f"no partner {partner_id}")
    try:
        check_currency(currency)
    except CurrencyError as exc:
        raise PaymentError(str(exc)) from None
    if not isinstance(amount, int) or amount <= 0:
        raise PaymentError("the amount is a whole number of minor units, more than zero")
    if received_on > clock.today():
        raise PaymentError("a payment is received today or before")
    payment = Payment(partner_id=partner_id, amount=amount, currency=currency, received_on=received_on,
                      reference=(reference or "").strip()[:200], source=source, bank_line=bank_line,
                      created_by=user_id, created_at=clock.now())
    session.add(payment)
    session.flush()
    posting.post(session, "payment_received", payment, actor=f"user:{user_id}" if user_id else "system:billing")
    allocate(session, payment)
    return payment


# -- bank statement import ---------------------------------------------------------------

@dataclass
class BankRow:
    line: int
    ok: bool
    message: str
    payment_id: int | None = None
    partner: str | None = None


@dataclass
class ImportResult:
    rows: list[BankRow] = field(default_factory=list)

    @property
    def recorded(self) -> int:
        return sum(1 for r in self.rows if r.ok and r.payment_id)


def parse_amount(raw: str, currency: str) -> int:
    """'1,250,000' or '1250000.00' in major units -> minor units."""
    text = (raw or "").replace(" ", "").replace(",", "")
    if not re.fullmatch(r"-?\d+(\.\d+)?", text):
        raise PaymentError(f"the amount {raw!r} is not a number")
    major, _, minor = text.partition(".")
    exp = EXPONENTS[currency]
    if len(minor.rstrip("0")) > exp:
        raise PaymentError(f"{raw!r} has more decimals than {currency} has")
    return int(major) * 10 ** exp + (int((minor + "0" * exp)[:exp]) if exp else 0) * (-1 if text.startswith("-") else 1)


def _match(session: Session, reference: str, amount: int, currency: str) -> tuple[Partner | None, str]:
    """Who paid, and the reference to record: by the invoice numbers in the reference,
    else the partner's name or tax id in it, else the one open invoice left to pay of
    exactly this amount (its number is then added to the reference, so the payment
    settles it)."""
    numbers = {n.upper() for n in INVOICE_NUMBER.findall(reference)}
    if numbers:
        found = session.scalar(select(Invoice.partner_id).where(Invoice.number.in_(numbers)).limit(1))
        if found:
            return session.get(Partner, found), reference
    words = reference.casefold()
    for partner in session.scalars(select(Partner)):
        if (partner.tax_id and partner.tax_id in reference) or partner.name.casefold() in words or (
                partner.legal_name and partner.legal_name.casefold() in words):
            return partner, reference
    paid = (select(func.coalesce(func.sum(PaymentAllocation.amount), 0))
            .where(PaymentAllocation.invoice_id == Invoice.id).scalar_subquery())
    same = session.execute(select(Invoice.partner_id, Invoice.number).where(
        Invoice.kind == "invoice", Invoice.currency == currency, Invoice.total_amount - paid == amount).limit(2)).all()
    if len(same) == 1:
        partner_id, number = same[0]
        return session.get(Partner, partner_id), f"{reference} (matched to {number} by its amount)"
    return None, reference


def import_bank_csv(session: Session, text: str, *, currency: str, user_id: int | None) -> ImportResult:
    """Record the credits of a bank statement CSV (columns: date, amount, reference; a
    header row). Each row on its own savepoint: a bad or unmatched row is reported and the
    others are kept; a row imported before is skipped. Flushes; the caller commits."""
    result = ImportResult()
    reader = csv.DictReader(io.StringIO(text))
    wanted = {"date", "amount", "reference"}
    if not reader.fieldnames or not wanted <= {f.strip().lower() for f in reader.fieldnames}:
        raise PaymentError("the statement needs the columns date, amount, reference")
    for n, raw in enumerate(reader, start=2):
        row = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        try:
            day = date.fromisoformat(row["date"])
        except ValueError:
            result.rows.append(BankRow(n, False, f"the date {row['date']!r} is not YYYY-MM-DD"))
            continue
        try:
            amount = parse_amount(row["amount"], currency)
        except PaymentError as exc:
            result.rows.append(BankRow(n, False, str(exc)))
            continue
        if amount <= 0:
            result.rows.append(BankRow(n, True, "a debit: not a payment received, left alone"))
            continue
        key = hashlib.sha256(f"{day}|{amount}|{currency}|{row['reference']}".encode()).hexdigest()
        if session.scalar(select(Payment.id).where(Payment.bank_line == key)):
            result.rows.append(BankRow(n, True, "imported before: skipped"))
            continue
        partner, reference = _match(session, row["reference"], amount, currency)
        if partner is None:
            result.rows.append(BankRow(n, False, "no partner matches its reference or amount: record it by hand"))
            continue
        try:
            with session.begin_nested():
                payment = record(session, partner.id, amount, currency, day, reference=reference,
                                 source="bank_import", bank_line=key, user_id=user_id)
        except PaymentError as exc:
            result.rows.append(BankRow(n, False, str(exc)))
            continue
        result.rows.append(BankRow(n, True, "recorded", payment.id, partner.name))
    return result


# -- ageing and statements ---------------------------------------------------------------

def ageing(session: Session, *, on: date | None = None) -> list[dict]:
    """Per partner and currency: what is open on its invoices, by days past due."""
    on = on or clock.today()
    paid = (select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount).label("paid"))
            .group_by(PaymentAllocation.invoice_id).subquery())
    rows = session.execute(
        select(Invoice.partner_id, Invoice.currency, Invoice.due_on,
               Invoice.total_amount - func.coalesce(paid.c.paid, 0))
        .outerjoin(paid, paid.c.invoice_id == Invoice.id)
        .where(Invoice.kind == "invoice", Invoice.issued_on <= on,
               Invoice.total_amount > func.coalesce(paid.c.paid, 0)))
    out: dict[tuple, dict] = {}
    for partner_id, currency, due_on, left in rows:
        entry = out.setdefault((partner_id, currency), {"partner_id": partner_id, "currency": currency, "total": 0,
                                                        **{name: 0 for name, _, _ in BUCKETS}})
        late = (on - due_on).days
        bucket = next(name for name, low, high in BUCKETS
                      if (low is None or late >= low) and (high is None or late <= high))
        entry[bucket] += int(left)
        entry["total"] += int(left)
    return sorted(out.values(), key=lambda e: (-e["total"], e["partner_id"]))


#: The accounts a partner's statement follows: what it owes (invoiced), what it is owed
#: (COD), claims owed to it.
STATEMENT_ACCOUNTS = ("1300", "2100", "2300")
STATEMENT_WORDS = {"invoice_issued": "Invoice", "payment_received": "Payment received",
                   "cod_collected": "COD collected", "cod_difference_settled": "COD difference settled",
                   "remittance_netted": "Invoices netted from COD", "remittance_paid": "COD remitted",
                   "claim_accepted": "Claim accepted (lost or damaged parcel)", "claim_paid": "Claim paid",
                   "reversal": "Correction"}


@dataclass
class StatementLine:
    day: date
    what: str
    reference: str
    #: What the partner owes more (+) or less (-).
    amount: int
    balance: int = 0


@dataclass
class Statement:
    partner_id: int
    currency: str
    start: date
    end: date
    opening: int
    lines: list[StatementLine]
    closing: int


def statement(session: Session, partner_id: int, start: date, end: date, *, currency: str) -> Statement:
    """The partner's account between two days (inclusive): the opening balance, invoices,
    credit notes, payments, COD collected (a line a day), remittances, the closing
    balance. Positive: the partner owes Waybill; negative: Waybill owes the partner."""
    party = ("partner", partner_id)
    opening = sum(amount for (account, _), amount in ledger.opening_balances(
        session, party=party, currency=currency, before=start).items() if account in STATEMENT_ACCOUNTS)
    # COD collected: one line a day, not one a parcel (grouped in the database).
    each = case((JournalLine.rule == "cod_collected", 0), else_=JournalLine.entry_id)
    rows = session.execute(
        select(JournalLine.entry_date, JournalLine.rule, each.label("entry"), func.sum(JournalLine.amount),
               func.count())
        .where(JournalLine.party_type == "partner", JournalLine.party_id == partner_id,
               JournalLine.entry_date >= start, JournalLine.entry_date <= end,
               JournalLine.currency == currency, JournalLine.account.in_(STATEMENT_ACCOUNTS))
        .group_by(JournalLine.entry_date, JournalLine.rule, each)
        .order_by(JournalLine.entry_date, each)).all()
    memos = dict(session.execute(select(JournalEntry.id, JournalEntry.memo).where(
        JournalEntry.id.in_({entry for _, _, entry, _, _ in rows if entry}))).all()) if rows else {}
    lines: list[StatementLine] = []
    cod_day: dict[date, StatementLine] = {}
    shipments: dict[date, int] = {}
    for day, rule, entry, amount, count in rows:
        amount = int(amount)
        if not amount:
            continue
        if rule == "cod_collected":
            cod_day[day] = StatementLine(day, "COD collected", "", amount)
            shipments[day] = count
            lines.append(cod_day[day])
            continue
        memo = memos.get(entry, "")
        what = STATEMENT_WORDS.get(rule, (rule or "").replace("_", " ").capitalize())
        if rule == "invoice_issued" and memo.startswith("credit note"):
            what = "Credit note"
        lines.append(StatementLine(day, what, memo.split(" ", 1)[-1] if rule == "invoice_issued" else memo, amount))
    for day, line in cod_day.items():
        line.reference = f"{shipments[day]} shipment{'s' if shipments[day] > 1 else ''}"
    balance = opening
    for line in lines:
        balance += line.amount
        line.balance = balance
    return Statement(partner_id, currency, start, end, opening, lines, balance)


def payments_of(session: Session, *, partner_id: int | None = None, limit: int = 100) -> list[Payment]:
    stmt = select(Payment).order_by(Payment.id.desc()).limit(limit)
    if partner_id is not None:
        stmt = stmt.where(Payment.partner_id == partner_id)
    return list(session.scalars(stmt))


def allocations_of(session: Session, invoice_id: int) -> list[PaymentAllocation]:
    return list(session.scalars(select(PaymentAllocation).where(PaymentAllocation.invoice_id == invoice_id)
                                .order_by(PaymentAllocation.id)))
