"""The partner portal in a real browser, on the demo: the shop's person finds an order,
reads its history, opens a case about it and follows it."""
from tests.browser.conftest import sign_in
from tests.browser.test_console import shots


def test_a_partner_user_opens_a_case_about_an_order_in_the_portal(page, demo, tmp_path):
    sign_in(page, demo["logins"]["partner"])
    page.wait_for_url("**/portal/orders")
    assert page.locator("#orders tr").count() > 2
    page.screenshot(path=str(shots(tmp_path) / "portal-orders.png"), full_page=True)
    page.click("#orders tr:nth-child(2) a")
    page.wait_for_url("**/portal/orders/*")
    number = page.locator("h1").inner_text().split()[0]
    assert page.locator("#history li").count() >= 1
    page.select_option("#type", "late")
    page.fill("#body", "The customer has been waiting since Monday.")
    page.click("#new-case button")
    page.wait_for_url("**/portal/cases/*")
    case_id = page.url.rsplit("/", 1)[1]
    assert "Case #" in page.locator(".flash").inner_text() and "business hours" in page.locator(".flash").inner_text()
    assert number in page.content()
    page.fill("#reply textarea", "They are at home all afternoon.")
    page.click("#reply button")
    assert "They are at home all afternoon." in page.locator("#thread").inner_text()
    page.screenshot(path=str(shots(tmp_path) / "portal-case.png"), full_page=True)
    page.click("nav a:has-text('Cases')")
    assert "Parcel late" in page.locator(f"#case-{case_id}").inner_text()
    assert "new" in page.locator(f"#case-{case_id}").inner_text()  # until customer service answers
    assert page.errors == []
