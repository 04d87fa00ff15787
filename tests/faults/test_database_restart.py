"""The database goes away and comes back, on a PostgreSQL server of the test's own: while it
is down every request is answered 503 with Retry-After (JSON on the API, a page for
people), never a 500, and nothing is half-stored; once it is back the pool recovers by
itself and the same requests succeed, an order retried with its Idempotency-Key once."""
from __future__ import annotations

import pytest

from app.db import Base, db
from tests.conftest import make_test_app
from tests.pg_instance import PgInstance, binaries

pytestmark = pytest.mark.skipif(binaries() is None, reason="PostgreSQL's initdb and pg_ctl are not installed")


def _order(client, key, idem):
    from tests.api.test_orders import BODY

    return client.post("/api/v1/orders", json=BODY, headers={"Authorization": f"Bearer {key}",
                                                             "Idempotency-Key": idem})


def test_requests_get_503_while_the_database_is_down_and_succeed_once_it_is_back():
    from app import demo
    from app.orders.models import Order

    with PgInstance() as pg:
        app = make_test_app(pg.url)
        with app.app_context():
            Base.metadata.create_all(db.engine)
            key = demo.seed_network(db.session)["partners"][0]["api_key"]
            db.session.commit()
            db.session.remove()
        client = app.test_client()
        auth = {"Authorization": f"Bearer {key}"}
        assert client.get("/api/v1/orders", headers=auth).status_code == 200

        pg.stop("immediate")
        listed = client.get("/api/v1/orders", headers=auth)
        assert listed.status_code == 503 and listed.headers["Retry-After"] == "5"
        assert listed.get_json()["error"]["code"] == "unavailable"
        taken = _order(client, key, "restart-1")
        assert taken.status_code == 503 and taken.headers["Retry-After"] == "5"
        page = client.get("/track/WB00000000000")
        assert page.status_code == 503 and "Back in a moment" in page.get_data(as_text=True)
        assert client.get("/healthz").status_code == 503

        pg.start()
        answers = [client.get("/api/v1/orders", headers=auth).status_code for _ in range(3)]
        assert 500 not in answers and answers[-1] == 200  # at most the first finds a connection the restart cut
        first = _order(client, key, "restart-1")
        again = _order(client, key, "restart-1")
        assert first.status_code == 201 and again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]
        with app.app_context():
            assert db.session.query(Order).count() == 1
            db.session.remove()
            db.engine.dispose()
