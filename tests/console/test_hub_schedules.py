"""A dispatcher sets a hub's schedule and capacity from the Hubs page: the next promise
follows it, the change is audited, and what cannot be kept is refused by name."""
from __future__ import annotations

from datetime import time

from sqlalchemy import select

from app.auth.models import AuditEntry
from app.hubs.models import Hub
from app.orders import promises
from tests.auth.conftest import client, csrf_of, sign_in, users  # noqa: F401 (fixtures)
from tests.factories import PICKUP, TAN_BINH_CENTRE_AREA


def test_a_dispatcher_sets_a_hubs_days_capacity_and_window(client, session, users):  # noqa: F811
    centre_id = session.scalars(select(Hub.id).where(Hub.code == "SGN-C")).one()
    sign_in(client, "disp@test.example")
    page = client.get("/console/hubs").get_data(as_text=True)
    assert f'id="schedule-{centre_id}"' in page
    form = {"csrf_token": csrf_of(page), "days": list("1234567"), "pickup_cutoff": "15:30", "linehaul_departs": "20:00",
            "linehaul_hours": "8", "out_by": "08:30", "daily_capacity": "300", "window_from": "09:00",
            "window_until": "17:00"}
    r = client.post(f"/console/hubs/{centre_id}/schedule", data=form, follow_redirects=True)
    assert "SGN-C: the schedule is saved" in r.get_data(as_text=True)
    session.expire_all()
    hub = session.get(Hub, centre_id)
    assert (hub.working_days, hub.pickup_cutoff, hub.out_by, hub.daily_capacity) == ("1234567", time(15, 30),
                                                                                     time(8, 30), 300)
    assert (hub.window_from, hub.window_until) == (time(9), time(17))
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "hub.schedule_changed")).one()
    assert entry.details["daily_capacity"] == 300 and entry.details["pickup_cutoff"] == "15:30"
    # The next promise follows: a Sunday is a working day now, and the window goes with it.
    from datetime import date, datetime
    from zoneinfo import ZoneInfo

    from app.hubs.routing import load_network, plan_route

    with client.application.app_context():
        plan = plan_route(load_network(session), PICKUP, TAN_BINH_CENTRE_AREA)
        saturday = datetime(2027, 3, 13, 15, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
        found = promises.promise(session, plan, "express", saturday)
    assert found.day == date(2027, 3, 14) and found.window == (time(9), time(17))

    # What cannot be kept is refused, by name, and nothing changes.
    bad = {**form, "days": [], "daily_capacity": "lots"}
    r = client.post(f"/console/hubs/{centre_id}/schedule", data=bad, follow_redirects=True)
    assert "Not saved: capacity: a whole number" in r.get_data(as_text=True)
    r = client.post(f"/console/hubs/{centre_id}/schedule", data={**form, "days": []}, follow_redirects=True)
    assert "Not saved: working days: at least one day of the week" in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Hub, centre_id).working_days == "1234567"
    # A hub operator reads it but cannot change it.
    client.post("/logout", data={"csrf_token": csrf_of(client.get("/console/hubs").get_data(as_text=True))})
    sign_in(client, "d7@test.example")
    token = csrf_of(client.get("/console/hubs").get_data(as_text=True))
    assert client.post(f"/console/hubs/{centre_id}/schedule", data={**form, "csrf_token": token}).status_code == 403
