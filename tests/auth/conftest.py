import re

import pytest

from app.auth.services import create_user
from app.hubs.models import Hub

PASSWORD = "correct horse battery"


@pytest.fixture
def users(session, network):
    from sqlalchemy import select

    from app.delivery.models import Driver

    d7 = session.scalars(select(Hub).where(Hub.code == "SGN-D7")).one()
    driver = session.scalars(select(Driver).where(Driver.hub_id == d7.id)).first()
    made = {
        "admin": create_user(session, "admin@test.example", role="admin", password=PASSWORD),
        "dispatcher": create_user(session, "disp@test.example", role="dispatcher", password=PASSWORD),
        "hub_operator": create_user(session, "d7@test.example", role="hub_operator", password=PASSWORD,
                                    hub_id=d7.id),
        "driver": create_user(session, "driver@test.example", role="driver", password=PASSWORD,
                              driver_id=driver.id),
        "partner": create_user(session, "shop@test.example", role="partner", password=PASSWORD,
                               partner_id=network["partners"][0]["id"]),
    }
    session.commit()
    return made


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
    return found.group(1) or found.group(2)


def sign_in(client, email, password=PASSWORD, **kwargs):
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs)


@pytest.fixture
def client(app):
    """A browser-like client: each request in an app context of its own (as in production),
    not in the test's, so nothing a request keeps in ``g`` (the signed-in user) leaks into
    the next one."""
    from flask.globals import _cv_app

    outer = _cv_app.get()
    outer.pop()
    try:
        yield app.test_client()
    finally:
        outer.push()
