"""The public tracking page: where the parcel is, for anyone with the number, and nothing
personal beyond a first name and a city."""
from tests.factories import deliver_direct


def test_the_page_shows_status_history_and_no_personal_data(app, session, partner):
    shipment = deliver_direct(session, partner, "SO-T1")
    r = app.test_client().get(f"/track/{shipment.tracking_number.lower()}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "<h1>Delivered</h1>" in page and 'name="viewport"' in page
    assert "For Lan in Ho Chi Minh City" in page
    # The phone in any spelling: a tracking number may hold "903" by chance, so the
    # digits are looked for with their neighbours.
    for private in ("Nguyen", "903 123", "903123", "123 456", "12 Nguyen Hue", "lan@example.com", "+84"):
        assert private not in page, private
    # Newest first; the pickup and the hub are there.
    assert page.index("Delivered</span>") < page.index("Out for delivery") < page.index("Picked up from the shop")
    assert r.headers["Cache-Control"] == "private, max-age=60"


def test_unknown_and_malformed_numbers_are_a_friendly_404(app, network):
    client = app.test_client()
    for number in ("WB00000000000", "nonsense"):
        r = client.get(f"/track/{number}")
        assert r.status_code == 404 and "We cannot find" in r.get_data(as_text=True)


def test_the_search_box_goes_to_the_page(app, session, partner):
    shipment = deliver_direct(session, partner, "SO-T2")
    client = app.test_client()
    assert client.get("/track").status_code == 200
    r = client.get("/track", query_string={"number": f" {shipment.tracking_number.lower()} "})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/track/{shipment.tracking_number}")


def test_the_tracking_page_is_limited_per_client(app, network, session, partner):
    """Numbers cannot be tried by the thousand: a client over the limit gets 429 and a
    page that says to wait, with Retry-After."""
    from tests.factories import create, order_in

    app.config["WAYBILL_TRACK_RATE_LIMIT"] = "5 per minute"
    number = create(session, partner, order_in("RL-1")).tracking_number
    session.commit()
    client = app.test_client()
    codes = [client.get(f"/track/{n}").status_code for n in [number] * 3 + ["WB00000000000"] * 2]
    assert codes == [200, 200, 200, 404, 404]
    over = client.get(f"/track/{number}")
    assert over.status_code == 429 and int(over.headers["Retry-After"]) > 0
    assert "Too many requests" in over.get_data(as_text=True)
    other = app.test_client()
    assert other.get(f"/track/{number}", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200
