"""WAYBILL_REPLICA_URL: the console's lists, dashboard, promise figures and reports read the
replica (which may lag a moment behind); a page about one shipment reads the database."""
from __future__ import annotations

import sqlite3

import pytest

from app import clock
from app.db import db
from app.reports.builder import parse, run
from tests.auth.conftest import sign_in
from tests.factories import create, deliver_direct, order_in


def _copy_database(to) -> None:
    """The replica, as a streaming replica would be: the database as it was a moment ago."""
    with sqlite3.connect(db.engine.url.database) as source, sqlite3.connect(to) as copy:
        source.backup(copy)


def test_lists_and_reports_read_the_replica_and_one_shipment_the_database(app, users, partner, client, backend,
                                                                        tmp_path):
    if backend != "sqlite":
        pytest.skip("the replica here is a copy of the SQLite file")
    with app.app_context():
        first = deliver_direct(db.session, partner, "REPL-1")
        db.session.commit()
        _copy_database(tmp_path / "replica.db")
        later = create(db.session, partner, order_in("REPL-2"))
        db.session.commit()
        numbers, later_id = (first.tracking_number, later.tracking_number), later.id
    app.config["WAYBILL_REPLICA_URL"] = f"sqlite:///{tmp_path / 'replica.db'}"
    sign_in(client, "admin@test.example")

    listed = client.get("/console/shipments").get_data(as_text=True)
    assert numbers[0] in listed and numbers[1] not in listed  # the replica has not caught up
    assert numbers[1] in client.get(f"/console/shipments/{later_id}").get_data(as_text=True)
    exported = client.get("/console/shipments/export.csv").get_data(as_text=True)
    assert numbers[0] in exported and numbers[1] not in exported
    assert client.get("/console/").status_code == 200
    assert client.get("/console/promises").status_code == 200
    with app.app_context():  # (the client's requests run outside the test's context)
        today = clock.today().isoformat()
        spec = parse({"source": "shipments", "measures": ["count"], "start": today, "end": today})
        assert run(spec).rows == [[1]]  # the report reads the replica
        assert run(spec, session=db.session).rows == [[2]]  # given the database's session, the database

    app.config["WAYBILL_REPLICA_URL"] = None  # without a replica, the database
    listed = client.get("/console/shipments").get_data(as_text=True)
    assert numbers[0] in listed and numbers[1] in listed
