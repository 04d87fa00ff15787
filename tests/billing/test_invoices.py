"""Invoices: a run per partner per period, numbered without gaps, lines from the period's
charges with VAT and totals, never a charge twice; credit notes; the PDF and CSV; the
e-mail through the outbox; payments, the bank import, AR ageing and the statement."""
from __future__ import annotations

import csv
import io
from datetime import datetime, time, timedelta

import pypdfium2
import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import clock
from app.billing import fees, invoices, ledger, payments
from app.billing.documents import Company
from app.billing.models import Charge, Invoice, InvoiceLine, PaymentAllocation
from app.crm.models import Partner
from app.outbox import OutboxMessage
from tests.factories import deliver_direct, twice_at_once


def _next_month(day, at=time(9), days=1):
    first = (day.replace(day=1) + timedelta(days=32)).replace(day=days)
    return datetime.combine(first, at, clock.network_zone())


def _delivered(session, partner, reference, cod=0):
    shipment = deliver_direct(session, partner, reference, cod=cod)
    fees.collect_fees(session, [shipment.id])
    session.commit()
    return shipment


def _pdf_text(data: bytes) -> str:
    pdf = pypdfium2.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


def test_a_months_run_invoices_each_partner_once_with_its_charges(session, partner, day):
    for i in range(3):
        _delivered(session, partner, f"IV-{i}", cod=250_000 if i else 0)
    charges = list(session.scalars(select(Charge)))
    month = ledger.period_of(day)
    with time_machine.travel(_next_month(day), tick=False):
        result = invoices.run(session, month)
        session.commit()
        [invoice] = result.invoices
        assert invoice.number == f"INV-{clock.today().year}-000001" and invoice.partner_id == partner.id
        assert invoice.total_amount == sum(c.amount for c in charges)
        assert invoice.vat_amount == sum(c.vat_amount for c in charges)
        assert invoice.due_on == clock.today() + timedelta(days=partner.payment_terms_days)
        lines = {line.code: line for line in invoices.lines_of(session, invoice.id)}
        assert lines["freight"].quantity == 3 and lines["cod_fee"].quantity == 2
        assert sum(line.net_amount for line in lines.values()) == invoice.net_amount
        session.expire_all()
        assert {c.invoice_id for c in session.scalars(select(Charge))} == {invoice.id}
        # Unbilled moved to the receivable; the e-mail is queued.
        p = ("partner", partner.id)
        assert ledger.balance(session, "1305", "VND", party=p) == 0
        assert ledger.balance(session, "1300", "VND", party=p) == invoice.total_amount
        assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.topic == "invoice_email")) == 1
        # Again: nothing new to invoice.
        assert invoices.run(session, month).invoices == []
        session.commit()


def test_a_charge_made_after_the_period_waits_for_the_next_invoice(session, partner, day):
    _delivered(session, partner, "IV-A")
    month = ledger.period_of(day)
    with time_machine.travel(_next_month(day), tick=False):
        late = _delivered(session, partner, "IV-B")  # delivered on the 1st of the next month
        first = invoices.run(session, month).invoices
        session.commit()
        assert len(first) == 1
        assert session.scalar(select(Charge.invoice_id).where(Charge.shipment_id == late.id)) is None
    with time_machine.travel(_next_month(day, days=1) + timedelta(days=32), tick=False):
        second = invoices.run(session, ledger.period_of(clock.today().replace(day=1) - timedelta(days=1))).invoices
        session.commit()
        assert [i.number[-6:] for i in second] == ["000002"]
        assert session.scalar(select(Charge.invoice_id).where(Charge.shipment_id == late.id)) == second[0].id


def test_a_period_that_has_not_ended_is_not_invoiced(session, partner, day):
    _delivered(session, partner, "IV-N")
    assert invoices.run(session, ledger.period_of(day)).invoices == []


def test_weekly_partners_get_an_invoice_a_week_cut_at_the_months_end(session, partner, day):
    partner.billing_cycle = "weekly"
    session.commit()
    _delivered(session, partner, "IV-W")
    month = ledger.period_of(day)
    start, end = invoices.windows(month, "monthly")[0]
    weeks = invoices.windows(month, "weekly")
    # Monday to Sunday, cut at the month's ends, covering it without a gap.
    assert weeks[0][0] == start and weeks[-1][1] == end
    assert all(a[1] == b[0] for a, b in zip(weeks, weeks[1:]))
    assert all(0 < (e - s).days <= 7 and (s == start or s.weekday() == 0) for s, e in weeks)
    with time_machine.travel(_next_month(day, days=2), tick=False):
        made = invoices.run(session, month).invoices
        session.commit()
    [invoice] = made
    assert invoice.period_start <= day <= invoice.period_end < end
    assert (invoice.period_end - invoice.period_start).days <= 6


def test_a_credit_note_corrects_part_of_an_invoice_and_is_posted(session, partner, day):
    _delivered(session, partner, "IV-C", cod=250_000)
    with time_machine.travel(_next_month(day), tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        with pytest.raises(invoices.InvoiceError, match="say why"):
            invoices.credit_note(session, invoice.id, 1_000, reason=" ", user_id=None)
        with pytest.raises(invoices.InvoiceError, match="at most"):
            invoices.credit_note(session, invoice.id, invoice.total_amount + 1, reason="too much", user_id=None)
        session.rollback()
        note = invoices.credit_note(session, invoice.id, 10_800, reason="late delivery", user_id=None)
        session.commit()
        assert note.number == f"CN-{clock.today().year}-000001" and note.corrects_id == invoice.id
        assert (note.net_amount, note.vat_amount) == (10_000, 800)  # the invoice's 8 %
        assert invoices.open_amount(session, invoice) == invoice.total_amount - 10_800
        assert ledger.balance(session, "4900", "VND") == 10_000
        assert ledger.balance(session, "1300", "VND", party=("partner", partner.id)) == invoice.total_amount - 10_800
        left = invoice.total_amount - 10_800
        with pytest.raises(invoices.InvoiceError, match="at most"):
            invoices.credit_note(session, invoice.id, left + 1, reason="again", user_id=None)
        session.rollback()


def test_the_pdf_and_csv_carry_the_invoice(app, session, partner, day):
    partner.legal_name, partner.tax_id = "Công ty TNHH Sách Sài Gòn", "0312345678"
    session.commit()
    for i in range(2):
        _delivered(session, partner, f"IV-P{i}", cod=250_000)
    with time_machine.travel(_next_month(day), tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        text = _pdf_text(invoices.pdf_of(session, invoice, company=Company.from_config(app.config)))
    assert invoice.number in text and "HÓA ĐƠN" in text and "Công ty TNHH Sách Sài Gòn" in text
    assert f"{invoice.total_amount:,} VND" in text and f"{invoice.vat_amount:,} VND" in text
    rows = list(csv.DictReader(io.StringIO("".join(invoices.charges_csv(session, invoice)))))
    assert len(rows) == 2 and {r["reference"] for r in rows} == {"IV-P0", "IV-P1"}
    assert sum(int(r["total"]) for r in rows) == invoice.total_amount


def test_the_invoice_is_emailed_once_with_its_pdf_and_csv(app, session, partner, day):
    from tests.smtp import SmtpServer
    from workers.jobs import run_pending

    partner.billing_email = "accounts@saigonbooks.example"
    session.commit()
    _delivered(session, partner, "IV-E")
    with SmtpServer() as smtp, time_machine.travel(_next_month(day), tick=False):
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        app.extensions.pop("waybill.mailer", None)
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        run_pending()
        run_pending()
        [mail] = [m for m in smtp.messages if m["To"] == "accounts@saigonbooks.example"]
    assert invoice.number in mail["Subject"]
    names = sorted(part.get_filename() for part in mail.iter_attachments())
    assert names == [f"{invoice.number}.csv", f"{invoice.number}.pdf"]
    session.expire_all()
    assert session.get(Invoice, invoice.id).emailed_at is not None


def test_two_runs_at_once_make_one_set_of_numbers(app, session, network, day, backend):
    """PostgreSQL: the series' row is locked from the first number to the commit."""
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")

    for p in session.scalars(select(Partner)):
        for i in range(2):
            _delivered(session, p, f"IV-R{p.id}-{i}")
    month = ledger.period_of(day)
    made, errors = twice_at_once(app, lambda s: [i.number for i in invoices.run(s, month).invoices],
                                 at=_next_month(day))
    assert errors == []
    numbers = sorted(n for run in made for n in run)
    partners = session.scalar(select(func.count()).select_from(Partner))
    assert len(numbers) == partners and sorted(map(len, made)) == [0, partners]
    assert [int(n[-6:]) for n in numbers] == list(range(1, partners + 1))
    assert session.scalar(select(func.count()).select_from(Charge).where(Charge.invoice_id.is_(None))) == 0


def test_payments_settle_the_oldest_invoices_unless_the_reference_names_one(session, partner, day):
    _delivered(session, partner, "IV-1")
    with time_machine.travel(_next_month(day), tick=False):
        [first] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        _delivered(session, partner, "IV-2")
    with time_machine.travel(_next_month(day) + timedelta(days=32), tick=False):
        [second] = invoices.run(session, ledger.period_of(clock.today().replace(day=1) - timedelta(days=1))).invoices
        session.commit()
        named = payments.record(session, partner.id, 1_000, "VND", clock.today(),
                                reference=f"pay {second.number.lower()} please", user_id=None)
        oldest = payments.record(session, partner.id, first.total_amount + 5_000, "VND", clock.today(), user_id=None)
        session.commit()
    allocated = {(a.payment_id, a.invoice_id): a.amount for a in session.scalars(select(PaymentAllocation))}
    assert allocated[(named.id, second.id)] == 1_000
    assert allocated[(oldest.id, first.id)] == first.total_amount and allocated[(oldest.id, second.id)] == 5_000
    assert invoices.status_of(first, invoices.paid_amount(session, first)) == "paid"
    assert ledger.balance(session, "1200", "VND") == named.amount + oldest.amount
    with pytest.raises(payments.PaymentError, match="more than zero"):
        payments.record(session, partner.id, 0, "VND", day, user_id=None)


def test_a_bank_statement_is_imported_row_by_row_and_once(session, partner, day):
    partner.tax_id = "0312345678"
    session.commit()
    _delivered(session, partner, "IV-B1")
    with time_machine.travel(_next_month(day, days=5), tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        today = clock.today()
        statement = "\n".join([
            "Date,Amount,Reference",
            f"{today},\"{invoice.total_amount:,}\",CK {invoice.number} SAIGON BOOKS",
            f"{today},50000,MST 0312345678 tra truoc",
            f"{today},-20000,phi ngan hang",
            f"{today},12000,someone we do not know",
            f"{today},twelve,{invoice.number}",
            "yesterday,1000,x",
        ])
        result = payments.import_bank_csv(session, statement, currency="VND", user_id=None)
        session.commit()
        again = payments.import_bank_csv(session, statement, currency="VND", user_id=None)
        session.commit()
    messages = [(r.line, r.ok, r.message) for r in result.rows]
    assert messages[0] == (2, True, "recorded") and messages[1] == (3, True, "recorded")
    assert messages[2][1] and "debit" in messages[2][2]
    assert not messages[3][1] and "no partner matches" in messages[3][2]
    assert not messages[4][1] and "not a number" in messages[4][2]
    assert not messages[5][1] and "YYYY-MM-DD" in messages[5][2]
    assert result.recorded == 2 and again.recorded == 0
    assert [r.message for r in again.rows[:2]] == ["imported before: skipped"] * 2
    assert invoices.status_of(invoice, invoices.paid_amount(session, invoice)) == "paid"
    with pytest.raises(payments.PaymentError, match="columns"):
        payments.import_bank_csv(session, "when,how much\n", currency="VND", user_id=None)


def test_ageing_puts_what_is_left_in_the_bucket_of_its_days_past_due(session, partner, day):
    _delivered(session, partner, "IV-G")
    with time_machine.travel(_next_month(day), tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        payments.record(session, partner.id, 1_000, "VND", clock.today(), user_id=None)
        session.commit()
        due = invoice.due_on
    left = invoice.total_amount - 1_000
    for days, bucket in ((0, "current"), (1, "1-30"), (45, "31-60"), (75, "61-90"), (120, "90+")):
        [row] = payments.ageing(session, on=due + timedelta(days=days))
        assert row[bucket] == left == row["total"], (days, bucket)


def test_the_statement_runs_from_opening_to_closing_like_the_ledger(session, partner, day):
    _delivered(session, partner, "IV-S1", cod=300_000)
    _delivered(session, partner, "IV-S2", cod=200_000)
    with time_machine.travel(_next_month(day, days=3), tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        payments.record(session, partner.id, invoice.total_amount, "VND", clock.today(), reference=invoice.number,
                        user_id=None)
        session.commit()
        start = day.replace(day=1)
        found = payments.statement(session, partner.id, start, clock.today(), currency="VND")
    whats = [line.what for line in found.lines]
    assert whats == ["COD collected", "Invoice", "Payment received"]
    assert found.lines[0].amount == -500_000 and found.lines[0].reference == "2 shipments"
    assert found.opening == 0 and found.closing == -500_000  # the invoice is paid; COD is owed to the partner
    party = ("partner", partner.id)
    assert found.closing == sum(ledger.balance(session, a, "VND", party=party) for a in payments.STATEMENT_ACCOUNTS)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 10**7), st.integers(0, 10**6), st.sampled_from(
    ["delivery_fee", "return_fee", "failed_attempt_fee"]), st.booleans()), min_size=1, max_size=12))
def test_an_invoices_total_is_its_lines_plus_vat_whatever_the_charges(charges):
    """Charges with or without lines (kept before rate cards had them): the lines' sum and
    the VAT make the total."""
    from types import SimpleNamespace

    rows = []
    for net, vat, kind, with_lines in charges:
        breakdown = {"lines": [["freight", net - net // 3], ["fuel", net // 3]]} if with_lines else {}
        rows.append(SimpleNamespace(kind=kind, amount=net + vat, vat_amount=vat, breakdown=breakdown))
    lines, vat, total = invoices._lines_of(rows)
    assert sum(line["net_amount"] for line in lines) + vat == total == sum(r.amount for r in rows)


def test_no_charge_is_ever_on_two_invoices(session, partner, day):
    _delivered(session, partner, "IV-X1")
    _delivered(session, partner, "IV-X2")
    with time_machine.travel(_next_month(day), tick=False):
        invoices.run(session, ledger.period_of(day))
        invoices.run(session, ledger.period_of(day))
        session.commit()
    per_invoice = session.execute(select(InvoiceLine.invoice_id, func.sum(InvoiceLine.quantity))
                                  .where(InvoiceLine.code == "freight").group_by(InvoiceLine.invoice_id)).all()
    assert [q for _, q in per_invoice] == [2]


def test_a_bank_line_with_no_reference_is_matched_by_the_amount_of_one_open_invoice(session, partner, day):
    _delivered(session, partner, "IV-AM")
    with time_machine.travel(_next_month(day, days=5), tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        text = f"date,amount,reference\n{clock.today()},{invoice.total_amount},CK thanh toan\n"
        [row] = payments.import_bank_csv(session, text, currency="VND", user_id=None).rows
        session.commit()
    assert row.ok and row.partner == partner.name
    assert invoices.status_of(invoice, invoices.paid_amount(session, invoice)) == "paid"
    from app.billing.models import Payment

    assert session.scalars(select(Payment.reference)).one() == f"CK thanh toan (matched to {invoice.number} by its amount)"


def test_an_adjustment_is_a_new_line_billed_on_the_next_invoice(session, partner, day):
    """A correction never edits a charge: it is a line of its own (several per shipment),
    posted, and billed on the partner's next invoice, even when the fee was invoiced."""
    from app.billing.fees import AdjustmentError, adjust

    shipment = _delivered(session, partner, "IV-ADJ")
    [fee] = session.scalars(select(Charge).where(Charge.shipment_id == shipment.id))
    with pytest.raises(AdjustmentError, match="say why"):
        adjust(session, shipment.id, -1_000, reason="", user_id=None, actor="user:1")
    with pytest.raises(AdjustmentError, match="cannot be credited more"):
        adjust(session, shipment.id, -(fee.amount + 1), reason="too much", user_id=None, actor="user:1")
    session.rollback()
    with time_machine.travel(_next_month(day), tick=False):
        [first] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        adjust(session, shipment.id, -10_800, reason="weighed again: 2 kg, not 5", user_id=None, actor="user:1")
        adjust(session, shipment.id, 5_400, reason="a second attempt we forgot", user_id=None, actor="user:1")
        session.commit()
        session.expire_all()
        adjustments = list(session.scalars(select(Charge).where(Charge.kind == "adjustment").order_by(Charge.id)))
        assert [(a.amount, a.vat_amount) for a in adjustments] == [(-10_800, -800), (5_400, 400)]
        assert session.get(Charge, fee.id).amount == fee.amount  # the fee itself is untouched
    with time_machine.travel(_next_month(day) + timedelta(days=32), tick=False):
        [second] = invoices.run(session, ledger.period_of(clock.today().replace(day=1) - timedelta(days=1))).invoices
        session.commit()
    assert second.total_amount == -5_400 and first.total_amount == fee.amount
    assert [(line.code, line.quantity, line.net_amount) for line in invoices.lines_of(session, second.id)] == [
        ("adjustment", 2, -5_000)]
    p = ("partner", partner.id)
    assert ledger.balance(session, "1300", "VND", party=p) == fee.amount - 5_400


def test_the_partners_webhook_hears_invoice_issued_once(app, session, partner, day):
    from app.webhooks import services as webhooks
    from app.webhooks.models import WebhookDelivery
    from workers.jobs import run_pending

    webhooks.create_endpoint(session, partner, url="http://127.0.0.1:9/hook", event_types=["invoice.issued"],
                             allow_private=True)
    session.commit()
    _delivered(session, partner, "IV-WH")
    with time_machine.travel(_next_month(day), tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        run_pending()
        run_pending()
    session.rollback()
    [delivery] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_type == "invoice.issued"))
    assert delivery.payload["id"] == f"evt_invoice_{invoice.id}"
    assert delivery.payload["data"]["number"] == invoice.number
    assert delivery.payload["data"]["total"] == {"amount": invoice.total_amount, "currency": "VND"}
