"""``simulate`` carries on across a database restart: a step that finds the database gone
is run again once it is back, and every order still reaches its end, once."""
from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import func, select

from app.db import Base, db
from tests.conftest import make_test_app
from tests.pg_instance import PgInstance, binaries

pytestmark = pytest.mark.skipif(binaries() is None, reason="PostgreSQL's initdb and pg_ctl are not installed")


def test_the_simulation_survives_a_database_restart_mid_day():
    from app import demo
    from app.orders.models import Order, Shipment
    from app.simulation import Simulation
    from workers.jobs import run_pending

    with PgInstance() as pg:
        app = make_test_app(pg.url)
        with app.app_context():
            Base.metadata.create_all(db.engine)
            demo.seed_network(db.session)
            db.session.commit()

            class Restarted(Simulation):
                restarts = 0

                def send_out(self):
                    if not Restarted.restarts:  # the database goes down as the vans are loaded
                        Restarted.restarts += 1
                        pg.stop("immediate")
                        threading.Timer(1.0, pg.start).start()
                    super().send_out()

            sim = Restarted(db.session, drain=run_pending, rng=random.Random(4), only=set())
            sim.create_orders(12, prefix="RST", order_factory=demo.random_order)
            sim.run(max_days=10)
            assert Restarted.restarts == 1 and sim.counts["retried"] >= 1
            assert sim.open_count() == 0
            made = db.session.scalar(select(func.count()).select_from(Order))
            ended = db.session.scalar(select(func.count()).select_from(Shipment).where(Shipment.outcome.is_not(None)))
            assert made == 12 - sim.counts["rejected"] and ended == made
            db.session.remove()
            db.engine.dispose()
