"""Invoices and credit notes to partners, numbered without gaps.

An invoice run takes, per partner and currency, every charge not yet invoiced that was
made before the end of the period (so a late charge is billed on the next invoice, never
lost), and bills it on one invoice: lines by kind (freight, surcharges, returns, failed
attempts) with how many shipments each covers; VAT as charged; totals; the due date from
the partner's payment terms. The charges are claimed by the invoice in one statement
(``UPDATE ... WHERE invoice_id IS NULL RETURNING``), so no charge is ever on two
invoices. The run holds the series' row locked from the first number to the commit: two
runs at once make one set of documents, numbered in order, with no gap (a rolled-back run
gives its numbers back with its transaction).

Issuing posts ``invoice_issued`` (unbilled to receivable) and queues the e-mail to the
partner's billing address (the PDF and the CSV of every charge attached) through the
outbox. A credit note corrects an issued invoice: its own number in the CN series, a
reason, an amount up to what is left of the invoice, posted against 4900 and VAT.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app import clock
from app.billing import posting
from app.billing.models import (
    Charge,
    DocumentSeries,
    Invoice,
    InvoiceLine,
    PaymentAllocation,
)
from app.billing.money import Money, round_minor
from app.billing.rating import LINES
from app.crm.models import Partner
from app.orders.models import Order, Shipment
from app.outbox import add_outbox

SERIES = {"invoice": "INV", "credit_note": "CN"}
CYCLES = ("monthly", "weekly")
#: What a charge of each kind is, when its breakdown has no lines (charges made before
#: rate cards kept them).
KIND_CODES = {"delivery_fee": "freight", "return_fee": "return", "failed_attempt_fee": "failed_attempt",
              "adjustment": "adjustment"}


class InvoiceError(ValueError):
    pass


# -- numbering ---------------------------------------------------------------------------

def lock_series(session: Session, series: str, year: int) -> DocumentSeries:
    """The series' row for the year, made if missing, locked until the commit."""
    dialect = session.get_bind().dialect.name
    make = (pg_insert if dialect == "postgresql" else sqlite_insert)(DocumentSeries).values(
        series=series, year=year, next_number=1)
    session.execute(make.on_conflict_do_nothing(index_elements=["series", "year"]))
    return session.scalars(select(DocumentSeries).where(DocumentSeries.series == series, DocumentSeries.year == year)
                           .with_for_update().execution_options(populate_existing=True)).one()


def take_number(row: DocumentSeries) -> str:
    number = f"{row.series}-{row.year}-{row.next_number:06d}"
    row.next_number += 1
    return number


# -- periods -----------------------------------------------------------------------------

def windows(period: str, cycle: str) -> list[tuple[date, date]]:
    """The billing periods of a month for a cycle, each [start, end): the month; or its
    weeks, Monday to Sunday, cut at the month's first and last day (a week across two
    months is invoiced in two parts, so that every month's charges are on its own invoices
    and the month can close)."""
    year, month = map(int, period.split("-"))
    start = date(year, month, 1)
    end = (start + timedelta(days=32)).replace(day=1)
    if cycle == "monthly":
        return [(start, end)]
    out, monday = [], start - timedelta(days=start.weekday())
    while monday < end:
        out.append((max(monday, start), min(monday + timedelta(days=7), end)))
        monday += timedelta(days=7)
    return out


def _instant(day: date) -> datetime:
    return datetime.combine(day, time(), clock.network_zone())


# -- the run -----------------------------------------------------------------------------

@dataclass
class RunResult:
    invoices: list[Invoice]
    #: Partners with nothing to invoice in the period.
    skipped: int


def _lines_of(charges) -> tuple[list[dict], int, int]:
    """Invoice lines (by code, in the order of ``LINES``), VAT and total, from charge rows."""
    by_code: dict[str, dict] = {}
    vat = total = 0
    for c in charges:
        vat += c.vat_amount
        total += c.amount
        lines = (c.breakdown or {}).get("lines") or [[KIND_CODES[c.kind], c.amount - c.vat_amount]]
        if sum(a for _, a in lines) != c.amount - c.vat_amount:  # kept before lines were
            lines = [[KIND_CODES[c.kind], c.amount - c.vat_amount]]
        for code, amount in lines:
            line = by_code.setdefault(code, {"code": code, "quantity": 0, "net_amount": 0})
            line["quantity"] += 1
            line["net_amount"] += amount
    order = list(LINES)
    out = sorted(by_code.values(), key=lambda x: order.index(x["code"]) if x["code"] in order else len(order))
    for line in out:
        words, account = LINES.get(line["code"], (line["code"], "4100"))
        line.update(description=words, account=account)
    return out, vat, total


def run(session: Session, period: str, *, partner_ids: list[int] | None = None, cycle: str | None = None,
        user_id: int | None = None) -> RunResult:
    """Invoice the month ``period`` (YYYY-MM): monthly partners for the month, weekly
    partners for each week that ends in it, everything not yet invoiced up to the end.
    Only periods that have ended. Flushes; the caller commits."""
    today = clock.today()
    stmt = select(Partner).where(Partner.active.is_(True)).order_by(Partner.id)
    if partner_ids is not None:
        stmt = stmt.where(Partner.id.in_(partner_ids))
    if cycle is not None:
        stmt = stmt.where(Partner.billing_cycle == cycle)
    partners = list(session.scalars(stmt))
    series = lock_series(session, SERIES["invoice"], today.year)
    made, skipped = [], 0
    for partner in partners:
        for start, end in windows(period, partner.billing_cycle if partner.billing_cycle in CYCLES else "monthly"):
            if end > today:
                continue  # not over yet
            found = _invoice_partner(session, series, partner, start, end, today, user_id)
            made += found
            skipped += not found
    return RunResult(made, skipped)


def _invoice_partner(session: Session, series: DocumentSeries, partner: Partner, start: date, end: date,
                     today: date, user_id: int | None) -> list[Invoice]:
    before = _instant(end)
    currencies = list(session.scalars(select(Charge.currency).distinct().where(
        Charge.partner_id == partner.id, Charge.invoice_id.is_(None), Charge.created_at < before)))
    made = []
    for currency in sorted(currencies):
        invoice = Invoice(number=take_number(series), kind="invoice", partner_id=partner.id, period_start=start,
                          period_end=end - timedelta(days=1), issued_on=today,
                          due_on=today + timedelta(days=partner.payment_terms_days), currency=currency,
                          net_amount=0, vat_amount=0, total_amount=0, created_by=user_id, created_at=clock.now())
        session.add(invoice)
        session.flush()
        claimed = session.execute(
            update(Charge).where(Charge.partner_id == partner.id, Charge.invoice_id.is_(None),
                                 Charge.currency == currency, Charge.created_at < before)
            .values(invoice_id=invoice.id)
            .returning(Charge.id, Charge.kind, Charge.amount, Charge.vat_amount, Charge.breakdown)
            .execution_options(synchronize_session=False)).all()
        lines, vat, total = _lines_of(claimed)
        invoice.vat_amount, invoice.total_amount, invoice.net_amount = vat, total, total - vat
        session.add_all([InvoiceLine(invoice_id=invoice.id, **line) for line in lines])
        session.flush()
        _issued(session, invoice, user_id)
        made.append(invoice)
    return made


def _issued(session: Session, invoice: Invoice, user_id: int | None) -> None:
    posting.post(session, "invoice_issued", invoice, actor=f"user:{user_id}" if user_id else "system:billing")
    add_outbox(session, "invoice_email", {"invoice_id": invoice.id})
    kind = "credit_note" if invoice.kind == "credit_note" else "invoice"
    add_outbox(session, "partner_event", {
        "partner_id": invoice.partner_id, "type": f"{kind}.issued", "id": f"evt_{kind}_{invoice.id}",
        "data": {"invoice_id": invoice.id, "number": invoice.number, "kind": invoice.kind,
                 "issued_on": invoice.issued_on.isoformat(), "due_on": invoice.due_on.isoformat(),
                 "total": {"amount": invoice.total_amount, "currency": invoice.currency},
                 "corrects": invoice.corrects_id}})


# -- credit notes ------------------------------------------------------------------------

def credit_note(session: Session, invoice_id: int, amount: int, *, reason: str, user_id: int | None) -> Invoice:
    """A credit note for ``amount`` (VAT included) of an issued invoice: its VAT in the
    invoice's proportion, numbered in the CN series, applied to the invoice, posted."""
    reason = (reason or "").strip()
    if not reason:
        raise InvoiceError("say why the invoice is corrected")
    original = session.get(Invoice, invoice_id, with_for_update=True)
    if original is None or original.kind != "invoice":
        raise InvoiceError(f"no invoice {invoice_id} to correct")
    credited = int(session.scalar(select(func.coalesce(func.sum(Invoice.total_amount), 0)).where(
        Invoice.corrects_id == original.id)) or 0)
    if not isinstance(amount, int) or amount <= 0:
        raise InvoiceError("the amount is a whole number of minor units, more than zero")
    if amount > original.total_amount - credited:
        left = Money(original.total_amount - credited, original.currency)
        raise InvoiceError(f"at most {left} is left to credit on {original.number}")
    today = clock.today()
    vat = round_minor(Decimal(amount) * original.vat_amount / original.total_amount) if original.total_amount else 0
    series = lock_series(session, SERIES["credit_note"], today.year)
    note = Invoice(number=take_number(series), kind="credit_note", partner_id=original.partner_id,
                   period_start=original.period_start, period_end=original.period_end, issued_on=today,
                   due_on=today, currency=original.currency, net_amount=amount - vat, vat_amount=vat,
                   total_amount=amount, corrects_id=original.id, reason=reason[:300], created_by=user_id,
                   created_at=clock.now())
    session.add(note)
    session.flush()
    session.add(InvoiceLine(invoice_id=note.id, code="credit", description=f"Correction of {original.number}: "
                            f"{reason[:150]}", quantity=1, net_amount=amount - vat, account="4900"))
    session.add(PaymentAllocation(invoice_id=original.id, credit_note_id=note.id,
                                  amount=min(amount, max(open_amount(session, original), 0)),
                                  created_at=clock.now()))
    session.flush()
    _issued(session, note, user_id)
    return note


# -- reading -----------------------------------------------------------------------------

def paid_amount(session: Session, invoice: Invoice) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(PaymentAllocation.amount), 0))
                              .where(PaymentAllocation.invoice_id == invoice.id)) or 0)


def open_amount(session: Session, invoice: Invoice) -> int:
    """What is left to pay on an invoice (0 for a credit note)."""
    return 0 if invoice.kind == "credit_note" else invoice.total_amount - paid_amount(session, invoice)


def status_of(invoice: Invoice, paid: int) -> str:
    if invoice.kind == "credit_note":
        return "issued"
    if paid >= invoice.total_amount:
        return "paid"
    return "partially_paid" if paid else ("overdue" if invoice.due_on < clock.today() else "issued")


def invoices_of(session: Session, *, partner_id: int | None = None, limit: int = 100,
                before_id: int | None = None, status: str | None = None) -> list[tuple[Invoice, int]]:
    """Invoices and credit notes, newest first, each with what was paid on it."""
    paid = (select(PaymentAllocation.invoice_id, func.sum(PaymentAllocation.amount).label("paid"))
            .group_by(PaymentAllocation.invoice_id).subquery())
    stmt = (select(Invoice, func.coalesce(paid.c.paid, 0)).outerjoin(paid, paid.c.invoice_id == Invoice.id)
            .order_by(Invoice.id.desc()).limit(limit))
    if partner_id is not None:
        stmt = stmt.where(Invoice.partner_id == partner_id)
    if before_id:
        stmt = stmt.where(Invoice.id < before_id)
    rows = [(inv, int(p)) for inv, p in session.execute(stmt)]
    if status:
        rows = [(inv, p) for inv, p in rows if status_of(inv, p) == status]
    return rows


def lines_of(session: Session, invoice_id: int) -> list[InvoiceLine]:
    return list(session.scalars(select(InvoiceLine).where(InvoiceLine.invoice_id == invoice_id)
                                .order_by(InvoiceLine.id)))


CSV_HEADER = ["invoice", "tracking_number", "reference", "service_level", "charged_at", "kind", "net", "vat",
              "total", "currency"]


def charges_csv(session: Session, invoice: Invoice):
    """Every charge on the invoice, one row each, in major units (streamed)."""
    from app.billing.exports import major

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    tz = clock.network_zone()
    rows = session.execute(
        select(Shipment.tracking_number, Order.reference, Order.service_level, Charge.created_at, Charge.kind,
               Charge.amount, Charge.vat_amount, Charge.currency)
        .join(Shipment, Shipment.id == Charge.shipment_id).join(Order, Order.id == Shipment.order_id)
        .where(Charge.invoice_id == invoice.id).order_by(Charge.id).execution_options(yield_per=5000))
    for n, r in enumerate(rows):
        writer.writerow([invoice.number, r.tracking_number, r.reference, r.service_level,
                         r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), r.kind,
                         major(r.amount - r.vat_amount, r.currency), major(r.vat_amount, r.currency),
                         major(r.amount, r.currency), r.currency])
        if n % 1000 == 999:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def billing_address_of(partner: Partner) -> str | None:
    return partner.billing_email or partner.contact_email


def pdf_of(session: Session, invoice: Invoice, *, company, font: str | None = None) -> bytes:
    from app.billing.documents import invoice_pdf

    partner = session.get(Partner, invoice.partner_id)
    corrects = session.get(Invoice, invoice.corrects_id) if invoice.corrects_id else None
    return invoice_pdf(invoice, lines_of(session, invoice.id), partner, company, corrects=corrects, font=font)


def email_for(session: Session, invoice_id: int, *, company, font: str | None = None):
    """(to, subject, body, attachments) of the e-mail that sends an invoice or credit note
    to the partner's billing address; None when the partner has none."""
    invoice = session.get(Invoice, invoice_id)
    partner = session.get(Partner, invoice.partner_id) if invoice else None
    to = billing_address_of(partner) if partner else None
    if not to:
        return None
    credit = invoice.kind == "credit_note"
    what = "Credit note" if credit else "Invoice"
    total = Money(invoice.total_amount, invoice.currency)
    body = (f"Dear {partner.legal_name or partner.name},\n\n"
            + (f"please find credit note {invoice.number} for {total}, correcting an invoice: {invoice.reason}.\n"
               if credit else
               f"please find invoice {invoice.number} for {invoice.period_start:%d %b} – {invoice.period_end:%d %b %Y}: "
               f"{total}, due on {invoice.due_on:%d %b %Y}. Every shipment it covers is in the CSV.\n")
            + f"\n{company.name}\n")
    attachments = [(f"{invoice.number}.pdf", pdf_of(session, invoice, company=company, font=font), "application/pdf")]
    if not credit:
        attachments.append((f"{invoice.number}.csv", "".join(charges_csv(session, invoice)).encode(), "text/csv"))
    return to, f"Waybill {what.lower()} {invoice.number}", body, tuple(attachments)


def mark_emailed(session: Session, invoice_id: int) -> None:
    invoice = session.get(Invoice, invoice_id)
    if invoice is not None and invoice.emailed_at is None:
        invoice.emailed_at = clock.now()
