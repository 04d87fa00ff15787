"""Routing decisions on real coordinates of the demo network (Ho Chi Minh City)."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from app.demo import HUBS
from app.hubs.geocoding import AddressNotPlaced, GazetteerGeocoder, make_geocoder, place_address
from app.hubs.models import HubKind
from app.hubs.routing import HubPoint, NotServiceable, plan_route
from tests.factories import BEN_THANH_MARKET, CAN_GIO_BEACH, PICKUP, TAN_BINH_CENTRE_AREA, THU_DUC_UNIVERSITY


@pytest.fixture
def network():
    (code, name, _, lat, lon, radius), *rest = HUBS
    hubs = [HubPoint(1, code, name, HubKind.SHIPPING_CENTRE, lat, lon, radius, None)]
    for i, (code, name, _, lat, lon, radius) in enumerate(rest, start=2):
        hubs.append(HubPoint(i, code, name, HubKind.LOCAL_HUB, lat, lon, radius, 1))
    return hubs


def test_drop_within_the_centre_radius_is_delivered_direct(network):
    plan = plan_route(network, PICKUP, TAN_BINH_CENTRE_AREA)
    assert plan.kind == "direct" and plan.delivery_hub.code == "SGN-C"
    assert [leg["kind"] for leg in plan.legs] == ["pickup", "delivery"]


def test_drop_far_out_goes_on_a_line_haul_to_its_hub(network):
    plan = plan_route(network, PICKUP, THU_DUC_UNIVERSITY)
    assert plan.kind == "linehaul" and plan.delivery_hub.code == "SGN-TD"
    assert plan.legs[1] == {"kind": "linehaul", "from": "SGN-C", "to": "SGN-TD"}
    # Le Loi to the university: 10.7 km north, 11.2 km east, so about 15.5 km as the crow flies.
    assert 15.3 < plan.distance_km < 15.7


def test_nearest_covering_hub_wins(network):
    # Ben Thanh market is inside both the District 7 (5.0 km) and Go Vap (8.2 km) areas.
    assert plan_route(network, PICKUP, BEN_THANH_MARKET).delivery_hub.code == "SGN-D7"


def test_outside_every_area_is_refused_with_the_nearest_hub_named(network):
    with pytest.raises(NotServiceable, match=r"nearest is District 7 Hub, 4[34]\.\d km away"):
        plan_route(network, PICKUP, CAN_GIO_BEACH)


def test_hub_of_another_centre_is_not_used(network):
    centre2 = HubPoint(9, "HAN-C", "Hanoi Centre", HubKind.SHIPPING_CENTRE, 21.03, 105.85, 5, None)
    orphan = [h if h.code != "SGN-TD" else HubPoint(h.id, h.code, h.name, h.kind, h.lat, h.lon,
                                                      h.radius_km, 9) for h in network] + [centre2]
    with pytest.raises(NotServiceable):
        plan_route(orphan, PICKUP, THU_DUC_UNIVERSITY)


def test_gazetteer_places_districts_with_or_without_accents():
    g = GazetteerGeocoder()
    assert g.geocode("12 Nguyễn Huệ, Quận 1, TP. Hồ Chí Minh").raw["district"] == "District 1"
    assert g.geocode("Go Vap, Saigon").raw["district"] == "Go Vap"
    # "District 12" must not be read as "District 1".
    assert g.geocode({"county": "District 12", "city": "HCMC", "country": "VN"}).raw["district"] == "District 12"


def test_gazetteer_never_guesses():
    g = GazetteerGeocoder()
    assert g.geocode("12 Nguyen Hue, Ho Chi Minh City") is None   # no district
    assert g.geocode("District 1, Hanoi") is None                  # unknown city
    assert g.geocode({"county": "District 1", "city": "HCMC", "country": "TH"}) is None
    with pytest.raises(AddressNotPlaced, match="cannot place"):
        place_address(g, line1="1 Main St", city="Springfield", country="US")


def test_given_coordinates_are_used_and_checked():
    g = GazetteerGeocoder()
    placed = place_address(g, line1="x", city="y", country="VN", lat=10.5, lon=106.5)
    assert (placed.lat, placed.lon, placed.located_by) == (10.5, 106.5, "given")
    with pytest.raises(AddressNotPlaced, match="out of range"):
        place_address(g, line1="x", city="y", country="VN", lat=100, lon=0)
    with pytest.raises(AddressNotPlaced, match="both"):
        place_address(g, line1="x", city="y", country="VN", lat=10.0)


class FakeNominatim(BaseHTTPRequestHandler):
    """A Nominatim stand-in on loopback: the real geopy client talks real HTTP to it."""

    queries: list = []

    def do_GET(self):
        query = parse_qs(urlsplit(self.path).query)
        FakeNominatim.queries.append((urlsplit(self.path).path, query))
        found = "Le Loi" in query.get("street", [""])[0]
        body = json.dumps([{"lat": "10.7735", "lon": "106.7005", "display_name": "45 Le Loi",
                            "place_id": 1}] if found else []).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_nominatim_is_used_when_configured():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeNominatim)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        geocoder = make_geocoder({"WAYBILL_GEOCODER": "nominatim",
                                  "NOMINATIM_URL": f"http://127.0.0.1:{server.server_port}",
                                  "NOMINATIM_USER_AGENT": "waybill-test"})
        placed = place_address(geocoder, line1="45 Le Loi", city="Ho Chi Minh City", country="VN")
        assert (placed.lat, placed.lon, placed.located_by) == (10.7735, 106.7005, "nominatim")
        path, query = FakeNominatim.queries[-1]
        assert path == "/search" and query["city"] == ["Ho Chi Minh City"]
        with pytest.raises(AddressNotPlaced):
            place_address(geocoder, line1="nowhere", city="Ho Chi Minh City", country="VN")
    finally:
        server.shutdown()


def test_km_is_geopys_great_circle():
    import random

    from geopy.distance import great_circle

    from app.hubs.routing import km

    rng = random.Random(7)
    for _ in range(2000):
        a = (rng.uniform(-89, 89), rng.uniform(-180, 180))
        b = (rng.uniform(-89, 89), rng.uniform(-180, 180))
        assert abs(km(a, b) - great_circle(a, b).km) < 1e-6
    assert km((10.7725, 106.6980), (10.7725, 106.6980)) == 0
