"""Finance in a real browser, on the demo: the books of the simulated month, the trial
balance, a partner's ledger from a link, and the month's checks."""
import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.billing import ledger
from app.crm.models import Partner
from tests.browser.conftest import sign_in
from tests.browser.test_console import reads, shots


def test_finance_reads_the_books_of_the_demo_month(page, demo, session, tmp_path):
    partner = reads(session, lambda: session.scalars(select(Partner.name).order_by(Partner.id)).first())
    sign_in(page, demo["logins"]["finance"])
    page.wait_for_url("**/console/")
    page.click("nav a:has-text('Finance')")
    page.wait_for_url("**/console/finance/")
    books = page.locator("#books-today").inner_text()
    assert "VND" in books and books.rstrip().endswith("0 VND")  # debits = credits
    page.screenshot(path=str(tmp_path / "finance.png"), full_page=True)

    page.click("nav.tabs a:has-text('Trial balance')")
    assert "1305 Unbilled receivables" in page.locator("#trial-balance").inner_text()
    page.click("#trial-balance a:has-text('2100 COD payable to partners')")
    page.wait_for_url("**/console/finance/ledger?account=2100*")
    page.click(f"#ledger a:has-text('{partner}')")
    page.wait_for_url("**/console/finance/ledger?party=partner*")
    assert page.locator("#ledger tr").count() > 2
    page.screenshot(path=str(tmp_path / "finance-ledger.png"), full_page=True)

    month = ledger.period_of(clock.today())
    page.goto(f"/console/finance/periods/{month}")
    assert "The month has ended" in page.locator("#checks").inner_text()
    assert page.locator("#check-month_over.error").count() == 1  # the current month cannot close yet
    page.screenshot(path=str(tmp_path / "finance-close.png"), full_page=True)
    assert page.errors == []


def test_finance_writes_a_contract_rate_and_previews_a_parcel(page, demo, session, tmp_path):
    partner_id, partner = reads(session, lambda: session.execute(
        select(Partner.id, Partner.name).order_by(Partner.id)).first())
    sign_in(page, demo["logins"]["finance"])
    page.wait_for_url("**/console/")
    page.goto("/console/finance/rates")
    page.select_option("#partner", str(partner_id))
    page.click("#new-contract button")
    page.wait_for_url("**/console/finance/rates/new?*")
    page.fill("input[name=price_0_0]", "14000")
    page.fill("#preview_km", "3")
    page.fill("#preview_kg", "0.4")
    page.click("button[value=preview]")
    assert page.locator("#preview-total").inner_text() == "15,120 VND"  # 14,000 + 8 % VAT
    page.screenshot(path=str(shots(tmp_path) / "finance-rate-card.png"), full_page=True)
    page.fill("#note", "agreed in the December review")
    page.click("button[value=save]")
    page.wait_for_url("**/console/finance/rates/*")
    assert f"{partner} contract" in page.locator("h1").inner_text()
    assert "14,000 VND" in page.locator("#tariff").inner_text()
    assert "scheduled" in page.locator("#versions").inner_text()
    assert page.errors == []


@pytest.fixture
def last_month(app, session, demo):
    """Last month played on top of the demo: orders delivered on four of its days, cash
    counted, fees charged; nothing invoiced, deposited or remitted yet."""
    from app import demo as demo_data
    from app.simulation import Simulation
    from workers.jobs import run_pending

    period = ledger.period_of(clock.today().replace(day=1) - timedelta(days=1))
    demo_data.seed_month(Simulation(session, drain=run_pending, rng=random.Random(3), only=set()), period, 40)
    session.commit()
    session.remove()
    return period


def test_finance_runs_last_month_from_invoices_to_the_close(page, demo, last_month, session, tmp_path):
    sign_in(page, demo["logins"]["finance"])
    page.wait_for_url("**/console/")
    page.goto("/console/finance/invoices")
    page.select_option("#period", last_month)
    page.click("#run button")
    assert "issued for " + last_month in page.locator(".flash").inner_text()
    page.screenshot(path=str(shots(tmp_path) / "finance-invoices.png"), full_page=True)
    partner_name = page.locator("#invoices tr:nth-child(2) td:nth-child(2) a").inner_text()
    page.click("#invoices tr:nth-child(2) a >> nth=0")
    number = page.locator("h1").inner_text().split()[1]
    total = page.locator("#total").inner_text()
    page.screenshot(path=str(tmp_path / "finance-invoice.png"), full_page=True)

    # The partner paid that invoice by bank transfer.
    page.goto("/console/finance/payments")
    page.select_option("#partner_id", label=partner_name)
    page.fill("#amount", total.replace(" VND", ""))
    page.fill("#reference", f"CK {number}")
    page.click("#record-payment button")
    assert "recorded" in page.locator(".flash").inner_text()

    # The hubs' counted cash goes to the bank; the COD due is remitted and paid.
    page.goto("/console/finance/deposits")
    while page.locator("#waiting form").count():
        page.locator("#waiting form").first.locator("input[name=bank_reference]").fill("VCB-SLIP")
        page.locator("#waiting form").first.locator("button").click()
        page.goto("/console/finance/deposits")
    page.goto("/console/finance/remittances")
    page.click("#run button")
    assert "approved" in page.locator(".flash").inner_text()
    page.click("#remittances tr:nth-child(2) a")
    if page.locator("#mark-paid").count():
        page.fill("#bank_reference", "VCB-PAYOUT")
        page.click("#mark-paid button")
    assert page.locator("#remittance-status").inner_text() == "paid"
    page.screenshot(path=str(shots(tmp_path) / "finance-remittance.png"), full_page=True)

    # Last month closes in one click.
    page.goto(f"/console/finance/periods/{last_month}")
    assert page.locator("#checks .error").count() == 0, page.locator("#checks").inner_text()
    page.click("#close button")
    assert page.locator("#period-status").inner_text() == "closed"
    page.screenshot(path=str(shots(tmp_path) / "finance-close-report.png"), full_page=True)
    assert page.errors == []

