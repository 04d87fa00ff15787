"""The driver's pages over HTTP: the day's run sheet, actions sent from the phone's queue
(again and again: exactly once), the cash handover and the hub's count."""
import base64
import re
import time
import uuid

import pytest
from sqlalchemy import func, select

from app import clock
from app.auth.services import create_user
from app.billing.models import CashHandover
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.models import DeliveryAttempt, PickupRun, ProofOfDelivery
from app.orders.models import Order, Shipment, ShipmentEvent
from tests.auth.conftest import PASSWORD, sign_in
from tests.factories import create, order_in, ready_at_centre

#: As the server keeps it (rebuilt from its drawing elements).
SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><path d="M1 1 L9 9" /></svg>'


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
        delivery.schedule_pickups(session, clock.today(), only=waiting)
        drivers = delivery.drivers_of(session, centre.id)
        for d in drivers[1:]:
            d.active = False
        [sheet] = planning.plan_run_sheets(session, centre.id, clock.today())
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
    assert "0 done · 5 left" in page  # parcels: three deliveries and a pickup of two
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
               "lat": 10.8, "lon": 106.66, "captured_at": clock.now().isoformat()}
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
    assert "nobody at home" in failed and staff.get(photo).data == _jpeg()
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
        [sheet] = planning.plan_run_sheets(session, centre.id, clock.today())
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
    # Guessing: four more wrong codes (in one batch) lock it; then even the right code is refused.
    wrong_code = "000000" if code != "000000" else "111111"
    guesses = _send(client, [{**base, "id": str(uuid.uuid4()), "delivery_code": wrong_code} for _ in range(6)])
    messages = [r["message"] for r in guesses.get_json()["results"]]
    assert "(1 try left)" in messages[2] and "now locked" in messages[3] and "is locked" in messages[5]
    right = _send(client, [{**base, "id": str(uuid.uuid4()), "delivery_code": code}])
    assert not right.get_json()["results"][0]["ok"] and "locked" in right.get_json()["results"][0]["message"]
    session.expire_all()
    assert session.get(Shipment, sid).status == "out_for_delivery"
    # A dispatcher unlocks it (audited); the right code then delivers.
    staff = client.application.test_client()
    sign_in(staff, "disp@test.example")
    path = f"/console/shipments/{sid}"
    page = staff.get(path).get_data(as_text=True)
    assert "Delivery code locked" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert staff.post(f"{path}/unlock-code", data={"csrf_token": token}).status_code == 302
    from app.auth.models import AuditEntry
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(sid))).all() == [
        "shipment.delivery_code_unlocked"]
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


def test_a_short_payment_needs_a_reason_stays_open_and_the_hub_counts_against_the_amount_due(
        client, session, day_out):
    from app.billing.models import CodCollection
    from app.delivery.models import ProofOfDelivery
    from workers.jobs import run_pending

    sign_in(client, "van@test.example")
    sid = day_out["ids"][0]  # 250,000 due
    short = {"type": "deliver", "shipment_id": sid, "recipient_name": "Lan", "relation": "self",
             "cod_received": 100_000, "cod_method": "cash"}
    refused = _send(client, [{**short, "id": str(uuid.uuid4())}]).get_json()["results"][0]
    assert not refused["ok"] and "received 100,000 of 250,000 due: say why" in refused["message"]
    done = _send(client, [{**short, "id": str(uuid.uuid4()), "cod_difference_reason": "paid half, rest by transfer"}])
    assert done.get_json()["results"][0]["ok"]
    with client.application.app_context():
        run_pending()  # fees: charged, but the shipment stays open
    session.expire_all()
    assert session.get(Shipment, sid).status == "delivered"
    cod = session.scalars(select(CodCollection).where(CodCollection.shipment_id == sid)).one()
    assert (cod.amount_due, cod.amount_collected, cod.difference_reason) == (250_000, 100_000,
                                                                           "paid half, rest by transfer")
    assert session.scalars(select(ProofOfDelivery.cod_difference_reason)).one() == "paid half, rest by transfer"

    # The driver's page says it; the handover answers for the amount due.
    page = client.get("/driver/cash").get_data(as_text=True)
    assert "due 250,000 VND: paid half, rest by transfer" in page
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/driver/cash", data={"declared": "100000", "csrf_token": token})
    session.expire_all()
    assert session.scalars(select(CashHandover.expected_amount)).one() == 250_000

    # The exceptions queue and the shipment's page show it; finance settles it, once.
    staff = client.application.test_client()
    sign_in(staff, "disp@test.example")
    dashboard = staff.get("/console/").get_data(as_text=True)
    assert 'id="cod-differences-count">1<' in dashboard and day_out["numbers"][sid] in dashboard
    page = staff.get(f"/console/shipments/{sid}").get_data(as_text=True)
    assert "Short by 150,000 VND: paid half, rest by transfer" in page and "Open until finance settles it" in page
    assert 'action="/console/shipments/%d/settle-cod"' % sid not in page  # a dispatcher does not settle
    with client.application.app_context():
        from app.auth.services import create_user

        create_user(session, "money@test.example", role="finance", password=PASSWORD)
        session.commit()
    finance = client.application.test_client()
    sign_in(finance, "money@test.example")
    page = finance.get(f"/console/shipments/{sid}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    finance.post(f"/console/shipments/{sid}/settle-cod", data={"note": "", "csrf_token": token})
    assert "Not settled: say how it was settled" in finance.get(f"/console/shipments/{sid}").get_data(as_text=True)
    finance.post(f"/console/shipments/{sid}/settle-cod", data={"note": "150,000 received by transfer",
                                                              "csrf_token": token})
    assert "Not settled: say who bears the difference" in finance.get(f"/console/shipments/{sid}").get_data(
        as_text=True)
    finance.post(f"/console/shipments/{sid}/settle-cod", data={"note": "150,000 received by transfer",
                                                              "outcome": "partner_accepts", "csrf_token": token})
    session.expire_all()
    assert session.get(Shipment, sid).status == "closed"
    assert session.scalars(select(CodCollection.settlement_note)).one() == "150,000 received by transfer"

    # The books: the partner is owed what the customer paid; once the hub counts the
    # driver's 100,000, the driver owes nothing and the cash is at the hub.
    from app.billing import cash, ledger

    cod = session.scalars(select(CodCollection)).one()
    driver, partner = ("driver", cod.driver_id), ("partner", cod.partner_id)
    assert ledger.balance(session, "2100", "VND", party=partner) == -100_000
    assert ledger.balance(session, "1310", "VND", party=driver) == -150_000
    handover = session.scalars(select(CashHandover)).one()
    with client.application.app_context():
        cash.confirm(session, handover.id, 100_000, user_id=1, hub_id=None, note="short, as reported")
        session.commit()
    assert [ledger.balance(session, account, "VND", party=driver) for account in ("1100", "1310")] == [0, 0]
    assert ledger.balance(session, "1110", "VND", party=("hub", handover.hub_id)) == 100_000
    finance.post(f"/console/shipments/{sid}/settle-cod", data={"note": "again", "csrf_token": token})
    assert "already settled" in finance.get(f"/console/shipments/{sid}").get_data(as_text=True)
    assert 'id="cod-differences-count">0<' in staff.get("/console/").get_data(as_text=True)


def test_cash_from_later_deliveries_is_handed_over_after_the_first_count(client, session, day_out, partner):
    sign_in(client, "van@test.example")
    first, second = day_out["ids"][0], day_out["ids"][1]
    with client.application.app_context():
        session.get(Order, session.get(Shipment, second).order_id).cod_amount = 80_000
        session.get(Order, session.get(Shipment, second).order_id).cod_currency = "VND"
        session.commit()
    deliver = {"type": "deliver", "recipient_name": "Lan", "relation": "self", "cod_method": "cash"}
    _send(client, [{**deliver, "id": str(uuid.uuid4()), "shipment_id": first, "cod_received": 250_000}])
    page = client.get("/driver/cash").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/driver/cash", data={"declared": "250000", "csrf_token": token})
    hub_op = client.application.test_client()
    sign_in(hub_op, "disp@test.example")
    path = f"/console/hubs/{day_out['centre']}/cash"
    htoken = re.search(r'name="csrf_token" value="([^"]+)"', hub_op.get(path).get_data(as_text=True)).group(1)
    first_handover = session.scalars(select(CashHandover)).one().id
    hub_op.post(f"{path}/{first_handover}", data={"received": "250000", "csrf_token": htoken})

    # Later that day: one more delivery with cash; the form is there again, for that cash only.
    assert 'name="declared"' not in client.get("/driver/cash").get_data(as_text=True)
    _send(client, [{**deliver, "id": str(uuid.uuid4()), "shipment_id": second, "cod_received": 80_000}])
    page = client.get("/driver/cash").get_data(as_text=True)
    assert 'name="declared"' in page and "Cash due since the last count: <strong>80,000 VND</strong>" in page
    client.post("/driver/cash", data={"declared": "80000", "csrf_token": token})
    session.expire_all()
    handovers = session.scalars(select(CashHandover).order_by(CashHandover.id)).all()
    assert [(h.expected_amount, h.declared_amount, h.received_amount) for h in handovers] == [
        (250_000, 250_000, 250_000), (80_000, 80_000, None)]
    hub_op.post(f"{path}/{handovers[1].id}", data={"received": "80000", "csrf_token": htoken})
    session.expire_all()
    assert session.get(CashHandover, handovers[1].id).difference == 0


def test_a_driver_with_several_sheets_sees_the_current_one_the_next_stop_and_each_parcel_once(
        client, session, day_out):
    """A failed parcel planned again onto a second sheet is listed once (on its latest
    sheet); the first sheet, done, is folded; the next stop is the first left to do."""
    sign_in(client, "van@test.example")
    ids = day_out["ids"]
    actions = [{"id": str(uuid.uuid4()), "type": "fail", "shipment_id": sid, "reason": "not_home"} for sid in ids]
    actions.append({"id": str(uuid.uuid4()), "type": "pickup", "pickup_run_id": day_out["run"],
                    "scanned": [day_out["numbers"][day_out["waiting"][0]], day_out["numbers"][day_out["waiting"][1]]]})
    assert all(r["ok"] for r in _send(client, actions).get_json()["results"])
    with client.application.app_context():
        [second] = planning.plan_run_sheets(session, day_out["centre"], clock.today(), pickups=False,
                                            driver_ids=[day_out["driver"]], capacity_per_day=False)
        planning.dispatch_run_sheet(session, second.id, actor="user:1")
        session.commit()
        second_id = second.id
    page = client.get("/driver/").get_data(as_text=True)
    for sid in ids:  # once each, though on two sheets
        assert page.count(f'data-number="{day_out["numbers"][sid]}"') == 1
    assert f'id="sheet-{day_out["sheet"]}"' in page  # the first sheet, folded
    assert f"Run sheet {second_id} · 2 of 2" in page
    next_stop = re.search(r'id="next-stop".*?href="#stop-(\d+)"', page, re.S).group(1)
    first_row = re.search(r'<h2 class="sheet-title">.*?id="row-(\d+)"', page, re.S).group(1)
    assert next_stop == first_row
