"""The driver's day on a phone-sized screen, in a real browser: sign in, the run sheet, a
pickup, a delivery with a signature and cash, a failed attempt, an offline stretch, the
cash handover."""
import re

import pytest
from sqlalchemy import select

from app import clock
from app.auth.services import create_user
from app.billing.models import CashHandover
from app.crm.models import Partner
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.models import DeliveryAttempt, ProofOfDelivery
from app.orders.models import Order, Shipment, ShipmentEvent
from tests.browser.conftest import sign_in, watched_page
from tests.browser.test_console import reads, shots
from tests.factories import create, order_in, ready_at_centre

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2, "geolocation": {"latitude": 10.7991, "longitude": 106.6562},
         "permissions": ["geolocation"]}
PASSWORD = "driver's own password"


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server, **PHONE)
    yield watched_page(context)
    context.close()


@pytest.fixture
def round_today(demo, session):
    """Three parcels out for delivery with one centre driver (one with cash to collect) and
    a pickup of two parcels on the same sheet; the driver's login."""
    today = clock.today()
    partner = session.scalars(select(Partner).order_by(Partner.id)).first()
    centre, ids = ready_at_centre(session, partner, 3, prefix="PHONE-")
    order = session.get(Order, session.get(Shipment, ids[0]).order_id)
    order.cod_amount, order.cod_currency = 250_000, "VND"
    waiting = [create(session, partner, order_in(f"PHONE-PK{i}")).id for i in range(2)]
    session.commit()
    delivery.schedule_pickups(session, today, only=waiting)
    drivers = delivery.drivers_of(session, centre.id)
    for d in drivers[1:]:
        d.active = False
    for sheet in planning.plan_run_sheets(session, centre.id, today):
        planning.dispatch_run_sheet(session, sheet.id, actor="user:1")
    create_user(session, "phone-driver@waybill.test", role="driver", password=PASSWORD, driver_id=drivers[0].id)
    session.commit()
    made = {"ids": ids, "waiting": waiting, "centre": centre.id,
            "numbers": {sid: session.get(Shipment, sid).tracking_number for sid in ids + waiting}}
    session.remove()
    return made


def stop_of(page, shipment_id: int) -> str:
    return page.get_attribute(f".stop-detail[data-shipment='{shipment_id}']", "data-stop")


def open_stop(page, stop: str) -> None:
    page.click(f"#row-{stop} a")
    page.wait_for_selector(f"#stop-{stop}:not([hidden])")


def sign(page, stop: str) -> None:
    pad = page.locator(f"#stop-{stop} canvas.pad")
    pad.scroll_into_view_if_needed()
    box = pad.bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 100)
    page.mouse.down()
    for k in range(1, 12):
        page.mouse.move(box["x"] + 20 + k * 22, box["y"] + 100 - (k % 3) * 25, steps=3)
    page.mouse.up()


def wait_sent(page) -> None:
    page.wait_for_selector("#pending[hidden]", state="attached")


def test_a_driver_works_the_day_on_a_phone(phone, round_today, session, tmp_path, demo, live_server, app):
    page, ids, numbers = phone, round_today["ids"], round_today["numbers"]
    page.goto("/login")
    page.fill("#email", "phone-driver@waybill.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/driver/")
    rows = page.locator("#stops li").count()
    assert rows >= 4 and re.fullmatch(r"\d+ done · \d+ left", page.locator("#progress").inner_text())
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
        "no horizontal scrolling"
    page.screenshot(path=str(shots(tmp_path) / "driver-runsheet.png"), full_page=True)

    # The pickup: one of the two parcels is there.
    ours = numbers[round_today["waiting"][0]]
    pickup = page.get_attribute(f".stop-detail[data-kind='pickup'][data-expected*='{ours}']", "data-stop")
    open_stop(page, pickup)
    expected = int(page.locator(f"#stop-{pickup} .expected-count").inner_text())
    page.fill(f"#stop-{pickup} input.scan", "WB00000000000")
    page.press(f"#stop-{pickup} input.scan", "Enter")
    assert "is not expected here" in page.locator(f"#stop-{pickup} .form-error").inner_text()
    page.fill(f"#stop-{pickup} input.scan", ours.lower())
    page.press(f"#stop-{pickup} input.scan", "Enter")
    assert page.locator(f"#stop-{pickup} .missing-count").inner_text() == str(expected - 1)
    page.click(f"#stop-{pickup} button:has-text('Confirm pickup')")
    page.wait_for_selector(f"#row-{pickup}.done")
    wait_sent(page)

    # A delivery with a signature and the cash.
    cod = stop_of(page, ids[0])
    open_stop(page, cod)
    page.fill(f"#stop-{cod} input.scan", numbers[ids[0]])
    page.fill(f"#stop-{cod} input[name=recipient_name]", "Lan")
    page.select_option(f"#stop-{cod} select[name=relation]", "family")
    sign(page, cod)
    assert page.input_value(f"#stop-{cod} input[name=cod_received]") == "250000"
    page.screenshot(path=str(shots(tmp_path) / "driver-delivery.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.click(f"#stop-{cod} button:has-text('Delivered')")
    page.wait_for_selector(f"#row-{cod}.done")
    wait_sent(page)

    # A failed attempt.
    failed = stop_of(page, ids[1])
    open_stop(page, failed)
    page.click(f"#stop-{failed} details.fail summary")
    page.select_option(f"#stop-{failed} select[name=reason]", "not_home")
    page.fill(f"#stop-{failed} input[name=note]", "nobody answered")
    photo = tmp_path / "door.jpg"
    _image(photo)
    page.set_input_files(f"#stop-{failed} form.fail-form input[name=photo]", str(photo))
    page.click(f"#stop-{failed} button:has-text('Record failed attempt')")
    page.wait_for_selector(f"#row-{failed}.done")
    wait_sent(page)

    # Offline: the delivery waits on the phone, then goes once the network is back.
    page.context.set_offline(True)
    last = stop_of(page, ids[2])
    open_stop(page, last)
    page.fill(f"#stop-{last} input.scan", numbers[ids[2]])
    page.fill(f"#stop-{last} input[name=recipient_name]", "Minh")
    sign(page, last)
    page.click(f"#stop-{last} button:has-text('Delivered')")
    page.wait_for_selector("#pending:not([hidden])")
    assert "1 action waiting to be sent (offline)" in page.locator("#pending").inner_text()
    assert reads(session, lambda: session.get(Shipment, ids[2]).status) == "out_for_delivery"
    page.context.set_offline(False)
    wait_sent(page)

    def recorded():
        statuses = {sid: session.get(Shipment, sid).status for sid in ids + round_today["waiting"]}
        proofs = {p.shipment_id: (p.recipient_name, p.relation, p.cod_received_amount, p.cod_method,
                                  "<path" in (p.signature_svg or ""), round(p.lat or 0, 4), round(p.lon or 0, 4))
                  for p in session.scalars(select(ProofOfDelivery))}
        photos = [a.photo_ref for a in session.scalars(select(DeliveryAttempt).where(
            DeliveryAttempt.outcome == "failed", DeliveryAttempt.shipment_id == ids[1]))]
        delivered_events = len(session.scalars(select(ShipmentEvent.id).where(
            ShipmentEvent.type == "delivered", ShipmentEvent.shipment_id.in_(ids))).all())
        return statuses, proofs, delivered_events, photos

    statuses, proofs, delivered_events, photos = reads(session, recorded)
    assert statuses == {ids[0]: "delivered", ids[1]: "delivery_failed", ids[2]: "delivered",
                        round_today["waiting"][0]: "picked_up", round_today["waiting"][1]: "pickup_scheduled"}
    assert proofs[ids[0]] == ("Lan", "family", 250_000, "cash", True, 10.7991, 106.6562)  # the phone's position
    assert len(photos) == 1 and photos[0].endswith(".jpg")
    from PIL import Image

    with Image.open(f"{app.config['WAYBILL_PHOTO_DIR']}/{photos[0]}") as kept:
        assert kept.size == (1280, 960)  # shrunk on the phone from 1600 x 1200
    assert proofs[ids[2]][:2] == ("Minh", "self") and proofs[ids[2]][4]
    assert delivered_events == 2  # exactly once each

    # End of the day: the cash goes to the hub.
    page.click("nav a:has-text('Cash')")
    page.wait_for_url("**/driver/cash")
    assert page.locator("#cash-due").inner_text() == "250,000 VND"
    page.click("button:has-text('Hand over to the hub')")
    page.wait_for_selector("#handover")
    handover = reads(session, lambda: [(h.expected_amount, h.declared_amount) for h in session.scalars(select(CashHandover))])
    assert handover == [(250_000, 250_000)]
    assert page.errors == [], page.errors

    # At the hub, the dispatcher counts it.
    desk = page.context.browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    staff = desk.new_page()
    sign_in(staff, demo["logins"]["dispatcher"])
    staff.wait_for_url("**/console/")
    staff.goto(f"/console/hubs/{round_today['centre']}/cash")
    staff.fill("#handovers input[name=received]", "250000")
    staff.click("#handovers button:has-text('Record count')")
    staff.wait_for_selector("p.flash:has-text('Counted: it matches.')")
    desk.close()
    page.reload()
    assert "counted at the hub: 250,000 VND" in page.locator("#handover").inner_text()


def test_actions_kept_through_a_lost_session_are_sent_once_after_signing_in(phone, round_today, session):
    page, ids = phone, round_today["ids"]

    def sign_in():
        page.fill("#email", "phone-driver@waybill.test")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/driver/")

    page.goto("/login")
    sign_in()
    # The page finished loading online (its service worker too) before the network goes.
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    page.context.set_offline(True)
    stop = stop_of(page, ids[1])
    open_stop(page, stop)
    page.click(f"#stop-{stop} details.fail summary")
    page.select_option(f"#stop-{stop} select[name=reason]", "refused")
    page.click(f"#stop-{stop} button:has-text('Record failed attempt')")
    page.wait_for_selector("#pending:not([hidden])")
    page.context.clear_cookies()  # the session is gone (expired, or signed out elsewhere)
    page.context.set_offline(False)
    page.wait_for_selector("#signed-out:not([hidden])")
    assert "1 action waiting" in page.locator("#pending").inner_text()
    assert reads(session, lambda: session.get(Shipment, ids[1]).status) == "out_for_delivery"
    page.click("#signed-out a")
    page.wait_for_url("**/login**")
    sign_in()
    wait_sent(page)
    assert page.locator(f"#row-{stop}.done").count() == 1
    failures = reads(session, lambda: [(e.type, e.reason) for e in session.scalars(
        select(ShipmentEvent).where(ShipmentEvent.shipment_id == ids[1], ShipmentEvent.type == "delivery_failed"))])
    assert failures == [("delivery_failed", "refused")]
    # The browser logs the one refused send (the 401 that told the page to ask for a sign-in).
    assert [e for e in page.errors if "status of 401" not in e] == [], page.errors


def test_the_day_opens_without_the_network_once_it_has_been_loaded(phone, round_today, session):
    page, ids = phone, round_today["ids"]
    page.goto("/login")
    page.fill("#email", "phone-driver@waybill.test")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/driver/")
    assert page.evaluate("navigator.serviceWorker.ready.then(r => !!r.active)")
    # One load only (a new phone): the worker keeps that load's page and assets.
    for _ in range(100):
        if page.evaluate("caches.match('/driver/').then(r => !!r)"):
            break
        page.wait_for_timeout(100)
    rows = page.locator("#stops li").count()
    page.context.set_offline(True)
    page.reload()  # no network: the kept copy
    page.wait_for_selector("#stops li:not(.done)")
    assert page.locator("#stops li").count() == rows
    stop = stop_of(page, ids[2])
    open_stop(page, stop)
    page.click(f"#stop-{stop} details.fail summary")
    page.click(f"#stop-{stop} button:has-text('Record failed attempt')")
    page.wait_for_selector("#pending:not([hidden])")
    page.context.set_offline(False)
    wait_sent(page)
    assert reads(session, lambda: session.get(Shipment, ids[2]).status) == "delivery_failed"
    page.context.set_offline(True)
    page.reload()  # the copy predates the attempt; the phone remembers it was sent
    page.wait_for_selector(f"#row-{stop}.done")
    page.context.set_offline(False)
    assert [e for e in page.errors if "ERR_INTERNET_DISCONNECTED" not in e] == [], page.errors


def _image(path) -> None:
    from PIL import Image

    Image.new("RGB", (1600, 1200), (40, 90, 160)).save(path, "JPEG")


def _camera_file(path, text: str) -> str:
    """A Y4M video of the parcel's barcode, for Chromium's fake camera."""
    import numpy as np
    import zxingcpp

    code = np.array(zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.Code128),
                                                    scale=2))
    width, height = 640, 480
    frame = np.full((height, width), 255, dtype=np.uint8)
    h, w = code.shape[:2]
    top, left = (height - h) // 2, (width - w) // 2
    frame[top:top + h, left:left + w] = code if code.ndim == 2 else code[..., 0]
    chroma = np.full((height // 2) * (width // 2), 128, dtype=np.uint8).tobytes()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(10):
            out.write(b"FRAME\n" + frame.tobytes() + chroma + chroma)
    return str(path)


def test_the_camera_reads_the_parcels_barcode(playwright, round_today, live_server, tmp_path):
    """Chromium's fake camera films the label's Code 128; ZXing (from npm) reads it into the box."""
    from tests.browser.conftest import ARGS, CHROMIUM

    ids, numbers = round_today["ids"], round_today["numbers"]
    video = _camera_file(tmp_path / "label.y4m", numbers[ids[0]])
    # A browser of its own: the fake camera is chosen when Chromium starts.
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS + [
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}"])
    try:
        context = browser.new_context(base_url=live_server, **{**PHONE, "permissions": ["camera", "geolocation"]})
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto("/login")
        page.fill("#email", "phone-driver@waybill.test")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/driver/")
        stop = stop_of(page, ids[0])
        open_stop(page, stop)
        page.click(f"#stop-{stop} form.deliver-form button.camera")
        box = f"#stop-{stop} form.deliver-form input.scan"
        for _ in range(100):  # the reader decodes a few frames a second
            if page.input_value(box):
                break
            page.wait_for_timeout(200)
        assert page.input_value(box) == numbers[ids[0]]
        assert page.locator("#camera").is_hidden()  # the camera stops once it has read
        assert errors == []
    finally:
        browser.close()
