"""Inbound webhooks: a platform posts orders signed with the partner's inbound secret."""
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from app.orders.models import Order, Shipment
from tests.api.test_orders import BODY


def set_up(client, key):
    r = client.post("/api/v1/inbound-webhook", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200
    return r.get_json()


def push(client, setup, event, *, webhook_id="msg_1", secret=None, at=None, body=None):
    body = body if body is not None else json.dumps(event)
    at = at or datetime.now(timezone.utc)
    signature = Webhook(secret or setup["secret"]).sign(webhook_id, at, body)
    path = setup["url"].split("://", 1)[1].split("/", 1)[1]
    return client.post(f"/{path}", data=body, content_type="application/json", headers={
        "webhook-id": webhook_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature})


def orders(session):
    return session.scalar(select(func.count()).select_from(Order))


def test_a_signed_order_is_taken_once(client, keys, session):
    setup = set_up(client, keys[0])
    assert setup["secret"].startswith("whsec_") and "/api/v1/inbound/in_" in setup["url"]
    event = {"type": "order.created", "timestamp": "2026-11-23T08:00:00Z", "data": BODY}
    first = push(client, setup, event)
    assert first.status_code == 201, first.get_json()
    again = push(client, setup, event)  # the platform's retry: same webhook id
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == first.get_json()
    assert orders(session) == 1
    order = session.get(Order, first.get_json()["id"])
    assert order.partner_id == 1 and order.reference == BODY["reference"]


def test_unsigned_wrongly_signed_or_stale_requests_are_refused(client, keys, session):
    setup = set_up(client, keys[0])
    event = {"type": "order.created", "data": BODY}
    path = setup["url"].split("://", 1)[1].split("/", 1)[1]
    assert client.post(f"/{path}", json=event).status_code == 401
    assert push(client, setup, event, secret=set_up(client, keys[1])["secret"]).status_code == 401
    stale = push(client, setup, event, at=datetime.now(timezone.utc) - timedelta(minutes=10))
    assert stale.status_code == 401 and "too old" in stale.get_json()["error"]["message"]
    control = push(client, setup, event, body=json.dumps(event))
    assert control.status_code == 201  # the same request, correctly signed, goes through
    # The body changed after signing:
    r = client.post(f"/{path}", data=json.dumps({**event, "data": {**BODY, "reference": "X"}}),
                    content_type="application/json", headers={
                        "webhook-id": "msg_1", "webhook-timestamp": str(int(datetime.now().timestamp())),
                        "webhook-signature": Webhook(setup["secret"]).sign(
                            "msg_1", datetime.now(timezone.utc), json.dumps(event))})
    assert r.status_code == 401
    assert client.post("/api/v1/inbound/in_nothing/orders", json=event).status_code == 404
    assert orders(session) == 1


def test_rotation_keeps_the_old_secret_for_a_day(client, keys, session):
    old = set_up(client, keys[0])
    new = set_up(client, keys[0])
    assert new["url"] == old["url"] and new["secret"] != old["secret"]
    assert push(client, new, {"type": "order.created", "data": BODY}, secret=old["secret"]).status_code == 201
    info = client.get("/api/v1/inbound-webhook", headers={"Authorization": f"Bearer {keys[0]}"}).get_json()
    assert info["secret"] is None and info["previous_secret_expires_at"]


def test_bad_orders_and_cancellations(client, keys, session):
    setup = set_up(client, keys[0])
    bad = push(client, setup, {"type": "order.created", "data": {**BODY, "parcels": []}}, webhook_id="m1")
    assert bad.status_code == 422 and "parcels" in bad.get_json()["error"]["details"]["data"]
    unknown = push(client, setup, {"type": "order.teleported", "data": {}}, webhook_id="m2")
    assert unknown.status_code == 422
    assert push(client, setup, {"type": "order.created", "data": BODY}, webhook_id="m3").status_code == 201
    cancel = {"type": "order.cancelled", "data": {"reference": BODY["reference"], "reason": "customer cancelled"}}
    r = push(client, setup, cancel, webhook_id="m4")
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"
    assert session.scalars(select(Shipment.status)).one() == "cancelled"
    missing = push(client, setup, {"type": "order.cancelled", "data": {"reference": "nope"}}, webhook_id="m5")
    assert missing.status_code == 404
