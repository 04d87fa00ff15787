"""POST /api/v1/orders/{id}/address: the drop-off moves while the parcel can still follow."""

from sqlalchemy import select

from app.crm.models import Partner
from app.hubs.models import Hub
from app.orders.models import Order, Shipment
from app.orders.shipments import history, transition
from tests.api.test_orders import post

THU_DUC = {"line1": "1 Vo Van Ngan", "city": "Ho Chi Minh City", "country": "VN", "lat": 10.8700, "lon": 106.8030}
DISTRICT_7 = {"line1": "99 Nguyen Thi Thap", "district": "District 7", "city": "Ho Chi Minh City", "country": "VN"}
NEAR_CENTRE = {"line1": "5 Cong Hoa", "city": "Ho Chi Minh City", "country": "VN", "lat": 10.7990, "lon": 106.6560}


def change(client, key, order_id, address, reason="customer moved"):
    return client.post(f"/api/v1/orders/{order_id}/address", json={"address": address, "reason": reason},
                       headers={"Authorization": f"Bearer {key}"})


def test_before_pickup_the_address_moves_anywhere_and_is_priced_again(client, keys, session):
    created = post(client, keys[0]).get_json()  # to District 7: a line-haul to SGN-D7
    r = change(client, keys[0], created["id"], NEAR_CENTRE)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["route"] == "direct" and body["fee"]["amount"] != created["fee"]["amount"]
    assert body["promised_date"] == created["promised_date"]
    session.expire_all()
    order = session.get(Order, created["id"])
    assert (order.dropoff_address.lat, order.dropoff_address.lon) == (10.7990, 106.6560)
    shipment = order.shipment
    assert shipment.quoted_fee_amount == body["fee"]["amount"]
    assert session.get(Hub, shipment.delivery_hub_id).code == "SGN-C"
    last = history(session, shipment.id)[-1]
    assert (last.type, last.from_status, last.to_status, last.reason) == (
        "address_changed", "created", "created", "customer moved")
    assert last.data["from"]["hub"] == "SGN-D7" and last.data["to"]["hub"] == "SGN-C"
    # The quote for the new address says the same fee.
    quote = client.post("/api/v1/quotes", headers={"Authorization": f"Bearer {keys[0]}"}, json={
        "service_level": "standard", "pickup": {"line1": "45 Le Loi", "city": "Ho Chi Minh City",
                                                "country": "VN", "lat": 10.7735, "lon": 106.7005},
        "dropoff": NEAR_CENTRE, "parcels": [{"weight_grams": 1200, "length_cm": 30, "width_cm": 20,
                                             "height_cm": 10}], "cod": {"amount": 250000, "currency": "VND"}}).get_json()
    assert quote["fee"] == body["fee"]


def _to_local_hub(session, order_id):
    shipment = session.scalars(select(Shipment).where(Shipment.order_id == order_id)).one()
    for action in ("pick_up", "receive_at_centre", "depart_linehaul"):
        transition(session, shipment.id, action, actor="t")
    session.commit()
    return shipment


def test_after_the_centre_only_an_address_of_the_same_hub(client, keys, session):
    created = post(client, keys[0]).get_json()
    shipment = _to_local_hub(session, created["id"])
    refused = change(client, keys[0], created["id"], THU_DUC)
    assert refused.status_code == 409
    assert "SGN-D7" in refused.get_json()["error"]["message"] and "SGN-TD" in refused.get_json()["error"]["message"]
    assert "ask Waybill to reroute it" in refused.get_json()["error"]["message"]  # the partner asks
    # Staff are told what they can do themselves (through the same service).
    from app.orders.changes import ChangeRefused, change_dropoff_address
    from app.orders.intake import AddressIn

    order = session.get(Order, created["id"])
    try:
        change_dropoff_address(session, session.get(Partner, order.partner_id), order, AddressIn(**THU_DUC),
                               actor="user:1", reason="moved")
    except ChangeRefused as exc:
        assert "reroute it to that hub first" in str(exc) and "ask Waybill" not in str(exc)
    else:
        raise AssertionError("the change should have been refused")
    session.rollback()
    assert change(client, keys[0], created["id"], DISTRICT_7).status_code == 200
    transition(session, shipment.id, "receive_at_hub", actor="t")
    transition(session, shipment.id, "dispatch_for_delivery", actor="t")
    session.commit()
    late = change(client, keys[0], created["id"], DISTRICT_7)
    assert late.status_code == 409 and "out_for_delivery" in late.get_json()["error"]["message"]
    assert [e.type for e in history(session, shipment.id)].count("address_changed") == 1


def test_an_address_that_cannot_be_served_is_named(client, keys, session):
    created = post(client, keys[0]).get_json()
    r = change(client, keys[0], created["id"], {**THU_DUC, "lat": 10.4114, "lon": 106.9547})
    assert r.status_code == 422 and r.get_json()["error"]["details"][0]["field"] == "address"
    nowhere = change(client, keys[0], created["id"], {"line1": "x", "city": "Atlantis", "country": "VN"})
    assert nowhere.status_code == 422
    assert [e.type for e in history(session, session.get(Order, created["id"]).shipment.id)] == ["created"]


def test_another_partners_order_cannot_be_changed(client, keys, session):
    created = post(client, keys[0]).get_json()
    assert change(client, keys[1], created["id"], NEAR_CENTRE).status_code == 404
    assert change(client, keys[0], 10**9, NEAR_CENTRE).status_code == 404
