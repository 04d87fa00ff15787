"""Building tomorrow's run sheets in a real browser: plan, move a stop (htmx, no reload),
print, dispatch."""
from datetime import timedelta

import pypdfium2
from sqlalchemy import select

from app import clock
from app.delivery import planning
from app.delivery.models import RunSheet
from app.hubs.models import Hub
from app.orders.models import Shipment
from tests.browser.conftest import sign_in
from tests.browser.test_console import reads, shots


def test_a_dispatcher_builds_and_prints_tomorrows_run_sheets(page, demo, session, tmp_path):
    def busiest():
        tomorrow = clock.today() + timedelta(days=1)  # no parcel is put off: any later day will do
        ready = {h.id: len(planning.delivery_candidates(session, h.id, tomorrow)) for h in session.scalars(select(Hub))}
        hub_id = max(ready, key=ready.get)
        return hub_id, ready[hub_id]

    hub_id, ready = reads(session, busiest)
    assert ready >= 2, "the demo leaves parcels ready at a hub"
    sign_in(page, demo["logins"]["dispatcher"])
    page.wait_for_url("**/console/")
    page.click("nav a:has-text('Hubs')")
    page.click(f"a[href='/console/hubs/{hub_id}/runsheets']")
    page.click("a:has-text('Tomorrow')")
    page.wait_for_url("**/runsheets?date=*")
    day = page.url.rsplit("=", 1)[1]
    assert f"<strong>{ready}</strong>" in page.inner_html("#readiness")
    page.click("#plan")
    page.wait_for_selector("p.flash:has-text('Planned')")
    assert f"Planned {ready} stops" in page.locator("p.flash").inner_text()
    page.wait_for_selector("#sheets-map[data-ready='1']")
    sheets = page.locator("section.run-sheet")
    assert page.locator("#sheets-map path.sheet-route").count() == sheets.count() >= 1
    assert page.locator("#sheets-map path.stop-point").count() == ready
    page.screenshot(path=str(shots(tmp_path) / "runsheets.png"), full_page=True)

    # Move the first stop to another driver: the sheets are swapped in place (no reload:
    # the flash from planning is still on the page).
    first = sheets.first
    stop_id = first.locator("tr.stop").first.get_attribute("id")
    driver = first.get_attribute("data-driver")
    chosen = first.locator("tr.stop").first.locator("select option").first.inner_text().split(" · ")[0]
    first.locator("tr.stop").first.locator("button:has-text('Move')").click()
    moved_to = page.locator(f"section.run-sheet:has(#{stop_id})")
    moved_to.wait_for()
    page.wait_for_selector(f"section.run-sheet[data-driver='{chosen}'] #{stop_id}")
    assert chosen != driver
    assert page.locator("p.flash:has-text('Planned')").count() == 1

    # Print every sheet of the day: one PDF, every planned parcel in it.
    pdf = page.request.get(page.get_attribute("#print-all", "href"))
    assert pdf.status == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.get_textpage().get_text_range() for p in pypdfium2.PdfDocument(pdf.body()))
    numbers = reads(session, lambda: list(session.scalars(select(Shipment.tracking_number).join(
        RunSheet, RunSheet.id == Shipment.run_sheet_id).where(RunSheet.status == "planned"))))
    assert len(numbers) == ready and all(n in text for n in numbers)

    # Dispatch the sheet the stop went to, today, a day early: that takes a reason; then
    # its parcels are out for delivery, on today's sheets.
    sheet_id = int(page.locator(f"section.run-sheet:has(#{stop_id})").get_attribute("id").split("-")[1])
    page.fill(f"#sheet-{sheet_id} input[name=early_reason]", "driver free this afternoon")
    page.locator(f"#sheet-{sheet_id} button.dispatch").click()
    page.wait_for_selector("p.flash:has-text('dispatched')")
    statuses = reads(session, lambda: set(session.scalars(select(Shipment.status).where(
        Shipment.run_sheet_id == sheet_id))))
    assert statuses == {"out_for_delivery"}
    # It went out today: the page shown is today's, with the sheet on it, dispatched.
    assert page.url.endswith("date=" + reads(session, lambda: clock.today().isoformat())) and day not in page.url
    assert page.locator(f"#sheet-{sheet_id} .badge").first.inner_text() == "dispatched"
    assert page.errors == [], page.errors
