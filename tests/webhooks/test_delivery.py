"""Outbound webhooks, end to end: a real receiver on loopback, signatures checked with the
standardwebhooks package, the retry schedule walked with a controlled clock."""
import json
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.crm.models import Partner
from app.webhooks import services as webhooks
from app.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.api.test_orders import BODY
from tests.factories import deliver_direct
from tests.receiver import Receiver
from workers.jobs import run_pending

#: The moment each test starts at: the clock is stopped there, and the schedule is walked
#: by passing later moments to the sweep.
T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _stopped_clock():
    with time_machine.travel(T0, tick=False):
        yield


@pytest.fixture
def receiver(app):
    app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
    with Receiver() as r:
        yield r


@pytest.fixture
def client(app, network):
    return app.test_client()


@pytest.fixture
def auth(network):
    return {"Authorization": f"Bearer {network['partners'][0]['api_key']}"}


def register(client, auth, url, **fields):
    r = client.post("/api/v1/webhook-endpoints", json={"url": url, **fields}, headers=auth)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def pump(session, now=None):
    """What the workers do: fan events out, then send what is due at ``now``."""
    run_pending()
    sent = 0
    lanes = webhooks.claim_due(session, now=now)
    session.commit()
    for ids in lanes:
        sent += webhooks.send_batch(session, ids, now=now, allow_private=True)
    session.commit()
    return sent


def verify(secret, request):
    return Webhook(secret).verify(request["body"], request["headers"])


def test_every_event_of_a_delivery_arrives_signed_and_in_sequence(client, auth, session, partner, receiver):
    endpoint = register(client, auth, receiver.url)
    assert endpoint["secret"].startswith("whsec_")
    shipment = deliver_direct(session, partner, "SO-H1")
    pump(session)
    events = [verify(endpoint["secret"], r) for r in receiver.requests]
    assert [e["type"] for e in events] == [
        "order.created", "shipment.pickup_scheduled", "shipment.picked_up", "shipment.arrived_at_centre",
        "shipment.out_for_delivery", "shipment.delivered"]
    assert [e["data"]["sequence"] for e in events] == [1, 2, 3, 4, 5, 6]
    assert {e["data"]["tracking_number"] for e in events} == {shipment.tracking_number}
    assert events[-1]["data"]["status"] == "delivered" and events[0]["data"]["reference"] == "SO-H1"
    # The webhook-id header is the event's id; ids are unique.
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [e["id"] for e in events]
    assert len({e["id"] for e in events}) == 6
    # Closing (after the fee) is one more event.
    pump(session)
    assert verify(endpoint["secret"], receiver.requests[-1])["type"] == "shipment.closed"


def _sequences(secret, requests, number: str) -> list[int]:
    return [verify(secret, r)["data"]["sequence"] for r in requests if number.encode() in r["body"]]


def test_a_failing_shipment_holds_back_only_its_own_events(client, auth, session, partner, receiver):
    endpoint = register(client, auth, receiver.url)
    a, b = (deliver_direct(session, partner, ref).tracking_number for ref in ("SO-LA", "SO-LB"))
    receiver.failing = lambda body: a.encode() in body
    pump(session, T0)
    assert _sequences(endpoint["secret"], receiver.requests, b) == [1, 2, 3, 4, 5, 6]  # b's went on
    assert _sequences(endpoint["secret"], receiver.requests, a) == [1]  # a's first failed: the rest waited
    receiver.failing = None
    pump(session, T0 + timedelta(seconds=5))
    assert _sequences(endpoint["secret"], receiver.requests, a) == [1]  # its retry is not due yet
    pump(session, T0 + timedelta(seconds=11))
    # then all, in order (the last, closed, came after the fee)
    assert _sequences(endpoint["secret"], receiver.requests, a) == [1, 1, 2, 3, 4, 5, 6, 7]


def test_lanes_are_sent_side_by_side_each_in_order(app, client, auth, session, partner, receiver):
    endpoint = register(client, auth, receiver.url)
    numbers = [deliver_direct(session, partner, f"SO-P{i}").tracking_number for i in range(6)]
    run_pending()
    lanes = webhooks.claim_due(session)
    session.commit()
    assert len(lanes) == 6 and all(len(lane) == 6 for lane in lanes)  # a lane a shipment
    receiver.delay = 0.05
    assert webhooks.send_lanes(lanes, allow_private=True) == 36
    assert receiver.most_in_flight > 1  # several shipments' events in flight at once
    for number in numbers:
        assert _sequences(endpoint["secret"], receiver.requests, number) == [1, 2, 3, 4, 5, 6]
    session.expire_all()
    assert {d.status for d in session.scalars(select(WebhookDelivery))} == {"succeeded"}


def test_a_tampered_body_or_another_secret_does_not_verify(client, auth, session, partner, receiver):
    endpoint = register(client, auth, receiver.url)
    deliver_direct(session, partner, "SO-H2")
    pump(session)
    request = receiver.requests[0]
    with pytest.raises(WebhookVerificationError):
        verify(endpoint["secret"], {**request, "body": request["body"].replace(b"SO-H2", b"SO-H3")})
    with pytest.raises(WebhookVerificationError):
        verify(webhooks.new_secret(), request)


def test_retries_follow_the_schedule_then_succeed(client, auth, session, partner, receiver):
    endpoint = register(client, auth, receiver.url, event_types=["order.created"])
    receiver.fail(3, status=503)
    client.post("/api/v1/orders", json=BODY, headers={**auth, "Idempotency-Key": "k1"})
    assert pump(session, T0) == 0
    # Nothing before each wait is over; one attempt when it is.
    at = T0
    for wait, expected in ((timedelta(seconds=10), 2), (timedelta(minutes=1), 3), (timedelta(minutes=10), 4)):
        at += wait
        pump(session, at - timedelta(seconds=1))
        assert len(receiver.requests) == expected - 1
        pump(session, at)
        assert len(receiver.requests) == expected
    pump(session, at + timedelta(days=3))
    assert len(receiver.requests) == 4  # done: nothing more
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert len(ids) == 1  # every attempt is the same event
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts) == ("succeeded", 4)
    assert [a.status_code for a in delivery.log] == [503, 503, 503, 200]
    log = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=auth).get_json()
    [entry] = log["data"]
    assert [a["status_code"] for a in entry["attempts"]] == [503, 503, 503, 200]
    assert entry["status"] == "succeeded" and all(a["duration_ms"] >= 0 for a in entry["attempts"])


def test_retry_after_is_honoured(client, auth, session, partner, receiver):
    register(client, auth, receiver.url, event_types=["order.created"])
    receiver.fail(1, status=429, headers={"Retry-After": "120"})
    client.post("/api/v1/orders", json=BODY, headers={**auth, "Idempotency-Key": "k1"})
    pump(session, T0)
    pump(session, T0 + timedelta(seconds=119))  # the schedule alone would have retried at 10 s
    assert len(receiver.requests) == 1
    pump(session, T0 + timedelta(seconds=120))
    assert len(receiver.requests) == 2


def test_ten_attempts_over_about_three_days_then_it_gives_up(client, auth, session, partner, receiver):
    register(client, auth, receiver.url, event_types=["order.created"])
    receiver.default = (500, {})
    client.post("/api/v1/orders", json=BODY, headers={**auth, "Idempotency-Key": "k1"})
    at = T0
    pump(session, at)
    for wait in webhooks.RETRY_DELAYS:
        at += wait
        pump(session, at)
    assert len(receiver.requests) == 10 and webhooks.MAX_ATTEMPTS == 10
    assert timedelta(days=2.5) < at - T0 < timedelta(days=3.5)
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 10, None)
    pump(session, at + timedelta(days=10))
    assert len(receiver.requests) == 10


def test_410_disables_the_endpoint_and_the_partner_is_told(app, client, auth, session, partner, receiver):
    from tests.smtp import SmtpServer

    partner.contact_email = "dev@lotus.example"
    session.commit()
    endpoint = register(client, auth, receiver.url)
    receiver.fail(1, status=410)
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        app.extensions.pop("waybill.mailer", None)
        deliver_direct(session, partner, "SO-H4")
        pump(session)
        run_pending()  # the notice to the partner
        [notice] = [m for m in smtp.messages if m["To"] == "dev@lotus.example"]
    assert len(receiver.requests) == 1  # nothing after the 410
    got = client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=auth).get_json()
    assert got["enabled"] is False and "410" in got["disabled_reason"]
    assert "410 Gone" in notice.get_content()
    statuses = sorted(session.scalars(select(WebhookDelivery.status)))
    assert statuses == ["cancelled"] * 5 + ["failed"]
    # Enabled again, it is sent new events; what it missed can be replayed.
    client.patch(f"/api/v1/webhook-endpoints/{endpoint['id']}", json={"enabled": True}, headers=auth)
    first = json.loads(receiver.requests[0]["body"])
    r = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/replay", json={"event_id": first["id"]},
                    headers=auth)
    assert r.status_code == 202 and r.get_json() == {"deliveries": 1}
    pump(session)
    assert json.loads(receiver.requests[-1]["body"]) == first


def test_an_endpoint_failing_for_days_is_disabled(client, auth, session, partner, receiver):
    register(client, auth, receiver.url, event_types=["order.created"])
    receiver.default = (500, {})
    for i, day in enumerate((0, 2, 4, 5)):
        client.post("/api/v1/orders", json={**BODY, "reference": f"D-{i}"},
                    headers={**auth, "Idempotency-Key": f"k{i}"})
        pump(session, T0 + timedelta(days=day))
    endpoint = session.scalars(select(WebhookEndpoint)).one()
    session.refresh(endpoint)
    assert endpoint.enabled is False and "every delivery has failed since 2026-11-24" in endpoint.disabled_reason


def test_a_down_endpoint_costs_one_attempt_per_turn_not_one_per_event(client, auth, session, partner, receiver):
    register(client, auth, receiver.url)
    receiver.default = (500, {})
    deliver_direct(session, partner, "SO-H5")  # six events
    pump(session, T0)
    assert len(receiver.requests) == 1
    pending = session.scalars(select(WebhookDelivery).where(WebhookDelivery.attempts == 0)).all()
    assert len(pending) == 5 and all(d.leased_until is None for d in pending)


def test_rotation_signs_with_both_secrets_for_a_day(client, auth, session, partner, receiver):
    endpoint = register(client, auth, receiver.url, event_types=["order.created"])
    r = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=auth)
    new = r.get_json()["secret"]
    assert new != endpoint["secret"] and new.startswith("whsec_")
    client.post("/api/v1/orders", json=BODY, headers={**auth, "Idempotency-Key": "k1"})
    pump(session)
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 2
    verify(new, request) and verify(endpoint["secret"], request)
    client.post("/api/v1/orders", json={**BODY, "reference": "SO-2"}, headers={**auth, "Idempotency-Key": "k2"})
    pump(session, datetime.now(timezone.utc) + timedelta(hours=25))
    request = receiver.requests[-1]
    assert len(request["headers"]["webhook-signature"].split(" ")) == 1
    verify(new, request)
    with pytest.raises(WebhookVerificationError):
        verify(endpoint["secret"], request)


def test_endpoints_hear_only_the_types_they_chose_and_only_their_partners_events(
        client, auth, session, network, partner, receiver):
    register(client, auth, receiver.url, event_types=["shipment.delivered"])
    other = session.get(Partner, network["partners"][1]["id"])
    deliver_direct(session, other, "SO-OTHER")
    deliver_direct(session, partner, "SO-MINE")
    pump(session)
    [only] = [json.loads(r["body"]) for r in receiver.requests]
    assert (only["type"], only["data"]["reference"]) == ("shipment.delivered", "SO-MINE")


def test_a_test_event_and_a_replayed_range(client, auth, session, partner, receiver):
    endpoint = register(client, auth, receiver.url)
    r = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/test", headers=auth)
    assert r.status_code == 202 and r.get_json()["event_type"] == "webhook.test"
    pump(session)
    assert verify(endpoint["secret"], receiver.requests[0])["type"] == "webhook.test"
    deliver_direct(session, partner, "SO-H6")
    pump(session)
    pump(session)  # closing, after the fee
    sent = [json.loads(r["body"]) for r in receiver.requests[1:]]
    r = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/replay", headers=auth, json={
        "since": (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat(),
        "until": (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()})
    assert r.get_json() == {"deliveries": len(sent)}
    pump(session)
    assert [json.loads(r["body"]) for r in receiver.requests[1 + len(sent):]] == sent
    bad = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/replay", headers=auth, json={})
    assert bad.status_code == 422
    missing = client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/replay", headers=auth,
                          json={"event_id": "evt_999999"})
    assert missing.status_code == 404


def test_replays_have_an_hourly_quota_per_partner(client, auth, session, partner, receiver, monkeypatch):
    endpoint = register(client, auth, receiver.url)
    deliver_direct(session, partner, "SO-Q1")
    pump(session)
    pump(session)  # closed: seven events
    monkeypatch.setattr(webhooks, "REPLAY_QUOTA", 10)
    window = {"since": (T0 - timedelta(hours=1)).isoformat(), "until": (T0 + timedelta(hours=1)).isoformat()}
    path = f"/api/v1/webhook-endpoints/{endpoint['id']}/replay"
    assert client.post(path, headers=auth, json=window).get_json() == {"deliveries": 7}
    over = client.post(path, headers=auth, json=window)
    assert over.status_code == 429 and over.get_json()["error"]["code"] == "replay_quota_exceeded"
    assert 3500 < int(over.headers["Retry-After"]) <= 3600
    with time_machine.travel(T0 + timedelta(hours=1, seconds=1), tick=False):
        assert client.post(path, headers=auth, json=window).get_json() == {"deliveries": 7}


def test_redirects_are_not_followed(client, auth, session, partner, receiver):
    register(client, auth, receiver.url, event_types=["order.created"])
    receiver.fail(1, status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
    client.post("/api/v1/orders", json=BODY, headers={**auth, "Idempotency-Key": "k1"})
    pump(session, T0)
    assert len(receiver.requests) == 1
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)


def test_a_slow_endpoint_times_out(client, auth, session, partner, receiver, monkeypatch):
    from app.webhooks import transport

    monkeypatch.setattr(transport, "TIMEOUT_SECONDS", 0.3)
    register(client, auth, receiver.url, event_types=["order.created"])
    receiver.delay = 1.0
    client.post("/api/v1/orders", json=BODY, headers={**auth, "Idempotency-Key": "k1"})
    pump(session, T0)
    delivery = session.scalars(select(WebhookDelivery)).one()
    assert delivery.last_status_code is None and "no answer within" in delivery.last_error
    assert delivery.next_attempt_at == T0 + timedelta(seconds=10)


def test_old_finished_deliveries_and_idempotency_keys_are_pruned(client, auth, session, partner, receiver):
    from app.api.idempotency import prune_idempotency_keys
    from app.api.models import IdempotencyKey
    from app.webhooks.models import WebhookAttempt

    register(client, auth, receiver.url, event_types=["order.created"])
    receiver.fail(1)
    for i in range(2):
        client.post("/api/v1/orders", json={**BODY, "reference": f"P-{i}"}, headers={**auth, "Idempotency-Key": f"p{i}"})
    pump(session, T0)  # the first fails; the second waits for the next turn
    pump(session, T0 + timedelta(seconds=10))
    statuses = sorted(session.scalars(select(WebhookDelivery.status)))
    assert statuses == ["succeeded", "succeeded"]
    assert webhooks.prune(session, before=T0) == 0  # finished after the cut-off: kept
    assert webhooks.prune(session, before=T0 + timedelta(days=1)) == 2
    session.commit()
    assert session.scalars(select(WebhookAttempt)).all() == []
    assert prune_idempotency_keys(session, before=datetime.now(timezone.utc) - timedelta(hours=48)) == 0
    assert prune_idempotency_keys(session, before=datetime.now(timezone.utc) + timedelta(seconds=1)) == 2
    session.commit()
    assert session.scalars(select(IdempotencyKey)).all() == []


def test_a_lane_whose_sender_died_goes_again_after_its_own_lease(client, auth, session, partner, receiver):
    from app.webhooks import transport

    register(client, auth, receiver.url)
    deliver_direct(session, partner, "SO-H9")  # six events: a lane of six
    session.commit()
    run_pending()
    (short,) = webhooks.claim_due(session, now=T0)  # a sender takes the lane and dies
    session.commit()
    assert len(short) == 6
    lease = timedelta(seconds=transport.TIMEOUT_SECONDS * 6 + 60)
    assert webhooks.claim_due(session, now=T0 + lease - timedelta(seconds=1)) == []
    session.commit()
    assert webhooks.claim_due(session, now=T0 + lease + timedelta(seconds=1)) == [short]  # not 20 timeouts later
    session.commit()
