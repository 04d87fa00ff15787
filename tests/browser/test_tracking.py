"""The tracking page in a real browser, on the demo, as a customer whose phone speaks
Vietnamese: the parcel's page, then a problem reported, answered in Vietnamese."""
from sqlalchemy import select

from app.crm.models import Case
from app.orders.models import Order, Shipment
from tests.browser.test_console import reads, shots


def test_a_customer_reports_a_problem_from_the_tracking_page_in_vietnamese(browser, live_server, demo, session,
                                                                          tmp_path):
    number, phone = reads(session, lambda: session.execute(
        select(Shipment.tracking_number, Order.recipient_phone).join(Order, Order.id == Shipment.order_id)
        .where(Shipment.status == "in_transit").order_by(Shipment.id)).first())
    context = browser.new_context(base_url=live_server, locale="vi-VN", viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"/track/{number}")
    assert page.locator("html").get_attribute("lang") == "vi"
    assert page.locator("h1").inner_text() == "Đang vận chuyển"
    assert "Hành trình" in page.content() and "Dự kiến giao trước" in page.content()
    page.select_option("#type", "late")
    page.fill("#phone_end", phone[-4:])
    page.fill("#message", "Tôi đã chờ ba ngày mà chưa nhận được hàng.")
    page.click("#problem button")
    flash = page.locator(".flash").inner_text()
    assert "chúng tôi đã mở yêu cầu #" in flash
    page.screenshot(path=str(shots(tmp_path) / "tracking-vi.png"), full_page=True)
    case = reads(session, lambda: session.scalars(select(Case).where(Case.opened_via == "tracking")).one())
    assert case.type == "late" and f"#{case.id}" in flash
    context.close()
