"""/api/v1/hubs, /api/v1/tracking/{number}, /api/v1/orders/{id}/cancel."""
import pytest

from app.orders import shipments
from tests.api.test_orders import BODY, post


@pytest.fixture
def client(app, network):
    return app.test_client()


def auth(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(network):
    return [p["api_key"] for p in network["partners"]]


def test_hubs_lists_the_network_with_radii(client, keys):
    r = client.get("/api/v1/hubs", headers=auth(keys[0]))
    assert r.status_code == 200
    hubs = {h["code"]: h for h in r.get_json()}
    assert hubs["SGN-C"]["kind"] == "shipping_centre" and hubs["SGN-C"]["delivery_radius_km"] == 4.5
    assert sum(h["kind"] == "local_hub" for h in hubs.values()) == 4
    assert client.get("/api/v1/hubs").status_code == 401


def test_tracking_shows_history_with_late_scans_flagged(client, keys, session):
    order = post(client, keys[0]).get_json()
    sid = shipments.get_by_tracking_number(session, order["tracking_number"]).id
    for action in ("schedule_pickup", "pick_up", "receive_at_centre"):
        shipments.transition(session, sid, action, actor="t")
    shipments.transition(session, sid, "pick_up", actor="scanner")  # arrives late
    session.commit()
    r = client.get(f"/api/v1/tracking/{order['tracking_number'].lower()}", headers=auth(keys[0]))
    assert r.status_code == 200
    body = r.get_json()
    assert body["status"] == "in_transit" and body["promised_date"] == order["promised_date"]
    assert [(e["seq"], e["type"], e["late"]) for e in body["events"]] == [
        (1, "created", False), (2, "pickup_scheduled", False), (3, "picked_up", False),
        (4, "arrived_at_centre", False), (5, "picked_up", True)]
    assert body["events"][3]["status"] == "in_transit"


def test_tracking_another_partners_parcel_is_not_found(client, keys):
    number = post(client, keys[0]).get_json()["tracking_number"]
    assert client.get(f"/api/v1/tracking/{number}", headers=auth(keys[1])).status_code == 404
    assert client.get("/api/v1/tracking/WB00000000000", headers=auth(keys[0])).status_code == 404


def test_tracking_answers_an_unchanged_shipment_with_304_and_an_event_makes_it_new(app, client, keys, session):
    from sqlalchemy import event

    number = post(client, keys[0]).get_json()["tracking_number"]
    url, headers = f"/api/v1/tracking/{number}", auth(keys[0])
    first = client.get(url, headers=headers)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    assert etag and "Accept-Language" in first.headers["Vary"]
    statements = []
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(app.extensions["db"].engine, "before_cursor_execute", listen)
    try:
        again = client.get(url, headers={**headers, "If-None-Match": etag})
        assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
        cached = client.get(url, headers=headers)  # no ETag sent: the answer kept by the process
        assert cached.get_data() == first.get_data() and cached.headers["ETag"] == etag
    finally:
        event.remove(app.extensions["db"].engine, "before_cursor_execute", listen)
    # Each of the two read only the shipment's version (and its key's partner): nothing else.
    assert len([s for s in statements if "FROM shipments" in s]) == 2
    assert not [s for s in statements if "shipment_events" in s]

    shipments.transition(session, shipments.get_by_tracking_number(session, number).id, "schedule_pickup", actor="t")
    session.commit()
    moved = client.get(url, headers={**headers, "If-None-Match": etag})
    assert moved.status_code == 200 and moved.headers["ETag"] != etag
    assert [e["type"] for e in moved.get_json()["events"]] == ["created", "pickup_scheduled"]
    assert client.get(url, headers={**headers, "If-None-Match": moved.headers["ETag"]}).status_code == 304
    # Another partner's If-None-Match gets nothing but a 404.
    assert client.get(url, headers={**auth(keys[1]), "If-None-Match": etag}).status_code == 404


def test_the_promise_is_worded_for_the_day_it_is_read_and_the_etag_says_which_day(client, keys, session):
    """"Delivered tomorrow" read on the day is "delivered today": a kept answer and its
    ETag are the day's as much as the shipment's version's."""
    from datetime import date, datetime, time

    from app import clock
    from app.orders.promise_words import explain

    order = post(client, keys[0]).get_json()
    url, headers = f"/api/v1/tracking/{order['tracking_number']}", auth(keys[0])
    first = client.get(url, headers=headers)
    basis = shipments.get_by_tracking_number(session, order["tracking_number"]).promise_basis
    assert first.get_json()["promise"]["reason"] == explain(basis)
    due = date.fromisoformat(order["promised_date"])
    assert due > clock.today()  # a standard order is not due the day it is taken
    with clock.at(datetime.combine(due, time(9), clock.network_zone())):
        later = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
        assert later.status_code == 200 and later.headers["ETag"] != first.headers["ETag"]
        assert later.get_json()["promise"]["reason"] == explain(basis)
        assert "delivered today" in later.get_json()["promise"]["reason"]
        assert "delivered today" not in first.get_json()["promise"]["reason"]
        assert client.get(url, headers={**headers, "If-None-Match": later.headers["ETag"]}).status_code == 304


def test_cancel_before_pickup_only(client, keys, session):
    first = post(client, keys[0]).get_json()
    r = client.post(f"/api/v1/orders/{first['id']}/cancel", json={"reason": "customer changed their mind"},
                    headers=auth(keys[0]))
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled"

    other = dict(BODY, reference="SO-2002")
    second = post(client, keys[0], other).get_json()
    sid = shipments.get_by_tracking_number(session, second["tracking_number"]).id
    shipments.transition(session, sid, "pick_up", actor="t")
    session.commit()
    late = client.post(f"/api/v1/orders/{second['id']}/cancel", json={"reason": "too late"},
                       headers=auth(keys[0]))
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "not_cancellable"
    assert client.post(f"/api/v1/orders/{second['id']}/cancel", json={"reason": "x"},
                       headers=auth(keys[1])).status_code == 404
    missing = client.post(f"/api/v1/orders/{second['id']}/cancel", json={}, headers=auth(keys[0]))
    assert missing.status_code == 422 and "reason" in missing.get_json()["error"]["details"]["json"]


def test_a_quote_is_what_the_order_is_then_charged(client, keys):
    quote = client.post("/api/v1/quotes", headers=auth(keys[0]), json={
        "service_level": BODY["service_level"], "pickup": BODY["pickup"]["address"],
        "dropoff": BODY["dropoff"]["address"], "parcels": BODY["parcels"], "cod": BODY["cod"]})
    assert quote.status_code == 200, quote.get_json()
    q = quote.get_json()
    assert q["route"] == "linehaul" and q["delivery_hub"] == "SGN-D7" and q["fee"]["currency"] == "VND"
    # Freight by zone and weight, the COD fee (0.8 %, at least 5,000), VAT at 8 % on top.
    lines = {line["code"]: line["amount"]["amount"] for line in q["lines"]}
    assert set(lines) >= {"freight", "cod_fee"} and lines["cod_fee"] == 5_000
    assert q["net"]["amount"] == sum(lines.values())
    assert q["vat"]["rate_percent"] == 8 and q["vat"]["amount"] == round(q["net"]["amount"] * 0.08)
    assert q["fee"]["amount"] == q["net"]["amount"] + q["vat"]["amount"]
    order = post(client, keys[0]).get_json()
    assert order["fee"] == q["fee"] and order["promised_date"] == q["promised_date"]
    # The promise says why, the same at quote and intake: a line-haul to District 7 on the way.
    assert order["promise"] == q["promise"] and q["promise"]["date"] == q["promised_date"]
    assert "line-haul to District 7 Hub" in q["promise"]["reason"] and q["promise"]["revisions"] == 0
    tracked = client.get(f"/api/v1/tracking/{order['tracking_number']}", headers=auth(keys[0])).get_json()
    assert tracked["promise"]["reason"] == q["promise"]["reason"]


def test_an_orders_own_body_is_quoted_as_it_is(client, keys):
    """A checkout quotes the object it then orders: contacts with addresses, a reference, COD."""
    body = dict(BODY, cod={"amount": 250_000, "currency": "VND"})
    quote = client.post("/api/v1/quotes", headers=auth(keys[0]), json=body)
    assert quote.status_code == 200, quote.get_json()
    order = client.post("/api/v1/orders", headers={**auth(keys[0]), "Idempotency-Key": "q-1"}, json=body)
    assert order.status_code == 201, order.get_json()
    assert order.get_json()["fee"] == quote.get_json()["fee"]
    bad = client.post("/api/v1/quotes", headers=auth(keys[0]), json=dict(BODY, dropoff={**BODY["dropoff"], "phone": ""}))
    assert bad.status_code == 422 and "phone" in str(bad.get_json()["error"]["details"])


def test_a_quote_outside_the_network_says_why(client, keys):
    far = dict(BODY["dropoff"]["address"], lat=10.4114, lon=106.9547)
    r = client.post("/api/v1/quotes", headers=auth(keys[0]), json={
        "service_level": "express", "pickup": BODY["pickup"]["address"], "dropoff": far,
        "parcels": BODY["parcels"]})
    assert r.status_code == 422
    assert r.get_json()["error"]["details"][0]["field"] == "dropoff.address"
