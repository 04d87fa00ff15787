"""Shipment events partitioned by month on PostgreSQL (app/orders/event_partitions.py):
each event in its month's table, months made ahead, a late month taking its rows from
the default partition, whole months dropped by the retention, the lifecycle's guarantees
kept across months, and the migration keeping every row both ways."""
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from app import clock
from app.db import db
from app.orders import event_partitions as ep
from app.orders import shipments
from app.orders.models import ShipmentEvent
from tests import factories


@pytest.fixture
def pg(app, backend):
    if backend != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    return app


def where(session, event_id: int) -> str:
    """The partition an event's row is in."""
    return session.execute(text("SELECT tableoid::regclass::text FROM shipment_events WHERE id = :id"),
                           {"id": event_id}).scalar()


def moment(month: date, day: int = 10) -> datetime:
    return datetime(month.year, month.month, day, 3, tzinfo=timezone.utc)


def test_months_are_named_and_counted_across_years():
    assert ep.add_months(date(2026, 11, 1), 3) == date(2027, 2, 1)
    assert ep.add_months(date(2026, 1, 1), -1) == date(2025, 12, 1)
    assert ep.partition_name(date(2027, 2, 1)) == "shipment_events_2027_02"
    assert ep.is_partition("shipment_events_2027_02") and ep.is_partition("shipment_events_default")
    assert not ep.is_partition("shipment_events") and not ep.is_partition("shipment_events_hub")
    assert ep.retention_cutoff(date(2027, 3, 31), 13) == date(2026, 2, 1)
    with pytest.raises(ValueError, match="at least 13"):
        ep.retention_cutoff(date(2027, 3, 31), 12)


def test_an_event_lands_in_its_month_and_a_month_made_late_takes_its_rows_from_the_default(pg, session, partner):
    this_month = ep.month_start(ep.utc_today())
    shipment = factories.create(session, partner, factories.order_in("SO-PART-1"))
    session.commit()
    first = session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)).one()
    assert where(session, first.id) == ep.partition_name(ep.month_start(first.server_time.date()))
    assert {p.name for p in ep.partitions(session.connection())} >= {
        ep.partition_name(ep.add_months(this_month, n)) for n in range(ep.AHEAD + 1)}

    far = ep.add_months(this_month, 9)  # beyond the months made ahead
    with clock.at(moment(far)):
        late = shipments.transition(session, shipment.id, "schedule_pickup", actor="t").event
        session.commit()
    assert where(session, late.id) == ep.DEFAULT
    session.commit()
    assert ep.prepare(session.connection(), far, since=far, ahead=0) == [ep.partition_name(far)]
    session.commit()
    assert where(session, late.id) == ep.partition_name(far)
    # The history reads the same whatever table each event is in.
    assert [e.seq for e in session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)
                                           .order_by(ShipmentEvent.seq))] == [1, 2]
    assert ep.prepare(session.connection(), far, since=far, ahead=0) == []  # made once


def test_retention_drops_whole_months_before_the_cutoff_and_keeps_everything_after(pg, app, session, partner):
    today = ep.utc_today()
    old = ep.add_months(ep.month_start(today), -15)
    kept_month = ep.add_months(ep.month_start(today), -2)
    with clock.at(moment(old)):
        ancient = factories.create(session, partner, factories.order_in("SO-OLD"))
        session.commit()
    with clock.at(moment(kept_month)):
        recent = factories.create(session, partner, factories.order_in("SO-RECENT"))
        session.commit()
    ep.prepare(session.connection(), today, since=old)
    session.commit()
    old_event = session.scalars(select(ShipmentEvent.id).where(ShipmentEvent.shipment_id == ancient.id)).one()
    assert where(session, old_event) == ep.partition_name(old)

    runner = app.test_cli_runner()
    refused = runner.invoke(args=["events", "prune", "--keep-months", "6", "--yes"])
    assert refused.exit_code != 0 and "at least 13" in refused.output
    listed = runner.invoke(args=["events", "partitions"])
    assert listed.exit_code == 0 and ep.partition_name(old) in listed.output and "shipment_events_default" in listed.output
    db.session.remove()
    pruned = runner.invoke(args=["events", "prune", "--keep-months", "13", "--yes"])
    assert pruned.exit_code == 0, pruned.output
    assert ep.partition_name(old) in pruned.output
    session = db.session
    assert ep.partition_name(old) not in {p.name for p in ep.partitions(session.connection())}
    assert session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == ancient.id)).all() == []
    # The shipment, its order and the newer months are untouched.
    assert session.get(type(ancient), ancient.id) is not None
    assert len(session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == recent.id)).all()) == 1
    again = runner.invoke(args=["events", "prune", "--keep-months", "13", "--yes"])
    assert "nothing to drop" in again.output


def test_the_hourly_job_makes_the_months_ahead_and_applies_the_retention(pg, app, session, partner):
    from workers import actors

    today = ep.utc_today()
    old = ep.add_months(ep.month_start(today), -20)
    with clock.at(moment(old)):
        factories.create(session, partner, factories.order_in("SO-HOURLY"))
        session.commit()
    ep.prepare(session.connection(), today, since=old, ahead=0)
    session.commit()
    app.config["WAYBILL_EVENT_RETENTION_MONTHS"] = 18
    future = ep.add_months(ep.month_start(today), 5)
    with clock.at(moment(ep.add_months(ep.month_start(today), 2))):
        actors.prune.fn()
    names = {p.name for p in ep.partitions(db.session.connection())}
    assert ep.partition_name(future) in names  # three ahead of the month it ran in
    assert ep.partition_name(old) not in names  # 20 months back: past 18
    assert ep.partition_name(ep.add_months(ep.month_start(today), -15)) in names


def test_a_resend_of_a_scan_is_found_in_an_older_month(pg, session, partner):
    shipment = factories.create(session, partner, factories.order_in("SO-RESEND"))
    session.commit()
    month = ep.month_start(ep.utc_today())
    with clock.at(moment(month, 27)):
        first = shipments.transition(session, shipment.id, "schedule_pickup", actor="t", client_event_id="dev-1")
        session.commit()
    with clock.at(moment(ep.add_months(month, 1), 2)):
        again = shipments.transition(session, shipment.id, "schedule_pickup", actor="t", client_event_id="dev-1")
        session.commit()
    assert again.duplicate and again.event.id == first.event.id
    assert len(session.scalars(select(ShipmentEvent).where(ShipmentEvent.client_event_id == "dev-1")).all()) == 1


def test_each_month_refuses_a_second_event_at_the_same_place_in_a_history(pg, session, partner):
    shipment = factories.create(session, partner, factories.order_in("SO-DUP"))
    session.commit()
    row = session.execute(text("SELECT * FROM shipment_events WHERE shipment_id = :s"), {"s": shipment.id}).mappings().one()
    copy = {k: v for k, v in row.items() if k != "id"}
    columns = ", ".join(copy)
    with pytest.raises(IntegrityError):
        session.execute(text(f"INSERT INTO shipment_events ({columns}) VALUES ({', '.join(':' + k for k in copy)})"),
                        copy)
    session.rollback()


def test_on_sqlite_the_commands_say_the_events_stay_in_one_table(app, backend, network):
    if backend != "sqlite":
        pytest.skip("the embedded database")
    runner = app.test_cli_runner()
    for args in (["events", "partitions"], ["events", "prune", "--keep-months", "13", "--yes"]):
        result = runner.invoke(args=args)
        assert result.exit_code != 0 and "PostgreSQL only" in result.output


# -- the migration ------------------------------------------------------------------------------

@pytest.fixture
def at_0031(database_url, backend):
    """A database migrated to the revision before partitioning."""
    if backend != "postgresql":
        pytest.skip("partitions are PostgreSQL's")
    from alembic import command

    from app.cli import alembic_config
    from app.db import schema_change
    from tests.conftest import make_test_app

    app = make_test_app(database_url)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")

        def migrate(revision, down=False):
            db.session.remove()
            cfg = alembic_config()
            with schema_change(db.engine) as connection:
                cfg.attributes["connection"] = connection
                (command.downgrade if down else command.upgrade)(cfg, revision)

        migrate("0031")
        yield app, migrate
        db.session.remove()
        import tests.conftest as c

        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        c._pg_ready = False
        db.engine.dispose()


def test_the_migration_keeps_every_event_both_ways(at_0031):
    from app import demo
    from app.crm.models import Partner

    app, migrate = at_0031
    session = db.session
    assert not ep.is_partitioned(session.connection())
    demo.seed_network(session)
    session.commit()
    partner = session.scalars(select(Partner).order_by(Partner.id)).first()
    month = ep.month_start(ep.utc_today())
    with clock.at(moment(ep.add_months(month, -7))):
        older = factories.deliver_direct(session, partner, "SO-MIG-1")
    newer = factories.deliver_direct(session, partner, "SO-MIG-2")
    before = session.execute(text("SELECT id, shipment_id, seq, server_time FROM shipment_events ORDER BY id")).all()
    attempts = session.execute(text("SELECT count(*) FROM delivery_attempts")).scalar()
    assert attempts == 2 and len(before) > 4
    session.commit()

    migrate("head")
    session = db.session
    assert ep.is_partitioned(session.connection())
    after = session.execute(text("SELECT id, shipment_id, seq, server_time FROM shipment_events ORDER BY id")).all()
    assert after == before
    names = {p.name for p in ep.partitions(session.connection())}
    assert ep.partition_name(ep.add_months(month, -7)) in names and ep.partition_name(ep.add_months(month, 3)) in names
    for shipment in (older, newer):
        first = session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)).first()
        assert where(session, first.id) == ep.partition_name(ep.month_start(first.server_time.date()))
    foreign = {fk["referred_table"] for t in ("notifications", "delivery_attempts", "proofs_of_delivery")
               for fk in inspect(session.connection()).get_foreign_keys(t)}
    assert "shipment_events" not in foreign
    # Ids go on from the same sequence.
    third = factories.create(session, partner, factories.order_in("SO-MIG-3"))
    session.commit()
    added = session.scalars(select(ShipmentEvent.id).where(ShipmentEvent.shipment_id == third.id)).one()
    assert added > before[-1].id
    before = session.execute(text("SELECT id, shipment_id, seq, server_time FROM shipment_events ORDER BY id")).all()
    session.commit()

    migrate("0031", down=True)
    session = db.session
    assert not ep.is_partitioned(session.connection())
    assert session.execute(text("SELECT id, shipment_id, seq, server_time FROM shipment_events ORDER BY id")).all() \
        == before
    foreign = {fk["referred_table"] for t in ("notifications", "delivery_attempts", "proofs_of_delivery")
               for fk in inspect(session.connection()).get_foreign_keys(t)}
    assert "shipment_events" in foreign
