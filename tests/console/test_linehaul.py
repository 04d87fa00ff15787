"""The scan station's modes and the bags-and-trips pages, through HTTP."""
import html
import re

from sqlalchemy import select

from app.delivery import planning
from app.delivery.models import RunSheetStop
from app.hubs.models import Bag
from app.orders.models import Shipment
from tests.auth.conftest import sign_in
from tests.factories import ready_at_centre
from tests.hubs.test_bags import at_centre_for_thu_duc


def _token(client, path):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def _result(page: str) -> str:
    return html.unescape(re.search(r'id="scan-result"[^>]*>(.*?)</p>', page, re.S).group(1))


def test_bag_close_dispatch_and_receive_with_a_report(client, users, session, partner):
    with client.application.app_context():
        centre, td, ids = at_centre_for_thu_duc(session, partner, 3)
        numbers = [session.get(Shipment, i).tracking_number for i in ids]
        centre_id, td_id = centre.id, td.id
    sign_in(client, "disp@test.example")
    station = f"/console/hubs/{centre_id}/scan?mode=bag"
    token = _token(client, station)
    for n in numbers[:2]:
        page = client.post(station, data={"number": n, "mode": "bag", "csrf_token": token}).get_data(as_text=True)
        assert "into bag BG" in _result(page) and "for SGN-TD" in _result(page)
    again = client.post(station, data={"number": numbers[0], "mode": "bag", "csrf_token": token}).get_data(as_text=True)
    assert "not bagged: already in bag" in _result(again)
    assert "2 parcels" in client.get(station).get_data(as_text=True)

    session.expire_all()
    bag = session.scalars(select(Bag)).one()
    linehaul = f"/console/hubs/{centre_id}/linehaul"
    assert bag.code in client.get(linehaul).get_data(as_text=True)
    client.post(f"/console/hubs/{centre_id}/bags/{bag.id}/close", data={"csrf_token": token})
    r = client.post(f"/console/hubs/{centre_id}/trips", data={"to": td_id, "csrf_token": token})
    assert r.status_code == 302
    page = client.get(linehaul).get_data(as_text=True)
    assert "left with 1 bag, 2 parcels" in page
    session.expire_all()
    trip_id = session.get(Shipment, ids[0]).linehaul_trip_id

    # At the hub: the operator scans one parcel of the two, then finishes.
    operator = client.application.test_client()
    sign_in(operator, "d7@test.example")
    assert operator.get(f"/console/hubs/{td_id}/trips/{trip_id}").status_code == 404  # not their hub
    trip_page = f"/console/hubs/{td_id}/trips/{trip_id}"
    page = client.get(trip_page).get_data(as_text=True)
    assert numbers[0] in page and numbers[1] in page
    token = _token(client, trip_page)
    page = client.post(trip_page, data={"code": numbers[0], "csrf_token": token}).get_data(as_text=True)
    assert f"{numbers[0]}: received" in _result(page)
    client.post(f"{trip_page}/finish", data={"csrf_token": token})
    page = client.get(trip_page).get_data(as_text=True)
    assert "1 parcel, 1 missing (held), 0 unexpected" in page
    assert re.search(r"missing</span></td><td><a[^>]*>" + numbers[1], page)
    session.expire_all()
    assert session.get(Shipment, ids[1]).status == "on_hold"
    assert session.get(Shipment, ids[0]).status == "at_local_hub"


def test_scan_out_says_whose_van_and_marks_the_stop_loaded(client, users, session, partner, day):
    with client.application.app_context():
        centre, ids = ready_at_centre(session, partner, 2)
        planning.plan_run_sheets(session, centre.id, day)
        session.commit()
        numbers = [session.get(Shipment, i).tracking_number for i in ids]
        centre_id = centre.id
    sign_in(client, "disp@test.example")
    station = f"/console/hubs/{centre_id}/scan?mode=out"
    token = _token(client, station)
    page = client.post(station, data={"number": numbers[0], "mode": "out", "csrf_token": token}).get_data(as_text=True)
    assert re.search(r"onto .+'s van: stop \d of run sheet \d+", _result(page))
    page = client.post(station, data={"number": numbers[0], "mode": "out", "csrf_token": token}).get_data(as_text=True)
    assert "(scanned out before)" in _result(page)
    session.expire_all()
    loaded = {s.shipment_id: s.loaded_at for s in session.scalars(select(RunSheetStop))}
    assert loaded[ids[0]] is not None and loaded[ids[1]] is None
    page = client.post(station, data={"number": "WB00000000000", "mode": "out", "csrf_token": token}).get_data(as_text=True)
    assert "unknown tracking number" in _result(page)


def test_a_shipment_is_rescheduled_from_its_page(client, users, session, partner):
    from datetime import timedelta

    from app import clock

    with client.application.app_context():
        centre, [sid] = ready_at_centre(session, partner, 1)
        session.commit()
    path = f"/console/shipments/{sid}"
    sign_in(client, "disp@test.example")
    page = client.get(path).get_data(as_text=True)
    assert 'id="reschedule-form"' in page
    token = _token(client, path)
    with client.application.app_context():
        day = clock.today() + timedelta(days=3)
    client.post(f"{path}/reschedule", data={"not_before": day.isoformat(), "reason": "", "csrf_token": token})
    assert "Not rescheduled: a reschedule needs a reason" in client.get(path).get_data(as_text=True)
    client.post(f"{path}/reschedule", data={"not_before": day.isoformat(), "reason": "away till then",
                                            "csrf_token": token})
    page = client.get(path).get_data(as_text=True)
    assert f"not before <strong>{day.isoformat()}</strong>" in page
    assert "rescheduled" in page  # in the timeline
    session.expire_all()
    assert session.get(Shipment, sid).not_before == day


def test_a_trip_lists_what_is_still_on_it_and_leaves_when_nothing_is(client, users, session, partner):
    """Parcels of a trip scanned in at the scan station come off it; once all have, the
    trip is no longer among those coming."""
    from app.hubs import services as hubs

    with client.application.app_context():
        centre, td, ids = at_centre_for_thu_duc(session, partner, 2)
        [trip] = hubs.dispatch_linehauls(session, only=ids)  # the schedule's truck
        session.commit()
        trip_id, td_id = trip.id, td.id
        numbers = [session.get(Shipment, i).tracking_number for i in ids]
    sign_in(client, "disp@test.example")
    trip = f"/console/hubs/{td_id}/trips/{trip_id}"
    page = client.get(trip).get_data(as_text=True)
    assert 'id="waiting-count">2<' in page and 'id="scanned-count">0<' in page
    assert f"trips/{trip_id}" in client.get(f"/console/hubs/{td_id}/linehaul").get_data(as_text=True)
    station = f"/console/hubs/{td_id}/scan"
    token = _token(client, station)
    client.post(station, data={"number": numbers[0], "csrf_token": token})
    page = client.get(trip).get_data(as_text=True)
    assert 'id="waiting-count">1<' in page and 'id="scanned-count">1<' in page
    client.post(station, data={"number": numbers[1], "csrf_token": token})
    assert f"trips/{trip_id}" not in client.get(f"/console/hubs/{td_id}/linehaul").get_data(as_text=True)
    assert "Nothing left on this trip" in client.get(trip).get_data(as_text=True)
