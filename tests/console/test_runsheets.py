"""The run-sheet pages: plan a hub's day, move a stop (htmx and plain), dispatch, print."""
import re

import pypdfium2
from sqlalchemy import select

from app.auth.models import AuditEntry
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.models import RunSheet, RunSheetStop
from app.hubs.models import Hub
from app.orders.models import Shipment
from tests.auth.conftest import sign_in
from tests.factories import ready_at_centre


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def _pdf_text(body: bytes) -> str:
    pdf = pypdfium2.PdfDocument(body)
    return "\n".join(page.get_textpage().get_text_range() for page in pdf)


def _setup(client, session, partner, n=6):
    with client.application.app_context():
        centre, ids = ready_at_centre(session, partner, n)
        for driver in delivery.drivers_of(session, centre.id)[2:]:
            driver.active = False  # two drivers, each with room for 4: two sheets
        for driver in delivery.drivers_of(session, centre.id):
            driver.capacity = 4
        session.commit()
        numbers = {sid: session.get(Shipment, sid).tracking_number for sid in ids}
    return centre.id, ids, numbers


def test_a_dispatcher_plans_moves_dispatches_and_prints(client, users, session, partner, day):
    centre, ids, numbers = _setup(client, session, partner)
    path = f"/console/hubs/{centre}/runsheets?date={day.isoformat()}"
    sign_in(client, "disp@test.example")
    page = client.get(path).get_data(as_text=True)
    assert re.search(r"<strong>6</strong> parcels ready", page)
    token = _csrf(page)
    r = client.post(f"/console/hubs/{centre}/runsheets/plan", data={"date": day.isoformat(), "csrf_token": token})
    assert r.status_code == 302
    page = client.get(path).get_data(as_text=True)
    assert "Planned 6 stops on" in page
    assert all(n in page for n in numbers.values())
    assert re.search(r"<strong>0</strong> parcels ready", page)

    session.expire_all()
    sheets = session.scalars(select(RunSheet).where(RunSheet.hub_id == centre)).all()
    source, target = sorted(sheets, key=lambda s: -len(s.stops))  # 4 and 2 stops, or 3 and 3
    stop = source.stops[0]
    # htmx: the answer is the sheets' fragment, with the stop now on the target sheet.
    r = client.post(f"/console/runsheets/stops/{stop.id}/move", data={"driver": target.driver_id, "csrf_token": token},
                    headers={"HX-Request": "true"})
    fragment = r.get_data(as_text=True)
    assert r.status_code == 200 and fragment.startswith('<div id="sheets">')
    target_html = fragment[fragment.index(f'id="sheet-{target.id}"'):]
    target_html = target_html[:target_html.find('<section class="card run-sheet"', 10) % len(target_html)]
    assert f'id="stop-{stop.id}"' in target_html
    session.expire_all()
    assert session.get(RunSheetStop, stop.id).run_sheet_id == target.id
    # Without htmx the form posts and the page comes back.
    back = client.post(f"/console/runsheets/stops/{stop.id}/move", data={"driver": source.driver_id, "csrf_token": token})
    assert back.status_code == 302
    # A move without a CSRF token is refused.
    assert client.post(f"/console/runsheets/stops/{stop.id}/move", data={"driver": target.driver_id}).status_code == 400

    # The manifest lists the sheet's stops in order, with the driver.
    pdf = client.get(f"/console/runsheets/{source.id}/manifest.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    text = _pdf_text(pdf.data)
    session.expire_all()
    on_source = [numbers[s.shipment_id] for s in session.get(RunSheet, source.id).stops]
    positions = [text.index(n) for n in on_source]
    assert positions == sorted(positions)
    printed = _pdf_text(client.get(f"/console/hubs/{centre}/runsheets/manifest.pdf?date={day.isoformat()}").data)
    assert all(n in printed for n in numbers.values())

    r = client.post(f"/console/runsheets/{source.id}/dispatch", data={"csrf_token": token})
    assert r.status_code == 302
    session.expire_all()
    assert {session.get(Shipment, s.shipment_id).status for s in session.get(RunSheet, source.id).stops} == {
        "out_for_delivery"}
    assert "dispatched:" in client.get(path).get_data(as_text=True)
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"run_sheets.planned", "run_sheets.stop_moved", "run_sheets.dispatched"} <= actions


def test_tomorrows_sheet_is_dispatched_today_only_with_a_reason_which_is_audited(client, users, session, partner,
                                                                                  day):
    from datetime import timedelta

    centre, ids, _ = _setup(client, session, partner, n=2)
    tomorrow = day + timedelta(days=1)
    with client.application.app_context():
        sheet = planning.plan_run_sheets(session, centre, tomorrow)[0]
        session.commit()
        sheet_id, ids = sheet.id, [stop.shipment_id for stop in sheet.stops]
    sign_in(client, "disp@test.example")
    path = f"/console/hubs/{centre}/runsheets?date={tomorrow.isoformat()}"
    page = client.get(path).get_data(as_text=True)
    assert 'name="early_reason"' in page and "Dispatch today" in page
    client.post(f"/console/runsheets/{sheet_id}/dispatch", data={"csrf_token": _csrf(page)})
    page = client.get(path).get_data(as_text=True)
    assert "Not dispatched: this sheet is for" in page and "not today" in page
    session.expire_all()
    assert {session.get(Shipment, i).status for i in ids} == {"at_shipping_centre"}
    client.post(f"/console/runsheets/{sheet_id}/dispatch",
                data={"csrf_token": _csrf(page), "early_reason": "the van is free this afternoon"})
    session.expire_all()
    assert session.get(RunSheet, sheet_id).run_date == day
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "run_sheets.dispatched")).one()
    assert entry.details["early_reason"] == "the van is free this afternoon"
    assert entry.details["planned_for"] == tomorrow.isoformat()


def test_who_may_see_and_plan_run_sheets(client, users, session, partner):
    from app.auth.services import create_user

    centre, _, _ = _setup(client, session, partner, n=2)
    with client.application.app_context():
        d7 = session.scalars(select(Hub).where(Hub.code == "SGN-D7")).one().id
        create_user(session, "money@test.example", role="finance", password="correct horse battery")
        session.commit()
    path = f"/console/hubs/{centre}/runsheets"
    operator = client.application.test_client()
    sign_in(operator, "d7@test.example")  # another hub's operator
    assert operator.get(path).status_code == 404
    assert operator.get(f"/console/hubs/{d7}/runsheets").status_code == 200
    finance = client.application.test_client()
    sign_in(finance, "money@test.example")
    page = finance.get(path).get_data(as_text=True)
    assert 'id="plan"' not in page
    r = finance.post(f"/console/hubs/{centre}/runsheets/plan", data={"csrf_token": _csrf(page)})
    assert r.status_code == 403
    driver = client.application.test_client()
    sign_in(driver, "driver@test.example")
    assert driver.get(path).status_code == 403
    assert client.get(path).status_code == 302  # not signed in: to the login page


def test_the_pickup_plan_by_retailer_window_and_driver(client, users, session, partner, day):
    from app.crm.models import PickupLocation
    from app.delivery import planning
    from app.delivery.models import PickupRun
    from tests.factories import create, order_in

    with client.application.app_context():
        ids = [create(session, partner, order_in(f"PU-{i}")).id for i in range(2)]
        session.commit()
        [run] = delivery.schedule_pickups(session, day, only=ids)
        centre = session.get(Shipment, ids[0]).centre_id
        planning.plan_run_sheets(session, centre, day)
        session.commit()
        run_id, location_id = run.id, run.pickup_location_id
        other = next(d for d in delivery.drivers_of(session, centre) if d.id != run.driver_id)
        other_id, other_name = other.id, other.name
    sign_in(client, "disp@test.example")
    path = f"/console/pickups?date={day.isoformat()}"
    page = client.get(path).get_data(as_text=True)
    row = page[page.index(f'id="pickup-{run_id}"'):]
    assert partner.name in row and "09:00" in row and "17:00" in row
    assert re.search(r'<td class="num">2</td>', row)  # two parcels waiting
    token = _csrf(page)
    client.post(f"/console/pickups/{run_id}/driver", data={"driver": other_id, "csrf_token": token})
    session.expire_all()
    assert session.get(PickupRun, run_id).driver_id == other_id
    stop = session.scalars(select(RunSheetStop).where(RunSheetStop.pickup_run_id == run_id)).one()
    assert session.get(RunSheet, stop.run_sheet_id).driver_id == other_id  # the stop moved with it
    assert f'value="{other_id}" selected>{other_name}' in client.get(path).get_data(as_text=True)

    # Another hub's operator cannot touch this pickup; nobody gives it to another hub's driver.
    with client.application.app_context():
        d7 = session.scalars(select(Hub).where(Hub.code == "SGN-D7")).one()
        d7_driver = delivery.drivers_of(session, d7.id)[0].id
    operator = client.application.test_client()
    sign_in(operator, "d7@test.example")
    r = operator.post(f"/console/pickups/{run_id}/driver",
                      data={"driver": d7_driver, "csrf_token": _csrf(operator.get("/console/pickups").get_data(as_text=True))})
    assert r.status_code == 404
    client.post(f"/console/pickups/{run_id}/driver", data={"driver": d7_driver, "csrf_token": token})
    assert "drives for another hub" in client.get(path).get_data(as_text=True)
    session.expire_all()
    assert session.get(PickupRun, run_id).driver_id == other_id

    client.post(f"/console/pickup-locations/{location_id}/window",
                data={"ready_from": "13:00", "ready_until": "10:00", "csrf_token": token})
    assert "Window not changed: the window must start before it ends" in client.get(path).get_data(as_text=True)
    client.post(f"/console/pickup-locations/{location_id}/window",
                data={"ready_from": "10:30", "ready_until": "15:00", "csrf_token": token, "date": day.isoformat()})
    session.expire_all()
    place = session.get(PickupLocation, location_id)
    assert (place.ready_from.isoformat(), place.ready_until.isoformat()) == ("10:30:00", "15:00:00")


def test_counts_of_one_read_in_the_singular(client, users, session, partner, day):
    centre, _, _ = _setup(client, session, partner, n=1)
    sign_in(client, "disp@test.example")
    path = f"/console/hubs/{centre}/runsheets?date={day.isoformat()}"
    page = client.get(path).get_data(as_text=True)
    assert re.search(r"<strong>1</strong> parcel ready", page)
    client.post(f"/console/hubs/{centre}/runsheets/plan", data={"date": day.isoformat(), "csrf_token": _csrf(page)})
    page = client.get(path).get_data(as_text=True)
    assert "Planned 1 stop on 1 run sheet." in page
    assert re.search(r'<span class="stop-count">1</span> stop of', page)


def test_pickup_counts_agree_with_the_list_and_a_second_pickup_sits_under_the_first(client, users, session,
                                                                                    partner, day):
    """Counted by tracking number (an order of three boxes is one to scan); parcels left
    for later make a second pickup at the same place, shown under the first."""
    from app.delivery.models import PickupRun
    from app.delivery.reads import pickup_parcels, pickup_plan, sheet_views
    from app.orders.intake import ParcelIn
    from tests.factories import create, order_in

    box = ParcelIn(weight_grams=500, length_cm=10, width_cm=10, height_cm=10)
    with client.application.app_context():
        ids = [create(session, partner, order_in("PC-1", parcels=[box] * 3)).id,
               create(session, partner, order_in("PC-2")).id, create(session, partner, order_in("PC-3")).id]
        session.commit()
        [run] = delivery.schedule_pickups(session, day, only=ids)
        centre = session.get(Shipment, ids[0]).centre_id
        [row] = [r for r in pickup_plan(session, day) if r.run_id == run.id]
        assert row.waiting == len(pickup_parcels(session, [run.id])[run.id]) == 3
        sheets = planning.plan_run_sheets(session, centre, day)
        [stop] = [s for v in sheet_views(session, sheets) for s in v.stops if s.kind == "pickup"]
        assert stop.parcels == 3
        delivery.confirm_pickup(session, run, actor="d", shipment_ids=ids[:2])  # the third is not ready
        session.commit()
        runs = session.scalars(select(PickupRun).where(PickupRun.pickup_location_id == run.pickup_location_id)
                               .order_by(PickupRun.id)).all()
        assert len(runs) == 2
    sign_in(client, "disp@test.example")
    page = client.get(f"/console/pickups?date={day.isoformat()}").get_data(as_text=True)
    first = page[page.index(f'id="pickup-{runs[0].id}"'):page.index(f'id="pickup-{runs[1].id}"')]
    second = page[page.index(f'id="pickup-{runs[1].id}"'):]
    assert "picked up 2 parcels" in first and "another pickup at the same place" in second
    assert re.search(r'<td class="num">1</td>', second)


def test_drivers_of_the_same_name_are_told_apart_by_their_phone(client, users, session, partner, day):
    centre, _, _ = _setup(client, session, partner, n=4)
    with client.application.app_context():
        first, second = delivery.drivers_of(session, centre)[:2]
        first.name = second.name = "Nguyen Van An"
        session.commit()
        planning.plan_run_sheets(session, centre, day)
        session.commit()
        tails = {first.phone[-4:], second.phone[-4:]}
    sign_in(client, "disp@test.example")
    page = client.get(f"/console/hubs/{centre}/runsheets?date={day.isoformat()}").get_data(as_text=True)
    options = set(re.findall(r"Nguyen Van An · …(\d{4})", page))
    assert options == tails and len(tails) == 2
