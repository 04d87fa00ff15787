"""People and fleet from the console: a new driver is onboarded with a login and signs in
on their phone without the demo; an admin manages logins; a hub operator only their hub."""
import re

from sqlalchemy import select

from app.auth.models import AuditEntry, User
from app.delivery.models import Driver
from app.hubs.models import Hub
from tests.auth.conftest import sign_in


def _token(client, path="/console/people"):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_a_new_driver_is_onboarded_and_signs_in_on_their_phone(client, users, session, day):
    sign_in(client, "admin@test.example")
    td = session.scalars(select(Hub).where(Hub.code == "SGN-TD")).one().id
    form = {"name": "Tran Van Binh", "phone": "+84 90 111 2233", "hub": td, "vehicle": "motorbike 59-X1 234.56",
            "capacity": "35", "days": ["1", "2", "3", "4", "5"], "email": "binh@test.example",
            "password": "his own first password", "csrf_token": _token(client)}
    client.post("/console/people/drivers", data={**form, "password": "short"})
    assert "Not created: a password has at least 10 characters" in client.get("/console/people").get_data(as_text=True)
    assert session.scalars(select(Driver).where(Driver.name == "Tran Van Binh")).first() is None  # nothing half-made
    client.post("/console/people/drivers", data=form)
    page = client.get("/console/people").get_data(as_text=True)
    assert "Driver Tran Van Binh created" in page and "binh@test.example" in page
    driver = session.scalars(select(Driver).where(Driver.name == "Tran Van Binh")).one()
    assert (driver.hub_id, driver.capacity, driver.working_days, driver.vehicle) == (
        td, 35, "12345", "motorbike 59-X1 234.56")
    assert driver.works_on(day) == (day.isoweekday() <= 5)
    phone = client.application.test_client()
    r = sign_in(phone, "binh@test.example", "his own first password")
    assert r.headers["Location"] == "/driver/" and phone.get("/driver/").status_code == 200
    # Deactivating the driver ends their login's sessions at once.
    client.post(f"/console/people/drivers/{driver.id}/deactivate", data={"csrf_token": _token(client)})
    assert phone.get("/driver/").status_code == 302
    assert {"driver.created", "driver.deactivated"} <= set(session.scalars(select(AuditEntry.action)))


def test_an_admin_creates_resets_and_deactivates_logins(client, users, session):
    sign_in(client, "admin@test.example")
    client.post("/console/people/users", data={"email": "Finance@Test.Example", "name": "Hoa", "role": "finance",
                                               "password": "a first password", "csrf_token": _token(client)})
    user = session.scalars(select(User).where(User.email == "finance@test.example")).one()
    other = client.application.test_client()
    assert sign_in(other, "finance@test.example", "a first password").status_code == 302
    client.post(f"/console/people/users/{user.id}/reset", data={"password": "a second password",
                                                               "csrf_token": _token(client)})
    assert other.get("/console/").status_code == 302  # signed out by the reset
    assert sign_in(other, "finance@test.example", "a second password").status_code == 302
    client.post(f"/console/people/users/{user.id}/deactivate", data={"csrf_token": _token(client)})
    assert other.get("/console/").status_code == 302
    assert sign_in(other, "finance@test.example", "a second password").status_code == 401
    admin = session.scalars(select(User).where(User.email == "admin@test.example")).one()
    client.post(f"/console/people/users/{admin.id}/deactivate", data={"csrf_token": _token(client)})
    assert "You cannot deactivate yourself" in client.get("/console/people").get_data(as_text=True)


def test_a_hub_operator_manages_only_their_hubs_drivers(client, users, session):
    sign_in(client, "d7@test.example")
    page = client.get("/console/people").get_data(as_text=True)
    assert 'id="logins"' not in page and 'name="hub"' not in page
    d7 = session.scalars(select(Hub).where(Hub.code == "SGN-D7")).one().id
    other_hub = session.scalars(select(Driver).where(Driver.hub_id != d7)).first()
    r = client.post(f"/console/people/drivers/{other_hub.id}/deactivate", data={"csrf_token": _token(client)})
    assert r.status_code == 404
    client.post("/console/people/drivers", data={"name": "Le Thi Hoa", "phone": "+84 90 555 6677", "hub": other_hub.hub_id,
                                                 "capacity": "30", "days": ["1", "2"], "email": "hoa@test.example",
                                                 "password": "a first password", "csrf_token": _token(client)})
    assert session.scalars(select(Driver).where(Driver.name == "Le Thi Hoa")).one().hub_id == d7  # their own hub
    assert client.post("/console/people/users", data={"email": "x@test.example", "role": "admin",
                                                      "password": "a first password",
                                                      "csrf_token": _token(client)}).status_code == 403
