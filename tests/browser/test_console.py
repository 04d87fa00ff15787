"""The console in a real browser: sign in, the dashboard, search, a shipment's timeline."""
import os
from pathlib import Path

from sqlalchemy import select

from app.auth.models import AuditEntry
from app.orders.models import Order, Shipment
from tests.browser.conftest import sign_in

#: Screenshots for the docs, refreshed with WAYBILL_SCREENSHOTS=1 (else into a temporary folder).
DOCS = Path(__file__).resolve().parent.parent.parent / "docs" / "img"


def shots(tmp_path) -> Path:
    return DOCS if os.environ.get("WAYBILL_SCREENSHOTS") == "1" else tmp_path


def reads(session, fn):
    """Read in the test's own thread and end the transaction at once (SQLite's lock);
    return plain values: objects would reload themselves, and lock, when next touched."""
    try:
        return fn()
    finally:
        session.rollback()


def test_a_dispatcher_signs_in_and_reads_the_dashboard(page, demo, session, tmp_path):
    sign_in(page, demo["logins"]["dispatcher"])
    page.wait_for_url("**/console/")
    assert page.locator("h1").inner_text().startswith("Dashboard")
    by_status = page.locator("#by-status").inner_text()
    assert "closed" in by_status and "on hold" in by_status
    assert page.locator("#volume rect").count() == 14
    page.screenshot(path=str(shots(tmp_path) / "dashboard.png"), full_page=True)
    # A number links to the list it counts.
    page.click("#exceptions a:has-text('On hold')")
    page.wait_for_url("**/console/shipments?status=on_hold")
    rows = page.locator("#results tr").count() - 1
    on_hold = reads(session, lambda: len(session.scalars(select(Shipment.id).where(Shipment.status == "on_hold")).all()))
    assert rows == min(on_hold, 50) and on_hold > 0
    assert page.errors == []


def test_the_scan_box_jumps_to_a_shipment_and_shows_its_timeline(page, demo, session, tmp_path):
    shipment_id, number, reference = reads(session, lambda: session.execute(
        select(Shipment.id, Shipment.tracking_number, Order.reference).join(Order, Order.id == Shipment.order_id)
        .where(Shipment.status == "closed", Shipment.outcome == "delivered")).first())
    sign_in(page, demo["logins"]["dispatcher"])
    page.wait_for_url("**/console/")
    page.fill("form.scan input[name=q]", number.lower())
    page.press("form.scan input[name=q]", "Enter")
    page.wait_for_url(f"**/console/shipments/{shipment_id}")
    assert page.locator("#status").inner_text() == "closed"
    timeline = page.locator("#timeline li").all_inner_texts()
    assert timeline[0].startswith("created") and timeline[-1].startswith("closed")
    assert any(t.startswith("delivered") for t in timeline)
    assert "delivery fee" in page.locator("#charges").inner_text()
    assert "delivered\tSMS to +84" in page.locator("#notifications").inner_text()  # every customer has a phone
    page.screenshot(path=str(shots(tmp_path) / "shipment.png"), full_page=True)
    # By the partner's reference, from the search page.
    page.goto("/console/shipments")
    page.fill("#q", reference)
    page.click("form.filters button[type=submit]")
    assert page.locator("#results tr").count() == 2
    assert page.errors == []


def test_a_driver_cannot_open_the_console(page, demo):
    sign_in(page, demo["logins"]["driver"])
    page.wait_for_url("**/driver/")
    response = page.goto("/console/")
    assert response.status == 403


def test_a_dispatcher_holds_and_releases_a_shipment_with_a_reason(page, demo, session):
    shipment_id = reads(session, lambda: session.scalar(
        select(Shipment.id).where(Shipment.status == "at_local_hub").order_by(Shipment.id)))
    sign_in(page, demo["logins"]["dispatcher"])
    page.wait_for_url("**/console/")
    page.goto(f"/console/shipments/{shipment_id}")
    page.fill("#reason-hold", "label torn, checking contents")
    page.click("form.action-hold button")
    page.wait_for_selector("text=Put on hold: done.")
    assert page.locator("#status").inner_text() == "on hold"
    assert "label torn, checking contents" in page.locator("#timeline").inner_text()
    page.click("form.action-release button")
    page.wait_for_selector("text=Release: done.")
    assert page.locator("#status").inner_text() == "at local hub"
    events = page.locator("#timeline li").all_inner_texts()
    assert events[-2].startswith("held") and events[-1].startswith("released")
    audit = reads(session, lambda: [a for (a,) in session.execute(
        select(AuditEntry.action).where(AuditEntry.object_id == str(shipment_id)))])
    assert audit == ["shipment.held", "shipment.released"]
    assert page.errors == []


def test_a_hub_operator_scans_a_parcel_in_with_a_keyboard_wedge(page, demo, session):
    from app.hubs.models import Hub

    number, hub_id = reads(session, lambda: session.execute(
        select(Shipment.tracking_number, Hub.id).join(Hub, Hub.id == Shipment.delivery_hub_id)
        .where(Shipment.status == "in_transit", Hub.code == "SGN-D7")).first() or (None, None))
    if number is None:  # the demo put no line-haul to SGN-D7 in transit: use any hub's
        number, hub_id = reads(session, lambda: session.execute(
            select(Shipment.tracking_number, Shipment.delivery_hub_id).where(Shipment.status == "in_transit")).first())
        sign_in(page, demo["logins"]["dispatcher"])
    else:
        sign_in(page, demo["logins"]["hub_operator"])
    page.wait_for_url("**/console/")
    page.click("nav a:has-text('Hubs')")
    page.click(f"a[href='/console/hubs/{hub_id}/scan']")
    # Autofocus. (A CSS selector, not wait_for_function: evaluating a string in the page is
    # what the Content-Security-Policy forbids, and Playwright's polling does it.)
    page.wait_for_selector("#number:focus")
    page.keyboard.type(number)  # the scanner types into the focused box, then Enter
    page.keyboard.press("Enter")
    page.wait_for_selector("#scan-result")
    result = page.locator("#scan-result").inner_text()
    assert "scanned in: now at local hub" in result, (number, result, page.errors)
    assert number in page.locator("#recent").inner_text()
    assert page.locator("#number:focus").count() == 1  # ready for the next parcel
    assert page.errors == [], page.errors


def test_the_network_map_draws_every_hub_and_its_area_even_without_tiles(page, demo, app):
    app.config["WAYBILL_MAP_TILES"] = ""  # no internet here: the plain background
    sign_in(page, demo["logins"]["dispatcher"])
    page.wait_for_url("**/console/")
    page.goto("/console/hubs")
    page.wait_for_selector("#network-map[data-ready='1']")
    assert page.locator("#network-map path.hub-area").count() == len(demo["hubs"])
    assert page.locator("#network-map path.hub-point").count() == len(demo["hubs"])
    assert "map-plain" in page.get_attribute("#network-map", "class")
    assert page.errors == []


def test_a_shipment_page_draws_its_planned_route(page, demo, session):
    shipment_id = reads(session, lambda: session.scalar(
        select(Shipment.id).where(Shipment.route == "linehaul").order_by(Shipment.id)))
    sign_in(page, demo["logins"]["dispatcher"])
    page.wait_for_url("**/console/")
    page.goto(f"/console/shipments/{shipment_id}")
    page.wait_for_selector("#route-map[data-ready='1']")
    assert page.locator("#route-map path.route").count() == 1
    assert page.locator("#route-map path.hub-point").count() == 2  # the centre and the delivering hub
    assert page.errors == []
