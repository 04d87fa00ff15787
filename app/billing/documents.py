"""The finance documents as PDF (reportlab): invoices and credit notes, statements of
account. Vietnamese text renders with the PDFs' TrueType font (``app.pdf``); the company's
details come from the configuration (WAYBILL_COMPANY_*)."""
from __future__ import annotations

import io
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from app.billing.models import Invoice, InvoiceLine
from app.billing.money import Money
from app.crm.models import Partner
from app.pdf import fonts, plain


@dataclass(frozen=True)
class Company:
    name: str
    address: str
    tax_id: str
    bank: str

    @classmethod
    def from_config(cls, config) -> Company:
        return cls(config.get("WAYBILL_COMPANY_NAME", "Waybill"), config.get("WAYBILL_COMPANY_ADDRESS", ""),
                   config.get("WAYBILL_COMPANY_TAX_ID", ""), config.get("WAYBILL_COMPANY_BANK", ""))


class _Doc:
    def __init__(self, font: str | None, title: str):
        found = fonts(font)
        self.text = (lambda s: s) if found.unicode else plain
        self.body = ParagraphStyle("body", fontName=found.regular, fontSize=9.5, leading=12.5)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=8, leading=10, textColor=colors.HexColor("#444"))
        self.bold = ParagraphStyle("bold", parent=self.body, fontName=found.bold)
        self.right = ParagraphStyle("right", parent=self.body, alignment=2)
        self.right_bold = ParagraphStyle("right_bold", parent=self.bold, alignment=2)
        self.big = ParagraphStyle("big", parent=self.body, fontName=found.bold, fontSize=17, leading=21)
        self.out = io.BytesIO()
        self.doc = SimpleDocTemplate(self.out, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm,
                                     topMargin=16 * mm, bottomMargin=16 * mm, title=title, creator="Waybill")
        self.story: list = []

    def p(self, value, style=None):
        return Paragraph(escape(self.text(str(value))).replace("\n", "<br/>"), style or self.body)

    def header(self, company: Company, title: str, facts: list[tuple[str, str]]):
        left = [self.p(company.name, self.bold), self.p(company.address, self.small)]
        if company.tax_id:
            left.append(self.p(f"Tax id (MST): {company.tax_id}", self.small))
        right = [self.p(title, self.big)] + [self.p(f"{k}: {v}", self.right) for k, v in facts]
        table = Table([[left, right]], colWidths=[95 * mm, 83 * mm])
        table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (1, 0), (1, 0), "RIGHT")]))
        self.story += [table, Spacer(1, 8 * mm)]

    def table(self, rows: list[list], widths: list[float], *, totals: int = 0):
        table = Table(rows, colWidths=widths, repeatRows=1)
        style = [("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                 ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                 ("VALIGN", (0, 0), (-1, -1), "TOP"),
                 ("ROWBACKGROUNDS", (0, 1), (-1, -1 - totals), [colors.white, colors.HexColor("#f6f6f6")])]
        if totals:
            style.append(("LINEABOVE", (0, -totals), (-1, -totals), 0.8, colors.black))
        table.setStyle(TableStyle(style))
        self.story.append(table)

    def build(self) -> bytes:
        self.doc.build(self.story)
        return self.out.getvalue()


def invoice_pdf(invoice: Invoice, lines: list[InvoiceLine], partner: Partner, company: Company, *,
                corrects: Invoice | None = None, font: str | None = None) -> bytes:
    """An invoice (or credit note): who bills whom, the lines, VAT and total, how to pay."""
    credit = invoice.kind == "credit_note"
    title = "CREDIT NOTE · GHI CHÚ TÍN DỤNG" if credit else "INVOICE · HÓA ĐƠN"
    d = _Doc(font, f"{'Credit note' if credit else 'Invoice'} {invoice.number}")

    def money(amount):
        return str(Money(amount, invoice.currency))

    facts = [("Number", invoice.number), ("Issued", f"{invoice.issued_on:%d %b %Y}")]
    if not credit:
        facts += [("Period", f"{invoice.period_start:%d %b} – {invoice.period_end:%d %b %Y}"),
                  ("Due", f"{invoice.due_on:%d %b %Y}")]
    d.header(company, title, facts)
    bill_to = [d.p("Bill to", d.small), d.p(partner.legal_name or partner.name, d.bold)]
    if partner.billing_address:
        bill_to.append(d.p(partner.billing_address))
    if partner.tax_id:
        bill_to.append(d.p(f"Tax id (MST): {partner.tax_id}"))
    d.story += bill_to + [Spacer(1, 6 * mm)]
    if credit and corrects is not None:
        d.story += [d.p(f"Corrects invoice {corrects.number} of {corrects.issued_on:%d %b %Y}: {invoice.reason}"),
                    Spacer(1, 4 * mm)]
    rows = [[d.p("Description", d.bold), d.p("Shipments", d.right_bold), d.p("Amount", d.right_bold)]]
    for line in lines:
        rows.append([d.p(line.description), d.p(f"{line.quantity:,}", d.right), d.p(money(line.net_amount), d.right)])
    rate = f" ({invoice.vat_amount * 100 / invoice.net_amount:.0f} %)" if invoice.net_amount else ""
    rows += [[d.p("Net", d.bold), "", d.p(money(invoice.net_amount), d.right)],
             [d.p(f"VAT{rate}", d.bold), "", d.p(money(invoice.vat_amount), d.right)],
             [d.p("Total credited" if credit else "Total due", d.bold), "", d.p(money(invoice.total_amount),
                                                                               d.right_bold)]]
    d.table(rows, [112 * mm, 26 * mm, 40 * mm], totals=3)
    d.story.append(Spacer(1, 8 * mm))
    if credit:
        d.story.append(d.p("This amount is taken off what you owe on the invoice above."))
    else:
        d.story.append(d.p(f"Please pay {money(invoice.total_amount)} by {invoice.due_on:%d %b %Y}"
                           f"{' to ' + company.bank if company.bank else ''}, quoting {invoice.number}. "
                           "Every shipment on this invoice is listed in the CSV that comes with it."))
    return d.build()


def statement_pdf(statement, partner: Partner, company: Company, *, font: str | None = None) -> bytes:
    """A statement of account: opening balance, each movement, closing balance."""
    d = _Doc(font, f"Statement {partner.name} {statement.start} – {statement.end}")

    def money(amount):
        return str(Money(amount, statement.currency))

    d.header(company, "STATEMENT · SAO KÊ", [("Account", partner.legal_name or partner.name),
                                             ("From", f"{statement.start:%d %b %Y}"),
                                             ("To", f"{statement.end:%d %b %Y}")])
    rows = [[d.p(h, d.bold) for h in ("Date", "What", "Reference")] + [d.p(h, d.right_bold) for h in ("Amount", "Balance")]]
    rows.append([d.p(f"{statement.start:%d %b}"), d.p("Opening balance", d.bold), "", "",
                 d.p(money(statement.opening), d.right)])
    for line in statement.lines:
        rows.append([d.p(f"{line.day:%d %b}"), d.p(line.what), d.p(line.reference, d.small),
                     d.p(money(line.amount), d.right), d.p(money(line.balance), d.right)])
    rows.append([d.p(f"{statement.end:%d %b}"), d.p("Closing balance", d.bold), "", "",
                 d.p(money(statement.closing), d.right_bold)])
    d.table(rows, [18 * mm, 44 * mm, 52 * mm, 32 * mm, 32 * mm], totals=1)
    d.story += [Spacer(1, 6 * mm), d.p("A positive balance is owed to Waybill; a negative one is owed to you "
                                       "(cash on delivery collected and not yet remitted).", d.small)]
    return d.build()


def remittance_pdf(remittance, partner: Partner, rows: list[tuple], netted: list[tuple[str, int]], company: Company,
                   *, font: str | None = None) -> bytes:
    """A remittance statement: every shipment whose COD it pays, the invoices netted from
    it, the payout."""
    d = _Doc(font, f"Remittance {remittance.number}")

    def money(amount):
        return str(Money(amount, remittance.currency))

    facts = [("Number", remittance.number), ("Deliveries up to", f"{remittance.delivered_until:%d %b %Y}"),
             ("Status", remittance.status)]
    if remittance.paid_at:
        facts.append(("Paid", f"{remittance.paid_at:%d %b %Y}"))
    d.header(company, "COD REMITTANCE · ĐỐI SOÁT COD", facts)
    d.story += [d.p("Pay to", d.small), d.p(partner.legal_name or partner.name, d.bold)]
    if partner.bank_account:
        d.story.append(d.p(partner.bank_account))
    d.story.append(Spacer(1, 6 * mm))
    table = [[d.p(h, d.bold) for h in ("Tracking number", "Reference", "Delivered", "Method")]
             + [d.p(h, d.right_bold) for h in ("Due", "Collected", "Payable")]]
    for number, reference, day, due, got, method, pay in rows:
        table.append([d.p(number, d.small), d.p(reference, d.small), d.p(day, d.small), d.p(method or "", d.small),
                      d.p(money(due), d.right), d.p(money(got), d.right), d.p(money(pay), d.right)])
    table.append([d.p(f"{remittance.shipments:,} shipments", d.bold), "", "", "", "", "",
                  d.p(money(remittance.cod_amount), d.right_bold)])
    d.table(table, [34 * mm, 28 * mm, 20 * mm, 16 * mm, 27 * mm, 27 * mm, 26 * mm], totals=1)
    d.story.append(Spacer(1, 6 * mm))
    totals = [[d.p("COD collected for you", d.bold), d.p(money(remittance.cod_amount), d.right)]]
    for number, amount in netted:
        totals.append([d.p(f"Less invoice {number} (netted, as agreed)"), d.p(money(-amount), d.right)])
    totals.append([d.p("Paid to your account", d.bold), d.p(money(remittance.payout_amount), d.right_bold)])
    d.table([[d.p("Summary", d.bold), ""]] + totals, [138 * mm, 40 * mm], totals=1)
    return d.build()


def close_report_pdf(period: str, report: dict, company: Company, *, closed_by: str | None = None,
                     font: str | None = None) -> bytes:
    """The report a month's close kept: its checks (with what they listed) and the trial
    balance at the month's end, as they were when it closed."""
    d = _Doc(font, f"Close of {period}")
    facts = [("Period", period), ("Closed", report.get("closed_at", "")[:16].replace("T", " ") + " UTC")]
    if closed_by:
        facts.append(("By", closed_by))
    d.header(company, "MONTH CLOSE · KHÓA SỔ", facts)
    rows = [[d.p("Check", d.bold), d.p("", d.bold)]]
    for check in report["checks"]:
        listed = "\n".join(f"{kind} {ident}: {words}" for kind, ident, words in check["rows"])
        rows.append([d.p(check["rule"][:1].upper() + check["rule"][1:]), d.p("passed" if check["ok"] else "FAILED")])
        if listed:
            rows.append([d.p(listed, d.small), ""])
    d.table(rows, [150 * mm, 28 * mm])
    d.story.append(Spacer(1, 6 * mm))
    balance = [[d.p(h, d.bold) for h in ("Account", "Currency")] + [d.p(h, d.right_bold) for h in ("Debit", "Credit")]]
    from app.billing.ledger import CHART

    for key, amount in report["trial_balance"].items():
        code, currency = key.split()
        balance.append([d.p(f"{code} {CHART[code].name}"), d.p(currency),
                        d.p(str(Money(amount, currency)) if amount > 0 else "", d.right),
                        d.p(str(Money(-amount, currency)) if amount < 0 else "", d.right)])
    d.table(balance, [90 * mm, 20 * mm, 34 * mm, 34 * mm])
    return d.build()
