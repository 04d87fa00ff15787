"""POST /api/v1/orders/bulk and /api/v1/orders/csv: per-row results, bad rows apart."""
import copy
import uuid

from sqlalchemy import select

from app.orders.models import Order
from tests.api.test_orders import BODY, orders


def order(reference, **changes):
    body = copy.deepcopy(BODY)
    body["reference"] = reference
    body.update(changes)
    return body


def send(client, key, path, *, idem=None, **kwargs):
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": idem or str(uuid.uuid4())}
    return client.post(f"/api/v1/orders/{path}", headers=headers, **kwargs)


def test_bulk_takes_good_rows_and_names_bad_ones(client, keys, session):
    outside = order("B-3")
    outside["dropoff"] = {**outside["dropoff"], "address": {"line1": "Beach", "city": "Can Gio", "country": "VN",
                                                            "lat": 10.4114, "lon": 106.9547}}
    rows = [order("B-1"), order("B-2", parcels=[{"weight_grams": 0}]), outside, order("B-1"),
            order("B-4", service_level="overnight"), order("B-5", cod=None)]
    r = send(client, keys[0], "bulk", json={"orders": rows})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["created"], body["rejected"]) == (2, 4)
    results = body["results"]
    assert [x["index"] for x in results] == list(range(6))
    assert [x["status"] for x in results] == ["created", "rejected", "rejected", "rejected", "rejected", "created"]
    assert results[1]["error"]["code"] == "validation_failed"
    assert set(results[1]["error"]["details"]["parcels"]["0"]) == {"weight_grams", "length_cm", "width_cm",
                                                                   "height_cm"}
    assert results[2]["error"]["code"] == "order_rejected"
    assert results[2]["error"]["details"][0]["field"] == "dropoff.address"
    assert "already an order" in results[3]["error"]["message"]
    assert "service_level" in results[4]["error"]["details"]
    # The created rows are the orders as GET shows them.
    for x in (results[0], results[5]):
        got = client.get(f"/api/v1/orders/{x['order']['id']}", headers={"Authorization": f"Bearer {keys[0]}"})
        assert got.get_json() == {**x["order"], "charges": []}
    assert sorted(session.scalars(select(Order.reference))) == ["B-1", "B-5"]


def test_bulk_is_idempotent_and_bounded(client, keys, session):
    rows = [order(f"I-{i}") for i in range(3)]
    first = send(client, keys[0], "bulk", idem="batch-1", json={"orders": rows})
    again = send(client, keys[0], "bulk", idem="batch-1", json={"orders": rows})
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == first.get_json()
    assert orders(session) == 3
    too_many = send(client, keys[0], "bulk", json={"orders": [order("X")] * 1001})
    assert too_many.status_code == 422 and "orders" in too_many.get_json()["error"]["details"]["json"]
    not_objects = send(client, keys[0], "bulk", json={"orders": [1, 2]})
    assert not_objects.status_code == 422
    assert orders(session) == 3


CSV = """reference,service_level,pickup_name,pickup_phone,pickup_line1,pickup_city,pickup_country,pickup_lat,pickup_lon,dropoff_name,dropoff_phone,dropoff_line1,dropoff_district,dropoff_city,dropoff_country,weight_grams,length_cm,width_cm,height_cm,cod_amount,cod_currency
C-1,standard,Saigon Books,028 3822 1234,45 Le Loi,Ho Chi Minh City,VN,10.7735,106.7005,Lan Nguyen,0903 123 456,12 Nguyen Hue,District 7,Ho Chi Minh City,VN,1200,30,20,10,250000,VND
C-1,standard,,,,,,,,,,,,,,800,20,20,10,,
C-2,standard,Saigon Books,028 3822 1234,45 Le Loi,Ho Chi Minh City,VN,10.7735,106.7005,Minh Tran,0903 222 333,1 Unknown Road,,Nowhere,VN,heavy,30,20,10,,
C-3,express,Saigon Books,028 3822 1234,45 Le Loi,Ho Chi Minh City,VN,10.7735,106.7005,Minh Tran,0903 222 333,1 Unknown Road,,Nowhere,VN,500,30,20,10,,

C-4,standard,Saigon Books,028 3822 1234,45 Le Loi,Ho Chi Minh City,VN,10.7735,106.7005,Hoa Le,0903 444 555,9 Pasteur,District 3,Ho Chi Minh City,VN,500,30,20,10,1000,XXX
"""


def test_csv_orders_are_taken_row_by_row_with_line_and_column(client, keys, session):
    r = send(client, keys[0], "csv", data=CSV.encode(), content_type="text/csv")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert (body["created"], body["rejected"]) == (1, 3)
    c1, c2, c3, c4 = body["results"]
    assert (c1["line"], c1["reference"], c1["status"]) == (2, "C-1", "created")
    assert c2["errors"] == [{"line": 4, "column": "weight_grams", "message": "'heavy' is not a whole number"}]
    assert c3["errors"][0]["line"] == 5 and c3["errors"][0]["column"] is None
    assert "cannot place" in c3["errors"][0]["message"]
    assert c4["line"] == 7 and c4["errors"][0]["column"] == "cod_currency"
    # Two rows with the same reference are one order of two parcels.
    [only] = session.scalars(select(Order)).all()
    assert only.reference == "C-1" and [p.weight_grams for p in only.parcels] == [1200, 800]
    assert only.cod_amount == 250_000


def test_a_csv_with_a_wrong_header_is_refused_whole(client, keys, session):
    bad = CSV.replace("weight_grams,", "weight,", 1)
    r = send(client, keys[0], "csv", data=bad.encode(), content_type="text/csv")
    assert r.status_code == 422
    message = r.get_json()["error"]["message"]
    assert "unknown columns weight" in message and "missing columns weight_grams" in message
    assert send(client, keys[0], "csv", data=CSV.encode(), content_type="application/json").status_code == 415
    assert send(client, keys[0], "csv", data=b"\xff\xfe", content_type="text/csv").status_code == 422
    assert orders(session) == 0


def test_the_csv_template_is_itself_a_valid_file(client, keys, session):
    auth = {"Authorization": f"Bearer {keys[0]}"}
    template = client.get("/api/v1/orders/csv", headers=auth)
    assert template.status_code == 200 and template.mimetype == "text/csv"
    r = send(client, keys[0], "csv", data=template.data, content_type="text/csv")
    assert r.get_json()["created"] == 1, r.get_json()
    assert orders(session) == 1


def test_odd_line_ends_and_a_bare_carriage_return_are_not_server_errors(client, keys, session):
    windows = CSV.replace("\n", "\r\n")
    r = send(client, keys[0], "csv", data=windows.encode(), content_type="text/csv")
    assert r.status_code == 200 and r.get_json()["created"] == 1
    assert send(client, keys[0], "csv", data=b"\r0", content_type="text/csv").status_code == 422
