"""The run-sheet pages: plan a hub's day, move a stop (htmx and plain), dispatch, print."""
import re

import pypdfium2
from sqlalchemy import select

from app.auth.models import AuditEntry
from app.delivery import services as delivery
from app.delivery.models import RunSheet, RunSheetStop
from app.hubs.models import Hub
from app.orders.models import Shipment
from tests.auth.conftest import sign_in
from tests.factories import DAY, ready_at_centre


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


def test_a_dispatcher_plans_moves_dispatches_and_prints(client, users, session, partner):
    centre, ids, numbers = _setup(client, session, partner)
    path = f"/console/hubs/{centre}/runsheets?date={DAY.isoformat()}"
    sign_in(client, "disp@test.example")
    page = client.get(path).get_data(as_text=True)
    assert re.search(r"<strong>6</strong> parcels ready", page)
    token = _csrf(page)
    r = client.post(f"/console/hubs/{centre}/runsheets/plan", data={"date": DAY.isoformat(), "csrf_token": token})
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
    day = _pdf_text(client.get(f"/console/hubs/{centre}/runsheets/manifest.pdf?date={DAY.isoformat()}").data)
    assert all(n in day for n in numbers.values())

    r = client.post(f"/console/runsheets/{source.id}/dispatch", data={"csrf_token": token})
    assert r.status_code == 302
    session.expire_all()
    assert {session.get(Shipment, s.shipment_id).status for s in session.get(RunSheet, source.id).stops} == {
        "out_for_delivery"}
    assert "dispatched:" in client.get(path).get_data(as_text=True)
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"run_sheets.planned", "run_sheets.stop_moved", "run_sheets.dispatched"} <= actions


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
