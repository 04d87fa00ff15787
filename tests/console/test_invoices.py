"""Finance's invoice pages: the month's run, an invoice with its PDF and CSV, a credit
note, a payment by hand and from a bank statement, AR ageing, a statement of account,
a partner's billing settings; refusals are named and nothing is half done."""
from __future__ import annotations

import io
import re

import time_machine
from sqlalchemy import select

from app import clock
from app.auth.models import AuditEntry
from app.billing import fees, ledger
from app.billing.models import Invoice, Payment
from app.crm.models import Partner
from tests.auth.conftest import csrf_of, sign_in
from tests.billing.test_invoices import _next_month, _pdf_text
from tests.factories import deliver_direct


def _month_delivered(client, session, partner, n=2):
    with client.application.app_context():
        for i in range(n):
            shipment = deliver_direct(session, partner, f"CI-{i}", cod=250_000)
            fees.collect_fees(session, [shipment.id])
        session.commit()


def _sign_in_finance(client, session):
    from tests.console.test_finance import _finance

    _finance(client, session)


def test_finance_runs_the_month_and_works_an_invoice(client, users, session, partner, day):
    _month_delivered(client, session, partner)
    month = ledger.period_of(day)
    with time_machine.travel(_next_month(day), tick=False):
        client = client.application.test_client()
        _sign_in_finance(client, session)
        page = client.get("/console/finance/invoices").get_data(as_text=True)
        assert f'<option value="{month}">' in page
        done = client.post("/console/finance/invoices/run", data={"period": month, "csrf_token": csrf_of(page)},
                           follow_redirects=True).get_data(as_text=True)
        invoice = session.scalars(select(Invoice)).one()
        assert f"1 invoice issued for {month} ({invoice.number} – {invoice.number})" in done
        page = client.get(f"/console/finance/invoices/{invoice.id}").get_data(as_text=True)
        assert re.search(rf'id="total">{invoice.total_amount:,} VND<', page) and "Freight" in page

        pdf = client.get(f"/console/finance/invoices/{invoice.id}.pdf")
        assert pdf.mimetype == "application/pdf" and invoice.number in _pdf_text(pdf.data)
        rows = client.get(f"/console/finance/invoices/{invoice.id}.csv").get_data(as_text=True).splitlines()
        assert rows[0].startswith("invoice,tracking_number") and len(rows) == 3

        refused = client.post(f"/console/finance/invoices/{invoice.id}/credit-note",
                              data={"amount": "10,800", "reason": "", "csrf_token": csrf_of(page)},
                              follow_redirects=True).get_data(as_text=True)
        assert "No credit note: say why the invoice is corrected" in refused
        made = client.post(f"/console/finance/invoices/{invoice.id}/credit-note",
                           data={"amount": "10,800", "reason": "one parcel late", "csrf_token": csrf_of(page)},
                           follow_redirects=True).get_data(as_text=True)
        assert "Credit note CN-" in made and re.search(r'id="paid">10,800 VND<', made)

        payments_page = client.get("/console/finance/payments").get_data(as_text=True)
        left = invoice.total_amount - 10_800
        client.post("/console/finance/payments", data={
            "partner_id": partner.id, "amount": f"{left:,}", "currency": "VND",
            "received_on": clock.today().isoformat(), "reference": invoice.number,
            "csrf_token": csrf_of(payments_page)}, follow_redirects=True)
        page = client.get(f"/console/finance/invoices/{invoice.id}").get_data(as_text=True)
        assert 'id="invoice-status">paid<' in page and re.search(r'id="left">0 VND<', page)

        statement = client.get(f"/console/finance/partners/{partner.id}/statement?from={day.replace(day=1)}"
                               ).get_data(as_text=True)
        assert "Invoice" in statement and "Credit note" in statement and "Payment received" in statement
        assert re.search(r'id="closing">-500,000 VND<', statement)  # the COD is owed to the partner
        pdf = client.get(f"/console/finance/partners/{partner.id}/statement.pdf?from={day.replace(day=1)}")
        assert "SAO KÊ" in _pdf_text(pdf.data) and "-500,000 VND" in _pdf_text(pdf.data)
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"invoices.run", "credit_note.issued", "payment.recorded"} <= actions


def test_a_bank_statement_upload_says_what_happened_to_each_line(client, users, session, partner, day):
    _month_delivered(client, session, partner, n=1)
    with time_machine.travel(_next_month(day), tick=False):
        client = client.application.test_client()
        _sign_in_finance(client, session)
        page = client.get("/console/finance/invoices").get_data(as_text=True)
        client.post("/console/finance/invoices/run", data={"period": ledger.period_of(day),
                                                           "csrf_token": csrf_of(page)})
        invoice = session.scalars(select(Invoice)).one()
        csv_text = (f"date,amount,reference\n{clock.today()},{invoice.total_amount},{invoice.number}\n"
                    f"{clock.today()},5000,unknown payer\n")
        page = client.get("/console/finance/payments").get_data(as_text=True)
        r = client.post("/console/finance/payments/import", data={
            "statement": (io.BytesIO(csv_text.encode()), "statement.csv"), "currency": "VND",
            "csrf_token": csrf_of(page)}, content_type="multipart/form-data")
        text = r.get_data(as_text=True)
        assert "1 payment recorded from 2 lines" in text
        assert "line 2</td><td>" in text and "no partner matches" in text
        assert session.scalar(select(Payment.source)) == "bank_import"
        ageing = client.get("/console/finance/ageing").get_data(as_text=True)
        assert "Nothing is owed on an invoice" in ageing


def test_billing_settings_are_saved_checked_and_audited(client, users, session, partner):
    partner.legal_name, partner.billing_cycle, partner.net_cod_against_invoices = None, "monthly", False
    session.commit()
    _sign_in_finance(client, session)
    page = client.get(f"/console/finance/partners/{partner.id}").get_data(as_text=True)
    form = {"legal_name": "Công ty TNHH Sách Sài Gòn", "tax_id": "0312345678", "billing_address": "45 Lê Lợi, Q1",
            "billing_email": "ketoan@saigonbooks.example", "billing_cycle": "weekly", "payment_terms_days": "30",
            "remittance_days": "1", "net_cod_against_invoices": "on", "bank_account": "VCB 0071000123456",
            "csrf_token": csrf_of(page)}
    bad = client.post(f"/console/finance/partners/{partner.id}", data={**form, "payment_terms_days": "soon"},
                      follow_redirects=True).get_data(as_text=True)
    assert "Not saved: payment terms: a number of days" in bad
    assert session.get(Partner, partner.id).legal_name is None  # nothing half saved
    page = client.post(f"/console/finance/partners/{partner.id}", data=form, follow_redirects=True)
    assert "Billing settings saved" in page.get_data(as_text=True)
    saved = session.get(Partner, partner.id)  # each request ends with its session: read again
    assert (saved.billing_cycle, saved.payment_terms_days, saved.net_cod_against_invoices) == ("weekly", 30, True)
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "partner.billing_changed")).one()
    assert entry.details["billing_cycle"] == ["monthly", "weekly"]


def test_invoices_are_finances(client, users):
    sign_in(client, "disp@test.example")
    for path in ("/console/finance/invoices", "/console/finance/payments", "/console/finance/ageing",
                 "/console/finance/partners/1", "/console/finance/partners/1/statement"):
        assert client.get(path).status_code == 403, path


def test_a_month_not_over_is_not_offered_nor_run(client, users, session, day):
    _sign_in_finance(client, session)
    page = client.get("/console/finance/invoices").get_data(as_text=True)
    r = client.post("/console/finance/invoices/run", data={"period": ledger.period_of(day),
                                                           "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Not run: choose a month that has ended" in r.get_data(as_text=True)
    assert f'<option value="{ledger.period_of(day)}">' not in page


def test_finance_adjusts_a_shipments_charge_on_its_page(client, users, session, partner):
    from app.billing.models import Charge

    with client.application.app_context():
        shipment = deliver_direct(session, partner, "CI-ADJ")
        fees.collect_fees(session, [shipment.id])
        session.commit()
        sid = shipment.id
    _sign_in_finance(client, session)
    page = client.get(f"/console/shipments/{sid}").get_data(as_text=True)
    assert 'id="adjust"' in page
    bad = client.post(f"/console/shipments/{sid}/adjust", data={"amount": "-1,000", "reason": " ",
                                                               "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Not adjusted: say why the charge is adjusted" in bad.get_data(as_text=True)
    done = client.post(f"/console/shipments/{sid}/adjust", data={"amount": "-1,080", "reason": "goodwill",
                                                                "csrf_token": csrf_of(page)}, follow_redirects=True)
    text = done.get_data(as_text=True)
    assert "Adjusted by -1,080 VND" in text and "goodwill" in text
    assert session.scalars(select(Charge.amount).where(Charge.kind == "adjustment")).one() == -1_080
    dispatcher = client.application.test_client()
    sign_in(dispatcher, "disp@test.example")
    assert 'id="adjust"' not in dispatcher.get(f"/console/shipments/{sid}").get_data(as_text=True)
    assert dispatcher.post(f"/console/shipments/{sid}/adjust", data={"amount": "1", "reason": "x"}).status_code in (
        400, 403)
