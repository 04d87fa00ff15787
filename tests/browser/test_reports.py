"""Reports in a real browser, tried as a new user would: management opens last month's
reports, builds failed attempts by reason and district for one hub, downloads it, saves it
and has it e-mailed monthly; the partner reads its own month in the portal."""
import io

import openpyxl
from sqlalchemy import func, select

from app.delivery.models import DeliveryAttempt
from app.hubs.models import Hub
from app.orders.models import Shipment
from tests.browser.conftest import sign_in
from tests.browser.test_console import reads, shots
from tests.browser.test_finance import last_month  # noqa: F401 (fixture)


def test_management_reads_builds_exports_and_schedules_a_report(page, demo, last_month, session, tmp_path):  # noqa: F811
    hub_code, hub_id = reads(session, lambda: session.execute(
        select(Hub.code, Hub.id).join(Shipment, Shipment.delivery_hub_id == Hub.id)
        .join(DeliveryAttempt, DeliveryAttempt.shipment_id == Shipment.id).where(DeliveryAttempt.outcome == "failed")
        .group_by(Hub.code, Hub.id).order_by(func.count().desc())).first())
    sign_in(page, demo["logins"]["admin"])
    page.wait_for_url("**/console/")
    page.click("nav a:has-text('Reports')")
    page.wait_for_url("**/console/reports/")
    assert page.locator("#period").input_value() == last_month  # last month unless another is chosen
    page.click("#monthly a:has-text('The company’s month')")
    page.wait_for_url("**/console/reports/company/0?*")
    assert "Revenue (ledger, VAT excluded)" in page.locator("#figures").inner_text()
    assert page.locator("section.chart svg").count() >= 1
    page.screenshot(path=str(shots(tmp_path) / "reports-company.png"), full_page=True)

    page.goto("/console/reports/")
    page.click("a:has-text('Build a report')")
    page.wait_for_url("**/console/reports/build")
    page.click("#sources a:has-text('Delivery attempts')")  # the form offers what attempts have
    page.wait_for_url("**/console/reports/build?*source=attempts*")
    page.uncheck("#measures input[value=count]")
    page.check("#measures input[value=failed]")
    page.check("#dimensions input[value=failure_reason]")
    page.check("#dimensions input[value=district]")
    page.select_option("#f-hub", str(hub_id))
    page.select_option("#f-outcome", "failed")
    page.click("#builder button[name=run]")
    page.wait_for_url("**/console/reports/build?*run=1*")
    table = page.locator("#result-table").inner_text()
    assert "Failure reason" in table and "District" in table and "nobody at home" in table
    assert page.locator("#result .chart svg").count() == 1
    page.screenshot(path=str(shots(tmp_path) / "report-builder.png"), full_page=True)

    with page.expect_download() as download:
        page.click("#exports a:has-text('XLSX')")
    sheet = openpyxl.load_workbook(io.BytesIO(open(download.value.path(), "rb").read())).worksheets[0]
    assert [c.value for c in sheet[1]] == ["Failure reason", "District", "Failed"] and sheet.max_row > 1

    page.fill("#name", f"Failed attempts at {hub_code}")
    page.select_option("#period-kind", "last_month")
    page.click("#save button")
    page.wait_for_url("**/console/reports/build?*saved=*")
    assert f"Failed attempts at {hub_code}" in page.locator("h1").inner_text()
    page.fill("#s-email", "ops@waybill.demo")
    page.click("#subscribe button")
    assert "ops@waybill.demo gets this report when each month ends." in page.locator(".flash").inner_text()
    assert "ops@waybill.demo" in page.locator("#schedule").inner_text()
    assert page.errors == []


def test_the_partner_reads_its_own_month_in_the_portal(page, demo, last_month, tmp_path):  # noqa: F811
    sign_in(page, demo["logins"]["partner"])
    page.wait_for_url("**/portal/**")
    page.click("nav a:has-text('Reports')")
    page.wait_for_url("**/portal/reports")
    figures = page.locator("#figures").inner_text()
    assert "Shipments" in figures and "COD collected" in figures and "On time" in figures
    assert last_month in page.locator("h1").inner_text()
    page.screenshot(path=str(shots(tmp_path) / "portal-reports.png"), full_page=True)
    with page.expect_download() as download:
        page.click("#pdf")
    assert open(download.value.path(), "rb").read(5) == b"%PDF-"
    assert page.errors == []
