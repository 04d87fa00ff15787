"""The console's figures and searches, on both databases."""
import re
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select

from app.hubs.models import Hub
from app.orders import console_reads
from tests.auth.conftest import sign_in
from tests.factories import THU_DUC_UNIVERSITY, create, deliver_direct, order_in

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def test_the_dashboard_counts_todays_work_by_the_local_day(session, partner, day):
    delivered = deliver_direct(session, partner, "D-1")
    create(session, partner, order_in("D-2", dropoff=THU_DUC_UNIVERSITY))
    session.commit()
    f = console_reads.dashboard(session, today=day, tz=TZ)
    assert f.intake_today == 2 and f.delivered_today == 1
    assert f.by_status == {"delivered": 1, "created": 1}
    assert (f.on_time_rate, f.delivered_last_14) == (1.0, 1)
    assert f.volume[-1] == (day, 2) and sum(n for _, n in f.volume) == 2
    thu_duc = session.scalars(select(Hub).where(Hub.code == "SGN-TD")).one()
    assert f.by_hub[thu_duc.id] == {"created": 1}
    scoped = console_reads.dashboard(session, today=day, tz=TZ, hub_id=thu_duc.id)
    assert scoped.by_status == {"created": 1} and scoped.intake_today == 1 and scoped.delivered_today == 0
    assert delivered.delivery_hub_id != thu_duc.id


def test_search_finds_by_tracking_number_reference_or_phone(session, partner):
    shipment = create(session, partner, order_in("REF-77"))
    create(session, partner, order_in("REF-78", dropoff=THU_DUC_UNIVERSITY))
    session.commit()
    for q in (shipment.tracking_number.lower(), "REF-77"):
        found, _ = console_reads.search(session, q=q)
        assert [f.id for f in found] == [shipment.id], q
    by_phone, _ = console_reads.search(session, q="0903 123 456")
    assert len(by_phone) == 2
    assert console_reads.search(session, q="nothing like it")[0] == []
    page, last = console_reads.search(session, limit=1)
    assert len(page) == 1 and last == page[0].id
    rest, _ = console_reads.search(session, limit=1, before_id=last)
    assert rest[0].id < last


def test_search_by_created_day_counts_local_days(session, partner):
    """Created at 23:30 UTC on one day is the next day in Ho Chi Minh City (UTC+7)."""
    from app.orders.models import Shipment

    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    shipment = create(session, partner, order_in("DAY-1"))
    utc_day = datetime.now(timezone.utc).date() - timedelta(days=3)
    session.get(Shipment, shipment.id).created_at = datetime.combine(utc_day, time(23, 30), timezone.utc)
    session.commit()
    day = utc_day + timedelta(days=1)
    found = lambda **kw: [f.id for f in console_reads.search(session, tz=tz, **kw)[0]]  # noqa: E731
    assert found(created_from=day, created_to=day) == [shipment.id]
    assert found(created_to=day - timedelta(days=1)) == []
    assert found(created_from=day + timedelta(days=1)) == []


def test_a_hub_operator_sees_only_their_hubs_work(client, users, session, partner):
    with client.application.app_context():  # the client's requests each have their own
        near_id = create(session, partner, order_in("H-1", dropoff=THU_DUC_UNIVERSITY)).id  # SGN-TD's
        session.commit()
    sign_in(client, "d7@test.example")
    assert client.get(f"/console/shipments/{near_id}").status_code == 404
    assert "H-1" not in client.get("/console/shipments").get_data(as_text=True)
    other = client.application.test_client()
    sign_in(other, "disp@test.example")
    assert other.get(f"/console/shipments/{near_id}").status_code == 200
    assert "H-1" in other.get("/console/shipments").get_data(as_text=True)


def _csrf(client, path):
    import re

    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_actions_go_through_the_lifecycle_and_only_for_those_who_may(client, users, session, partner):
    from app.auth.services import create_user
    from app.orders.models import Shipment

    with client.application.app_context():
        shipment_id = create(session, partner, order_in("A-1")).id
        create_user(session, "money@test.example", role="finance", password="correct horse battery")
        session.commit()
    path = f"/console/shipments/{shipment_id}"
    sign_in(client, "disp@test.example")
    token = _csrf(client, path)
    r = client.post(f"{path}/actions", data={"action": "hold", "reason": "", "csrf_token": token})
    assert r.status_code == 302
    assert "hold needs a reason" in client.get(path).get_data(as_text=True)
    client.post(f"{path}/actions", data={"action": "cancel", "reason": "customer called", "csrf_token": token})
    session.expire_all()
    assert session.get(Shipment, shipment_id).status == "cancelled"
    assert client.post(f"{path}/actions", data={"action": "teleport", "csrf_token": token}).status_code == 400
    finance = client.application.test_client()
    sign_in(finance, "money@test.example")
    assert "action-hold" not in finance.get(path).get_data(as_text=True)
    r = finance.post(f"{path}/actions", data={"action": "release", "csrf_token": _csrf(finance, path)})
    assert r.status_code == 403


def test_the_scan_station_scans_parcels_in_and_says_what_went_wrong(client, users, session, partner):
    import re

    from app.orders.models import Shipment
    from app.orders.shipments import transition

    with client.application.app_context():
        s = create(session, partner, order_in("S-1"))  # delivered straight from the centre
        transition(session, s.id, "pick_up", actor="t")
        far = create(session, partner, order_in("S-2", dropoff=THU_DUC_UNIVERSITY))
        session.commit()
        number, far_number, shipment_id = s.tracking_number, far.tracking_number, s.id
        centre = session.scalars(select(Hub).where(Hub.code == "SGN-C")).one().id
        d7 = session.scalars(select(Hub).where(Hub.code == "SGN-D7")).one().id
    sign_in(client, "disp@test.example")
    path = f"/console/hubs/{centre}/scan"
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)

    def scan(value):
        page = client.post(path, data={"number": value, "csrf_token": token}).get_data(as_text=True)
        return re.search(r'id="scan-result"[^>]*>(.*?)</p>', page, re.S).group(1)

    assert "scanned in: now at shipping centre" in scan(f" {number.lower()} ")
    session.expire_all()
    assert session.get(Shipment, shipment_id).status == "at_shipping_centre"
    # Refusals in the words of the scan station, never the lifecycle's.
    from app import clock

    with client.application.app_context():
        at = clock.local(session.get(Shipment, shipment_id).updated_at)
    again = scan(number)
    assert "not scanned in: already scanned in here at" in again and "receive_at" not in again
    assert at.strftime("%H:%M") in again or (at.replace(second=0) + timedelta(minutes=1)).strftime("%H:%M") in again
    assert "not scanned in: not picked up yet" in scan(far_number)
    assert "unknown tracking number" in scan("WB00000000000")
    assert number in client.get(path).get_data(as_text=True)  # in the latest scans
    other = client.application.test_client()
    sign_in(other, "d7@test.example")  # a hub operator, at another hub's station
    assert other.get(path).status_code == 404  # outside what they see, like another hub's parcel
    assert other.get(f"/console/hubs/{d7}/scan").status_code == 200


def test_the_address_changes_from_the_console_through_the_same_service(client, users, session, partner):
    from app.auth.models import AuditEntry
    from app.orders.models import Order, Shipment

    with client.application.app_context():
        shipment_id = create(session, partner, order_in("ADDR-1", dropoff=THU_DUC_UNIVERSITY)).id
        session.commit()
    path = f"/console/shipments/{shipment_id}"
    sign_in(client, "disp@test.example")
    token = _csrf(client, path)
    r = client.post(f"{path}/address", data={"line1": "99 Nguyen Thi Thap", "district": "District 7",
                                             "city": "Ho Chi Minh City", "country": "VN",
                                             "reason": "customer moved", "csrf_token": token})
    assert r.status_code == 302
    assert "Address changed" in client.get(path).get_data(as_text=True)
    session.expire_all()
    s = session.get(Shipment, shipment_id)
    assert session.get(Hub, s.delivery_hub_id).code == "SGN-D7"
    assert session.get(Order, s.order_id).dropoff_address.line1 == "99 Nguyen Thi Thap"
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(shipment_id))).all() == [
        "order.address_changed"]
    bad = client.post(f"{path}/address", data={"line1": "x", "city": "Atlantis", "csrf_token": token})
    page = client.get(path).get_data(as_text=True)
    assert bad.status_code == 302 and "Address not changed: cannot place" in page
    assert "dropoff.address" not in page and "address:" not in page  # words, not field paths


def test_a_dispatcher_reroutes_to_another_hub_that_reaches_the_address(client, users, session, partner):
    from tests.factories import BEN_THANH_MARKET
    from app.orders.models import Shipment
    from app.orders.shipments import history

    with client.application.app_context():  # Ben Thanh market: in both SGN-D7's and SGN-GV's areas
        shipment_id = create(session, partner, order_in("RR-1", dropoff=BEN_THANH_MARKET)).id
        session.commit()
        first = session.get(Hub, session.get(Shipment, shipment_id).delivery_hub_id).code
    other = "SGN-GV" if first == "SGN-D7" else "SGN-D7"
    path = f"/console/shipments/{shipment_id}"
    sign_in(client, "disp@test.example")
    page = client.get(path).get_data(as_text=True)
    assert f"<option>{other}</option>" in page
    token = _csrf(client, path)
    assert client.post(f"{path}/reroute", data={"hub": other, "reason": "", "csrf_token": token}).status_code == 302
    assert "a reroute needs a reason" in client.get(path).get_data(as_text=True)
    client.post(f"{path}/reroute", data={"hub": "SGN-TD", "reason": "try", "csrf_token": token})
    assert "km from SGN-TD" in client.get(path).get_data(as_text=True)
    client.post(f"{path}/reroute", data={"hub": other, "reason": "D7 is flooded", "csrf_token": token})
    session.expire_all()
    s = session.get(Shipment, shipment_id)
    assert session.get(Hub, s.delivery_hub_id).code == other and s.planned_legs[1]["to"] == other
    last = history(session, shipment_id)[-1]
    assert (last.type, last.reason, last.data) == ("rerouted", "D7 is flooded", {"from": first, "to": other})
    hub_operator = client.application.test_client()
    sign_in(hub_operator, "d7@test.example")
    r = hub_operator.post(f"{path}/reroute", data={"hub": first, "reason": "x",
                                                   "csrf_token": _csrf(hub_operator, "/console/")})
    assert r.status_code == 403  # hub operators scan; dispatchers reroute


def test_the_exceptions_queue_lists_disabled_webhook_endpoints(client, users, session, partner):
    from app.webhooks import services as webhooks

    with client.application.app_context():
        endpoint = webhooks.create_endpoint(session, partner, url="https://hooks.example.com/w", event_types=[])
        webhooks.create_endpoint(session, partner, url="https://still.example.com/w", event_types=[])
        webhooks.update_endpoint(session, endpoint, enabled=False)
        session.commit()
    sign_in(client, "disp@test.example")
    page = client.get("/console/").get_data(as_text=True)
    assert "Webhook endpoints disabled</td><td class=\"num\">1<" in page
    assert "https://hooks.example.com/w — disabled by the partner" in page
    assert "still.example.com" not in page


def test_delivered_at_is_set_on_delivery_and_backfilled_by_the_migration(session, partner):
    """The dashboard counts deliveries by ``shipments.delivered_at``: set by the delivery,
    and for shipments delivered before the column existed, by migration 0007."""
    import importlib.util
    from pathlib import Path

    from sqlalchemy import text

    from app.orders.models import Shipment
    from app.orders.shipments import history

    shipment = deliver_direct(session, partner, "BF-1")
    delivered = next(e for e in history(session, shipment.id) if e.type == "delivered")
    at = session.get(Shipment, shipment.id).delivered_at
    assert at is not None and abs((at - delivered.server_time).total_seconds()) < 5
    path = next((Path(__file__).parents[2] / "migrations" / "versions").glob("*_0007_*.py"))
    spec = importlib.util.spec_from_file_location("m0007", path)
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    session.execute(text("UPDATE shipments SET delivered_at = NULL"))
    session.execute(text(migration.BACKFILL_DELIVERED_AT))
    session.commit()
    session.expire_all()
    assert session.get(Shipment, shipment.id).delivered_at == delivered.server_time


def test_the_timeline_names_people_and_says_reasons_in_words(client, users, session, partner):
    from app.delivery import services as delivery
    from app.delivery.models import Driver
    from app.orders.models import Shipment
    from tests.delivery.test_attempts import out_for_delivery

    with client.application.app_context():
        [sid] = out_for_delivery(session, partner, 1)
        driver = session.scalars(select(Driver).where(Driver.hub_id == session.get(Shipment, sid).delivery_hub_id)).first()
        delivery.fail_attempt(session, sid, "not_home", driver_id=driver.id, actor=f"driver:{driver.id}")
        session.commit()
        driver_name = driver.name
    sign_in(client, "disp@test.example")
    page = client.get(f"/console/shipments/{sid}").get_data(as_text=True)
    timeline = page[page.index('id="timeline"'):]
    assert f"driver {driver_name}" in timeline and "nobody at home" in timeline
    assert f"driver:{driver.id}" not in page and "not_home" not in page and "not home" not in page
    assert f"driver {driver_name}" in page[page.index('id="proof"'):page.index('id="timeline"')]


def test_every_time_shown_is_the_networks_and_says_so(client, users, session, partner):
    """Created at 23:30 UTC is 06:30 the next morning in Ho Chi Minh City: the list and the
    timeline say the same, and name the zone."""
    from app.orders.models import Shipment

    with client.application.app_context():
        sid = create(session, partner, order_in("TZ-1")).id
        utc = datetime.combine(datetime.now(timezone.utc).date() - timedelta(days=2), time(23, 30), timezone.utc)
        session.get(Shipment, sid).created_at = utc
        session.commit()
    sign_in(client, "admin@test.example")
    local = utc.astimezone(TZ).strftime("%d %b %H:%M")
    listing = client.get("/console/shipments").get_data(as_text=True)
    assert local in listing and utc.strftime("%d %b %H:%M") not in listing and "Asia/Ho_Chi_Minh" in listing
    assert "Asia/Ho_Chi_Minh" in client.get(f"/console/shipments/{sid}").get_data(as_text=True)


def test_the_audit_log_names_the_object_and_reads_its_details(client, users, session, partner, day):
    from tests.factories import ready_at_centre

    with client.application.app_context():
        centre, _ = ready_at_centre(session, partner, 2)
        session.commit()
        centre_id, code = centre.id, centre.code
    sign_in(client, "admin@test.example")
    page = client.get(f"/console/hubs/{centre_id}/runsheets").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(f"/console/hubs/{centre_id}/runsheets/plan", data={"date": day.isoformat(), "csrf_token": token})
    audit = client.get("/console/audit").get_data(as_text=True)
    row = audit[audit.index("run_sheets.planned"):]
    row = row[:row.index("</tr>")]
    assert f"hub {centre_id}" in row and f"hub: {code}" in row and "stops: 2" in row
    assert "{'" not in row and f"run_sheet {centre_id}" not in row


def test_the_shipment_page_says_which_messages_went_which_wait_and_which_failed(client, users, session, partner, day):
    from app.crm.models import Notification
    from app.crm.notifications import plan_notifications, record_failure, record_sent
    from app import clock

    with client.application.app_context():
        shipment = deliver_direct(session, partner, "N-1")
        keys = [(shipment.id, seq) for seq in range(1, shipment.last_event_seq + 1)]
        plan_notifications(session, keys, public_url="http://x")
        session.flush()
        sms, email, *rest = session.scalars(select(Notification).order_by(Notification.channel.desc(),
                                                                          Notification.id)).all()
        record_sent(session, [(sms.id, "log-sms", clock.now())])
        record_failure(session, email.id, "SMTPRecipientsRefused: 550 no such mailbox")
        session.commit()
    sign_in(client, "disp@test.example")
    page = client.get(f"/console/shipments/{shipment.id}")
    assert page.status_code == 200
    table = page.get_data(as_text=True)
    table = table[table.index('id="notifications"'):]
    assert "log-sms" in table
    assert "waiting (tried 1 time: SMTPRecipientsRefused: 550 no such mailbox)" in table
    assert table.count("waiting") == len(rest) + 1
