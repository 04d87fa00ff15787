"""POST/GET /api/v1/orders: keys, idempotency, validation, isolation between partners."""
import copy
import threading
import uuid

import pytest
from sqlalchemy import func, select

from app import clock
from app.db import db
from app.orders.models import Order


BODY = {
    "reference": "SO-1001", "service_level": "standard",
    "pickup": {"name": "Saigon Books", "phone": "+84 28 3822 1234",
               "address": {"line1": "45 Le Loi", "city": "Ho Chi Minh City", "country": "VN",
                           "lat": 10.7735, "lon": 106.7005}},
    "dropoff": {"name": "Lan Nguyen", "phone": "0903 123 456", "email": "lan@example.com",
                "address": {"line1": "12 Nguyen Hue", "district": "Quận 7",
                            "city": "Ho Chi Minh City", "country": "VN"}},
    "parcels": [{"weight_grams": 1200, "length_cm": 30, "width_cm": 20, "height_cm": 10}],
    "cod": {"amount": 250000, "currency": "VND"},
}


def post(client, key, body=BODY, idem=None, **headers):
    headers = {"Authorization": f"Bearer {key}", **headers}
    if idem is not False:
        headers["Idempotency-Key"] = idem or str(uuid.uuid4())
    return client.post("/api/v1/orders", json=body, headers=headers)


def orders(session):
    return session.scalar(select(func.count()).select_from(Order))


def test_an_order_is_taken_and_read_back(client, keys, session):
    r = post(client, keys[0])
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "pre_transit" and body["reference"] == "SO-1001"
    assert body["tracking_number"].startswith("WB") and body["cod"] == {"amount": 250000, "currency": "VND"}
    got = client.get(f"/api/v1/orders/{body['id']}", headers={"Authorization": f"Bearer {keys[0]}"})
    assert got.status_code == 200 and got.get_json() == {**body, "charges": []}  # nothing charged yet


@pytest.mark.parametrize("auth", [None, "Bearer nope", "Basic abc", "Bearer wbk_00000000_forged"])
def test_every_request_needs_a_valid_key(client, auth):
    headers = {"Authorization": auth} if auth else {}
    r = client.post("/api/v1/orders", json=BODY, headers={**headers, "Idempotency-Key": "k"})
    assert r.status_code == 401
    assert r.get_json()["error"]["code"] == "unauthorized"
    assert r.headers["WWW-Authenticate"] == "Bearer"


def test_a_revoked_key_is_refused(client, keys, session, monkeypatch):
    import time

    from app.crm import services as crm
    from app.crm.models import ApiKey

    def hubs(key):
        return client.get("/api/v1/hubs", headers={"Authorization": f"Bearer {key}"}).status_code

    assert hubs(keys[0]) == 200
    crm.revoke_api_key(session, "_".join(keys[0].split("_")[:2]))
    session.commit()
    assert hubs(keys[0]) == 401 and post(client, keys[0]).status_code == 401
    # Revoked by another process: this one's answer for the key stands until it expires.
    assert hubs(keys[1]) == 200
    record = session.scalars(select(ApiKey).where(ApiKey.prefix == "_".join(keys[1].split("_")[:2]))).one()
    record.revoked_at = clock.now()
    session.commit()
    later = time.monotonic() + crm.KEY_CACHE_SECONDS + 0.1
    monkeypatch.setattr(crm.time, "monotonic", lambda: later)
    assert hubs(keys[1]) == 401


def test_same_key_and_body_replays_the_first_response(client, keys, session):
    first = post(client, keys[0], idem="key-1")
    again = post(client, keys[0], idem="key-1")
    assert again.status_code == 201 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert orders(session) == 1


def test_same_key_with_another_body_is_refused(client, keys, session):
    post(client, keys[0], idem="key-2")
    other = copy.deepcopy(BODY)
    other["reference"] = "SO-1002"
    r = post(client, keys[0], other, idem="key-2")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "idempotency_key_reused"
    assert orders(session) == 1


def test_ids_past_32_bits_are_taken(client, keys, session, backend):
    """A courier's busiest tables pass 2,147,483,647 rows in weeks: their ids are 64 bits
    (SQLite's always were)."""
    if backend != "postgresql":
        pytest.skip("SQLite's INTEGER is 64 bits")
    from sqlalchemy import text

    from app.orders.models import ShipmentEvent

    past = 2**31 + 7
    for table in ("orders", "parcels", "shipments", "shipment_events", "outbox"):
        session.execute(text(f"SELECT setval('{table}_id_seq', {past})"))
    session.commit()
    r = post(client, keys[0])
    assert r.status_code == 201, r.get_json()
    order = r.get_json()
    assert order["id"] > past
    cancelled = client.post(f"/api/v1/orders/{order['id']}/cancel", json={"reason": "ordered twice"},
                            headers={"Authorization": f"Bearer {keys[0]}"})
    assert cancelled.status_code == 200, cancelled.get_json()
    events = session.scalars(select(ShipmentEvent.id)).all()
    assert events and min(events) > past
    tracked = client.get(f"/api/v1/tracking/{order['tracking_number']}", headers={"Authorization": f"Bearer {keys[0]}"})
    assert tracked.status_code == 200 and tracked.get_json()["status"] == "cancelled"


def test_a_key_still_running_answers_409(app, client, keys, session, network, backend):
    if backend != "postgresql":
        pytest.skip("SQLite runs one writer at a time: a second request waits, then replays")
    from sqlalchemy import text

    from app.api.idempotency import lock_id

    # The first request holds the key's lock (here, another connection holds it).
    with db.engine.connect() as first:
        first.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id(network["partners"][0]["id"], "busy")})
        r = post(client, keys[0], idem="busy")
        assert r.status_code == 409 and r.headers["Retry-After"] == "1"
        assert orders(session) == 0
        # Another partner's same key is not held.
        assert post(client, keys[1], idem="busy").status_code == 201
        first.execute(text("SELECT pg_advisory_unlock_all()"))
    assert post(client, keys[0], idem="busy").status_code == 201


def test_the_key_is_required(client, keys):
    r = post(client, keys[0], idem=False)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "idempotency_key_required"


def test_two_partners_may_use_the_same_key(client, keys, session):
    a, b = post(client, keys[0], idem="shared"), post(client, keys[1], idem="shared")
    assert a.status_code == b.status_code == 201
    assert a.get_json()["id"] != b.get_json()["id"]
    assert orders(session) == 2


def test_validation_errors_name_the_field(client, keys, session):
    bad = copy.deepcopy(BODY)
    bad["parcels"][0]["weight_grams"] = 0
    bad["service_level"] = "overnight"
    bad["surprise"] = 1
    r = post(client, keys[0], bad)
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "validation_failed"
    fields = error["details"]["json"]
    assert set(fields) == {"parcels", "service_level", "surprise"}
    assert "weight_grams" in fields["parcels"]["0"]
    assert orders(session) == 0


def test_an_order_outside_the_network_is_refused_with_the_reason(client, keys, session):
    far = copy.deepcopy(BODY)
    far["dropoff"]["address"].update(lat=10.4114, lon=106.9547)  # Can Gio beach
    r = post(client, keys[0], far, idem="far")
    assert r.status_code == 422
    error = r.get_json()["error"]
    assert error["code"] == "order_rejected"
    assert error["details"][0]["field"] == "dropoff.address"
    # The refusal is the answer to that key: the retry gets it again, nothing is created.
    again = post(client, keys[0], far, idem="far")
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    assert orders(session) == 0


def test_another_partners_order_is_not_found(client, keys):
    order_id = post(client, keys[0]).get_json()["id"]
    r = client.get(f"/api/v1/orders/{order_id}", headers={"Authorization": f"Bearer {keys[1]}"})
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_the_openapi_document_is_served(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.get_json()
    assert "/api/v1/orders" in spec["paths"] and "/api/v1/orders/{order_id}" in spec["paths"]
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


@pytest.mark.postgres
def test_fifty_identical_concurrent_posts_make_one_order(app, backend, client, keys):
    if backend != "postgresql":
        pytest.skip("concurrency on PostgreSQL")
    barrier = threading.Barrier(50)
    statuses = []

    def send():
        c = app.test_client()
        barrier.wait()
        statuses.append(post(c, keys[0], idem="same-everywhere").status_code)

    threads = [threading.Thread(target=send) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(statuses) <= {201, 409} and statuses.count(201) >= 1
    with app.app_context():
        assert orders(db.session) == 1


def test_orders_are_listed_newest_first_a_page_at_a_time(client, keys):
    made = [post(client, keys[0], dict(BODY, reference=f"SO-L{i}")).get_json()["id"] for i in range(5)]
    post(client, keys[1], dict(BODY, reference="SO-B"))
    seen, cursor = [], None
    while True:
        url = "/api/v1/orders?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers={"Authorization": f"Bearer {keys[0]}"}).get_json()
        seen += [o["id"] for o in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made[::-1]  # all of A's, none of B's, newest first, each once


def test_orders_are_filtered(client, keys):
    a = post(client, keys[0], dict(BODY, reference="SO-F1")).get_json()
    post(client, keys[0], dict(BODY, reference="SO-F2"))
    client.post(f"/api/v1/orders/{a['id']}/cancel", json={"reason": "x"},
                headers={"Authorization": f"Bearer {keys[0]}"})

    def ids(query):
        r = client.get(f"/api/v1/orders?{query}", headers={"Authorization": f"Bearer {keys[0]}"})
        assert r.status_code == 200, r.get_json()
        return [o["reference"] for o in r.get_json()["data"]]

    assert ids("status=cancelled") == ["SO-F1"]
    assert ids("status=pre_transit") == ["SO-F2"]
    assert ids("reference=SO-F2") == ["SO-F2"]
    assert ids("created_since=2999-01-01T00:00:00Z") == []
    assert set(ids("updated_since=2000-01-01T00:00:00Z")) == {"SO-F1", "SO-F2"}


def test_bad_list_queries_are_named(client, keys):
    r = client.get("/api/v1/orders?status=lost&cursor=zzz", headers={"Authorization": f"Bearer {keys[0]}"})
    assert r.status_code == 422 and "status" in r.get_json()["error"]["details"]["query"]
    r = client.get("/api/v1/orders?cursor=zzz", headers={"Authorization": f"Bearer {keys[0]}"})
    assert r.status_code == 422 and "cursor" in r.get_json()["error"]["details"]["query"]


def test_a_taken_reference_is_refused_and_the_refusal_is_the_keys_answer(client, keys, session):
    assert post(client, keys[0], idem="first").status_code == 201
    refused = post(client, keys[0], idem="second")  # same reference, another key
    assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "order_rejected"
    again = post(client, keys[0], idem="second")
    assert again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_json() == refused.get_json()
    assert orders(session) == 1
