"""The driver's pages over HTTP: the day's run sheet, actions sent from the phone's queue
(again and again: exactly once), the cash handover and the hub's count."""
import base64
import re
import time
import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.auth.services import create_user
from app.billing.models import CashHandover
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.models import DeliveryAttempt, PickupRun, ProofOfDelivery
from app.orders.models import Order, Shipment, ShipmentEvent
from tests.auth.conftest import PASSWORD, sign_in
from tests.factories import create, order_in, ready_at_centre

SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d="M1 1 L9 9"/></svg>'


def today():
    return datetime.now(timezone.utc).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).date()


@pytest.fixture
def day_out(client, session, partner, users):
    """Three parcels (one with cash to collect) on a centre driver's sheet, out for
    delivery today, and a pickup waiting on the same sheet; the driver can sign in."""
    with client.application.app_context():
        centre, ids = ready_at_centre(session, partner, 3)
        session.get(Order, session.get(Shipment, ids[0]).order_id).cod_amount = 250_000
        session.get(Order, session.get(Shipment, ids[0]).order_id).cod_currency = "VND"
        waiting = [create(session, partner, order_in(f"PK-{i}")).id for i in range(2)]
        session.commit()
        delivery.schedule_pickups(session, today(), only=waiting)
        drivers = delivery.drivers_of(session, centre.id)
        for d in drivers[1:]:
            d.active = False
        [sheet] = planning.plan_run_sheets(session, centre.id, today())
        planning.dispatch_run_sheet(session, sheet.id, actor="user:1")
        user = create_user(session, "van@test.example", role="driver", password=PASSWORD, driver_id=drivers[0].id)
        session.commit()
        numbers = {sid: session.get(Shipment, sid).tracking_number for sid in ids + waiting}
        run_id = session.scalars(select(PickupRun.id).where(PickupRun.status == "planned")).one()
        return {"ids": ids, "waiting": waiting, "numbers": numbers, "sheet": sheet.id, "driver": drivers[0].id,
                "run": run_id, "user": user.id, "centre": centre.id}


def _jpeg() -> bytes:
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def _send(client, actions):
    page = client.get("/driver/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    return client.post("/driver/actions", json={"actions": actions}, headers={"X-CSRFToken": token})


def test_the_run_sheet_page_shows_the_drivers_stops_in_order(client, session, day_out):
    sign_in(client, "van@test.example")
    page = client.get("/driver/").get_data(as_text=True)
    assert "0 done · 4 left" in page
    assert page.count('class="stop-detail"') == 4
    assert "collect 250,000 VND" in page and "google.com/maps/search/?api=1&amp;query=" in page
    assert "Lan</strong>" in page and "Lan Nguyen" not in page  # the first name only
    for sid in day_out["waiting"]:  # the pickup lists what to collect
        assert day_out["numbers"][sid] in page


def test_actions_are_recorded_once_however_often_they_are_sent(client, session, partner, day_out):
    from app.webhooks import services as webhooks
    from app.webhooks.models import WebhookDelivery
    from workers.jobs import run_pending

    with client.application.app_context():
        webhooks.create_endpoint(session, session.merge(partner), url="https://hooks.example.com/w", event_types=[])
        session.commit()
    sign_in(client, "van@test.example")
    ids, numbers = day_out["ids"], day_out["numbers"]
    deliver = {"id": str(uuid.uuid4()), "type": "deliver", "shipment_id": ids[0], "recipient_name": "Lan",
               "relation": "self", "signature_svg": SVG, "cod_received": 250_000, "cod_method": "cash",
               "lat": 10.8, "lon": 106.66, "captured_at": datetime.now(timezone.utc).isoformat()}
    fail = {"id": str(uuid.uuid4()), "type": "fail", "shipment_id": ids[1], "reason": "not_home", "note": "gate shut",
            "photo": "data:image/jpeg;base64," + base64.b64encode(_jpeg()).decode()}
    pickup = {"id": str(uuid.uuid4()), "type": "pickup", "pickup_run_id": day_out["run"],
              "scanned": [numbers[day_out["waiting"][0]].lower()]}
    batch = [deliver, fail, pickup]
    first = _send(client, batch).get_json()["results"]
    assert [(r["ok"], r["duplicate"]) for r in first] == [(True, False)] * 3, first
    assert first[2]["message"] == "1 picked up, 1 left for another pickup"
    again = _send(client, batch).get_json()["results"]  # the answer was lost: the phone sends it all again
    assert [(r["ok"], r["duplicate"]) for r in again] == [(True, True)] * 3
    session.expire_all()
    assert session.get(Shipment, ids[0]).status == "delivered"
    assert session.get(Shipment, ids[1]).status == "delivery_failed"
    assert session.scalar(select(func.count()).select_from(ProofOfDelivery)) == 1
    assert session.scalar(select(func.count()).select_from(DeliveryAttempt)) == 2
    proof = session.scalars(select(ProofOfDelivery)).one()
    assert (proof.cod_received_amount, proof.cod_method, proof.signature_svg, proof.driver_id) == (
        250_000, "cash", SVG, day_out["driver"])
    assert session.get(Shipment, day_out["waiting"][0]).status == "picked_up"
    assert session.get(Shipment, day_out["waiting"][1]).status == "pickup_scheduled"
    page = client.get("/driver/").get_data(as_text=True)
    assert "3 done · 1 left" in page

    # The partner's webhooks carry each step, once.
    with client.application.app_context():
        run_pending()
        sent = sorted((d.shipment_id, d.event_type) for d in session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.event_type.in_(["shipment.delivered", "shipment.delivery_failed", "shipment.picked_up"]))))
    for step in [(ids[0], "shipment.delivered"), (ids[1], "shipment.delivery_failed"),
                 (day_out["waiting"][0], "shipment.picked_up")]:
        assert sent.count(step) == 1, (step, sent)
    assert (day_out["waiting"][1], "shipment.picked_up") not in sent

    # The console shows the proof, the signature and the failed attempt's photo.
    staff = client.application.test_client()
    sign_in(staff, "disp@test.example")
    shown = staff.get(f"/console/shipments/{ids[0]}").get_data(as_text=True)
    assert "Received by <strong>Lan</strong> (self)" in shown and "collected 250,000 VND by cash" in shown
    assert "data:image/svg+xml;base64," + base64.b64encode(SVG.encode()).decode() in shown
    failed = staff.get(f"/console/shipments/{ids[1]}").get_data(as_text=True)
    photo = re.search(r'href="(/console/photos/[^"]+)">photo', failed).group(1)
    assert "not home" in failed and staff.get(photo).data == _jpeg()
    assert client.get(photo).status_code == 403  # the driver is not staff


def test_a_driver_cannot_touch_another_drivers_parcels(client, session, partner, day_out):
    with client.application.app_context():
        other = create(session, partner, order_in("NOT-MINE")).id
        session.commit()
    sign_in(client, "van@test.example")
    r = _send(client, [{"id": str(uuid.uuid4()), "type": "fail", "shipment_id": other, "reason": "refused"},
                       {"id": "short", "type": "fail", "shipment_id": day_out["ids"][0], "reason": "refused"},
                       {"id": str(uuid.uuid4()), "type": "fail", "shipment_id": day_out["ids"][1], "reason": "bored"},
                       {"id": str(uuid.uuid4()), "type": "deliver", "shipment_id": day_out["ids"][0],
                        "recipient_name": "Lan", "relation": "self"}])
    results = r.get_json()["results"]
    assert results[0] == {"id": results[0]["id"], "ok": False, "message": "not on your run sheet", "duplicate": False}
    assert "id the phone made" in results[1]["message"]
    assert "reason must be one of" in results[2]["message"]
    assert "is due on delivery" in results[3]["message"]  # cash to collect: the method is needed
    assert client.get(f"/driver/shipments/{other}").status_code == 404
    assert client.get(f"/driver/shipments/{day_out['ids'][0]}").status_code == 302
    session.expire_all()
    assert session.get(Shipment, other).status == "created"
    assert session.get(Shipment, day_out["ids"][0]).status == "out_for_delivery"  # nothing half-done
    assert _send(client, "nonsense").status_code == 400


def test_an_expired_session_answers_401_to_the_queue(client, session, day_out):
    sign_in(client, "van@test.example")
    page = client.get("/driver/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
    with client.session_transaction() as s:
        s["signed_in_at"] = time.time() - 31 * 86400
    r = client.post("/driver/actions", json={"actions": []}, headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert r.status_code == 401 and r.get_json()["error"] == "signed_out"
    # The cookie itself is gone (cleared, or another browser): the CSRF check answers 401 too.
    fresh = client.application.test_client()
    r = fresh.post("/driver/actions", json={"actions": []}, headers={"X-CSRFToken": token})
    assert r.status_code == 401 and r.get_json()["error"] == "signed_out"
    # A form post with a bad token in a live session stays a plain 400.
    sign_in(fresh, "van@test.example")
    assert fresh.post("/driver/cash", data={"declared": "1", "csrf_token": "forged"}).status_code == 400


def test_the_days_cash_is_handed_over_and_counted_once(client, session, day_out):
    sign_in(client, "van@test.example")
    ids = day_out["ids"]
    _send(client, [{"id": str(uuid.uuid4()), "type": "deliver", "shipment_id": ids[0], "recipient_name": "Lan",
                    "relation": "self", "cod_received": 250_000, "cod_method": "cash"}])
    page = client.get("/driver/cash").get_data(as_text=True)
    assert day_out["numbers"][ids[0]] in page and 'id="cash-due">250,000 VND' in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/driver/cash", data={"declared": "240000", "csrf_token": token})
    session.expire_all()
    handover = session.scalars(select(CashHandover)).one()
    assert (handover.expected_amount, handover.declared_amount, handover.received_amount) == (250_000, 240_000, None)

    hub_op = client.application.test_client()
    sign_in(hub_op, "disp@test.example")
    path = f"/console/hubs/{day_out['centre']}/cash"
    page = hub_op.get(path).get_data(as_text=True)
    assert "240,000 VND" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    hub_op.post(f"{path}/{handover.id}", data={"received": "240000", "csrf_token": token})
    assert "add a note" in hub_op.get(path).get_data(as_text=True)
    hub_op.post(f"{path}/{handover.id}", data={"received": "240000", "note": "10,000 short", "csrf_token": token})
    hub_op.post(f"{path}/{handover.id}", data={"received": "250000", "note": "found it", "csrf_token": token})
    assert "a recorded count is not changed" in hub_op.get(path).get_data(as_text=True)
    session.expire_all()
    handover = session.get(CashHandover, handover.id)
    assert (handover.received_amount, handover.difference, handover.note) == (240_000, -10_000, "10,000 short")
    assert "counted at the hub: 240,000 VND (difference -10,000 VND)" in client.get("/driver/cash").get_data(as_text=True)


def test_a_partners_delivery_code_is_sent_to_the_customer_and_asked_by_the_driver(client, session, partner, users):
    from app.crm.models import Notification
    from workers.jobs import run_pending

    with client.application.app_context():
        partner = session.merge(partner)
        partner.delivery_code_required = True
        centre, [sid] = ready_at_centre(session, partner, 1, prefix="CODE-")
        drivers = delivery.drivers_of(session, centre.id)
        [sheet] = planning.plan_run_sheets(session, centre.id, today())
        planning.dispatch_run_sheet(session, sheet.id, actor="user:1")
        create_user(session, "coded@test.example", role="driver", password=PASSWORD, driver_id=sheet.driver_id)
        session.commit()
        run_pending()
        code = session.get(Shipment, sid).delivery_code
        message = session.scalars(select(Notification).where(
            Notification.shipment_id == sid, Notification.milestone == "out_for_delivery")).first()
        assert drivers and code and len(code) == 6
        assert f"Give the driver this code to receive it: {code}." in message.body
    sign_in(client, "coded@test.example")
    page = client.get("/driver/").get_data(as_text=True)
    assert 'name="delivery_code"' in page and code not in page  # asked for, never shown
    base = {"type": "deliver", "shipment_id": sid, "recipient_name": "Lan", "relation": "self"}
    wrong = _send(client, [{**base, "id": str(uuid.uuid4()), "delivery_code": "000000" if code != "000000" else "1"}])
    assert "delivery code does not match" in wrong.get_json()["results"][0]["message"]
    right = _send(client, [{**base, "id": str(uuid.uuid4()), "delivery_code": code}])
    assert right.get_json()["results"][0]["ok"]


def test_undelivered_parcels_are_scanned_back_in_at_the_hub(client, session, day_out):
    from app.webhooks.services import EVENT_TYPES

    sign_in(client, "van@test.example")
    ids, numbers = day_out["ids"], day_out["numbers"]
    _send(client, [{"id": str(uuid.uuid4()), "type": "fail", "shipment_id": ids[1], "reason": "not_home"}])
    staff = client.application.test_client()
    sign_in(staff, "disp@test.example")
    station = f"/console/hubs/{day_out['centre']}/scan"
    token = re.search(r'name="csrf_token" value="([^"]+)"', staff.get(station).get_data(as_text=True)).group(1)

    def scan(number):
        page = staff.post(station, data={"number": number, "csrf_token": token}).get_data(as_text=True)
        return re.search(r'id="scan-result"[^>]*>(.*?)</p>', page, re.S).group(1)

    cash_page = client.get("/driver/cash").get_data(as_text=True)
    assert numbers[ids[1]] in cash_page[cash_page.index('id="bring-back"'):]
    assert "back at the hub after a failed attempt" in scan(numbers[ids[1]])
    assert "still out for delivery: the driver records the attempt first" in scan(numbers[ids[2]])
    session.expire_all()
    events = [(e.type, e.data) for e in session.scalars(select(ShipmentEvent).where(
        ShipmentEvent.shipment_id == ids[1]).order_by(ShipmentEvent.seq))]
    assert events[-1][0] == "back_at_hub" and session.get(Shipment, ids[1]).status == "delivery_failed"
    assert "shipment.back_at_hub" in EVENT_TYPES
