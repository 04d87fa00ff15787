"""The monthly reports: their figures equal counts made here from the rows of a played
month; a partner's report holds nothing of another partner; the files open (XLSX with
openpyxl, PDF with pdfium) and say what the page says."""
from __future__ import annotations

import io

import openpyxl
import pytest
import pypdfium2 as pdfium
from sqlalchemy import select

from app import clock
from app.billing.documents import Company
from app.billing.models import CashHandover, Charge, CodCollection, JournalLine
from app.crm.models import Case, CsatResponse, Partner
from app.delivery.models import DeliveryAttempt
from app.hubs.models import Hub
from app.orders.models import Shipment, ShipmentEvent
from app.reports import documents, monthly


def _within(moment, start, end) -> bool:
    return moment is not None and start <= clock.local(moment).date() <= end


def _figures(report) -> dict[str, object]:
    return {f.label: f.value for f in report.figures}


def test_a_partners_month_equals_its_rows_and_holds_no_other_partner(session, month):
    _, start, end = month
    partners = session.scalars(select(Partner).order_by(Partner.id)).all()
    seen = {}
    for partner in partners:
        report = monthly.partner_report(session, partner.id, start, end)
        got = _figures(report)
        shipments = [s for s in session.scalars(select(Shipment).where(Shipment.partner_id == partner.id))
                     if _within(s.created_at, start, end)]
        delivered = [s for s in shipments if s.outcome == "delivered"]
        assert got["Shipments"] == len(shipments)
        assert got["Delivered"] == len(delivered)
        assert got["Returned"] == len([s for s in shipments if s.outcome == "returned"])
        if delivered:
            assert got["On time"] == sum(clock.local(s.delivered_at).date() <= s.promised_date
                                         for s in delivered) / len(delivered)
            assert got["Delivered at the first attempt"] == sum(s.failed_attempts == 0
                                                                for s in delivered) / len(delivered)
        ids = {s.id for s in session.scalars(select(Shipment).where(Shipment.partner_id == partner.id))}
        attempts = [a for a in session.scalars(select(DeliveryAttempt)) if a.shipment_id in ids
                    and _within(a.created_at, start, end)]
        assert got["Delivery attempts"] == len(attempts)
        collections = [c for c in session.scalars(select(CodCollection).where(CodCollection.partner_id == partner.id))
                       if _within(c.collected_at, start, end)]
        assert got["COD collected"] == sum(c.amount_collected for c in collections)
        charges = [c for c in session.scalars(select(Charge).where(Charge.partner_id == partner.id))
                   if _within(c.created_at, start, end)]
        assert got["Charged (VAT included)"] == sum(c.amount for c in charges)
        cases = [c for c in session.scalars(select(Case).where(Case.partner_id == partner.id))
                 if _within(c.created_at, start, end)]
        assert got["Cases opened"] == len(cases)
        scores = [r.score for r in session.scalars(select(CsatResponse).where(CsatResponse.partner_id == partner.id))
                  if _within(r.created_at, start, end)]
        assert got["Customer satisfaction (1–5)"] == (sum(scores) / len(scores) if scores else None)
        failed = sum(row[1] for row in report.tables[0].rows)
        assert failed == len([a for a in attempts if a.outcome == "failed"])
        seen[partner.id] = (report, len(shipments))
    assert sum(n for _, n in seen.values()) == len([s for s in session.scalars(select(Shipment))
                                                     if _within(s.created_at, start, end)])
    assert len([p for p, (_, n) in seen.items() if n]) > 1, "the month has more than one partner's parcels"

    # Nothing of another partner in one's files: not its name, not its references.
    mine, other, *_ = (p for p in partners if seen[p.id][1])
    report = seen[mine.id][0]
    text = _pdf_text(documents.report_pdf(report, Company("Waybill", "", "", "")))
    assert mine.name in text and other.name not in text
    book = openpyxl.load_workbook(io.BytesIO(documents.report_xlsx(report)))
    cells = [str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c]
    assert any(mine.name in c for c in cells) and not any(other.name in c for c in cells)


def test_a_hubs_month_equals_its_rows(session, month):
    _, start, end = month
    by_hub = {}
    for a in session.scalars(select(DeliveryAttempt)):
        if _within(a.created_at, start, end):
            by_hub.setdefault(session.get(Shipment, a.shipment_id).delivery_hub_id, []).append(a)
    hub_id = max(by_hub, key=lambda h: len(by_hub[h]))
    report = monthly.hub_report(session, hub_id, start, end)
    got = _figures(report)
    attempts = by_hub[hub_id]
    assert got["Delivery attempts"] == len(attempts)
    assert got["Failed attempts"] == len([a for a in attempts if a.outcome == "failed"])
    assert got["Attempt success rate"] == len([a for a in attempts if a.outcome == "delivered"]) / len(attempts)
    arrivals = {e.shipment_id for e in session.scalars(select(ShipmentEvent).where(
        ShipmentEvent.hub_id == hub_id, ShipmentEvent.type.in_(["arrived_at_hub", "arrived_at_centre"])))
        if _within(e.server_time, start, end)}
    went_out = {e.shipment_id for e in session.scalars(select(ShipmentEvent).where(
        ShipmentEvent.type == "out_for_delivery"))}
    assert got["Parcels that went out"] == len(arrivals & went_out) > 0
    drivers = report.tables[0]
    assert sum(r[1] for r in drivers.rows) == len([a for a in attempts if a.driver_id])
    assert {r[0] for r in drivers.rows} and all(0 <= r[3] <= 1 for r in drivers.rows)
    handovers = [h for h in session.scalars(select(CashHandover).where(CashHandover.hub_id == hub_id))
                 if _within(h.received_at, start, end)]
    short = [h for h in handovers if h.received_amount != h.expected_amount]
    # The played month counted one driver 10,000 VND short: it shows at that driver's hub.
    if short:
        assert any(r[6] != "0" for r in drivers.rows)


def test_the_companys_month_reads_the_ledger(session, month):
    _, start, end = month
    report = monthly.company_report(session, start, end)
    got = _figures(report)
    lines = session.scalars(select(JournalLine)).all()
    in_month = [ln for ln in lines if start <= ln.entry_date <= end]
    until_end = [ln for ln in lines if ln.entry_date <= end]
    assert got["Revenue (ledger, VAT excluded)"] == -sum(ln.amount for ln in in_month
                                                         if ln.account in monthly.REVENUE_ACCOUNTS) > 0
    assert got["COD payable to partners at the end"] == -sum(ln.amount for ln in until_end if ln.account == "2100") > 0
    assert got["Charged, not yet invoiced, at the end"] == sum(ln.amount for ln in until_end if ln.account == "1305")
    assert got["Shipments"] == len([s for s in session.scalars(select(Shipment)) if _within(s.created_at, start, end)])
    levels = report.tables[0]
    assert sum(r[3] for r in levels.rows) == sum(c.amount for c in session.scalars(select(Charge))
                                                 if _within(c.created_at, start, end))


def test_the_files_open_and_say_what_the_report_says(session, month):
    _, start, end = month
    hub = session.scalars(select(Hub).order_by(Hub.id)).first()
    for report in (monthly.company_report(session, start, end), monthly.hub_report(session, hub.id, start, end)):
        pdf = documents.report_pdf(report, Company("Waybill", "1 Street", "", ""))
        text = _pdf_text(pdf)
        assert report.subject in text and start.isoformat() in text
        for figure in report.figures:
            assert figure.text in text, figure.label
        book = openpyxl.load_workbook(io.BytesIO(documents.report_xlsx(report)))
        summary = book.worksheets[0]
        assert summary["A1"].value == f"{report.title} · {report.subject}"
        labels = {row[0]: row[2] for row in summary.iter_rows(min_row=4, values_only=True) if row[0]}
        assert labels == {f.label: pytest.approx(f.value) if f.value is not None else None for f in report.figures}
        assert len(summary._charts) == len(report.charts) >= 1
        titles = [ws.title for ws in book.worksheets]
        for table in report.tables:
            assert table.title[:31] in titles


def _pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
