"""Accounts and cases in a real browser, on the demo: customer service works a damaged
parcel to a compensation that finance then sees; an account manager reads an account
whole and adds a contact."""
import re

from sqlalchemy import select

from app.billing.models import Charge
from app.crm.models import Customer, Partner
from app.orders.models import Order, Shipment
from tests.browser.conftest import sign_in
from tests.browser.test_console import reads, shots


def test_customer_service_resolves_a_damaged_parcel_with_a_compensation_finance_sees(page, demo, session,
                                                                                     browser, live_server, tmp_path):
    tracking_number, shipment_id = reads(session, lambda: session.execute(
        select(Shipment.tracking_number, Shipment.id).join(Charge, Charge.shipment_id == Shipment.id)
        .join(Order, Order.id == Shipment.order_id).join(Customer, Customer.id == Order.customer_id)
        .where(Charge.kind != "adjustment", Charge.invoice_id.is_(None), Customer.email.is_not(None))
        .order_by(Shipment.id)).first())
    sign_in(page, demo["logins"]["customer_service"])
    page.wait_for_url("**/console/")
    page.click("nav a:has-text('Cases')")
    page.wait_for_url("**/console/crm/cases")
    page.select_option("#type", "damaged")
    page.fill("#tracking_number", tracking_number)
    page.fill("#subject", "Box arrived crushed")
    page.fill("#body", "The customer called: the corner of the box is crushed and a book is bent.")
    page.click("#new-case button")
    page.wait_for_url("**/console/crm/cases/*")
    # High priority: the first response is due within two business hours, and counting.
    assert re.fullmatch(r"(2 h 00|1 h 59) min left", page.locator("#sla-first-response .countdown").inner_text())
    assert page.locator("#sla-first-response .badge").inner_text() == "running"
    page.screenshot(path=str(shots(tmp_path) / "case.png"), full_page=True)
    # The same page in Vietnamese, the countdown included; then back to English.
    case_url = page.url
    page.goto(case_url + "?lang=vi")
    assert re.fullmatch(r"còn (2 giờ 00|1 giờ 59) phút", page.locator("#sla-first-response .countdown").inner_text())
    assert page.locator("#sla-first-response .badge").inner_text() == "đang tính"
    assert page.locator("#resolve h2").inner_text() == "Giải quyết"
    page.screenshot(path=str(shots(tmp_path) / "case-vi.png"), full_page=True)
    page.goto(case_url + "?lang=en")

    page.select_option("#reply-kind", "to_customer")
    page.fill("#reply textarea", "We are sorry about the damage: the shipping fee is refunded to the shop.")
    page.click("#reply button")
    assert "on its way" in page.locator(".flash").inner_text()
    assert page.locator("#sla-first-response .badge").inner_text() == "met"

    page.select_option("#outcome", "compensation")
    page.fill("#amount", "10000")
    page.fill("#note", "fee refunded for the damage")
    page.click("#resolve button")
    assert "10,000 VND off the shipment's charges" in page.locator(".flash").inner_text()
    assert page.locator("#case-status").inner_text() == "resolved"
    assert page.errors == []

    # Finance sees the credit on the shipment's charges (billed on the next invoice).
    context = browser.new_context(base_url=live_server)
    finance = context.new_page()
    sign_in(finance, demo["logins"]["finance"])
    finance.wait_for_url("**/console/")
    finance.goto(f"/console/shipments/{shipment_id}")
    assert "fee refunded for the damage" in finance.content()
    context.close()


def test_an_account_manager_reads_an_account_and_adds_a_contact(page, demo, session, tmp_path):
    name = reads(session, lambda: session.scalars(select(Partner.name).order_by(Partner.id)).first())
    sign_in(page, demo["logins"]["account_manager"])
    page.wait_for_url("**/console/")
    page.click("nav a:has-text('Accounts')")
    page.wait_for_url("**/console/crm/accounts")
    page.click(f"#accounts a:has-text('{name}')")
    page.wait_for_url("**/console/crm/accounts/*")
    weeks = page.locator("#weeks").inner_text()
    assert "week of" in weeks and "%" in weeks  # the demo's deliveries this week, on time or not
    page.fill("#c-name", "Trần Thị Hoa")
    page.fill("#c-email", "hoa@saigonbooks.example")
    page.check("#new-contact input[value=billing]")
    page.click("#new-contact button")
    assert "Trần Thị Hoa added." in page.locator(".flash").inner_text()
    page.fill("#summary", "Quarterly review: Tết volumes and the new rate card")
    page.click("#log-activity button")
    assert "Quarterly review" in page.locator("#timeline").inner_text()
    page.screenshot(path=str(shots(tmp_path) / "account.png"), full_page=True)
    assert page.errors == []


def test_an_account_manager_works_a_lead_from_proposal_to_won_and_onboarded(page, demo, browser, live_server,
                                                                             tmp_path):
    sign_in(page, demo["logins"]["account_manager"])
    page.wait_for_url("**/console/")
    page.goto("/console/crm/pipeline")
    page.fill("#company", "Lotus Mart")
    page.fill("#contact_name", "Phạm Minh Tú")
    page.fill("#email", "tu@lotus.example")
    page.fill("#phone", "0912 345 678")
    page.fill("#monthly_parcels", "3000")
    page.click("#new-lead button")
    page.wait_for_url("**/console/crm/leads/*")
    page.select_option("#stage", "qualified")
    page.click("#facts form button")
    page.fill("#discount", "12")
    page.click("#offer button")
    assert "Offer made" in page.locator(".flash").inner_text()
    assert page.locator("#lead-stage").inner_text() == "proposal"
    assert "12" in page.locator("#offer-price").inner_text()
    page.select_option("#stage", "negotiation")
    page.click("#facts form button")
    page.fill("#line1", "45 Le Loi")
    page.fill("#district", "District 1")
    page.click("#win button")
    assert page.locator("#lead-stage").inner_text() == "won"
    key = page.locator("#new-key").inner_text()
    password = page.locator("#new-password").inner_text()
    assert key.startswith("wbk_") and len(password) >= 10
    page.screenshot(path=str(shots(tmp_path) / "lead-won.png"), full_page=True)
    page.click("#onboarded a:has-text('Lotus Mart')")
    page.wait_for_url("**/console/crm/accounts/*")
    assert page.locator("#account-status").inner_text() == "onboarding"
    assert "Won from lead" in page.locator("#timeline").inner_text()
    assert page.errors == []
    # The new account's person signs in to the portal with what was handed over.
    context = browser.new_context(base_url=live_server)
    shop = context.new_page()
    sign_in(shop, {"email": "tu@lotus.example", "password": password})
    shop.wait_for_url("**/portal/orders")
    assert "Lotus Mart" in shop.locator("h1").inner_text()
    context.close()
