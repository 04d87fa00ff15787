"""The operator commands and /healthz, as an operator runs them."""
import json

import pytest
from sqlalchemy import func, inspect, select

from app.db import Base, db
from tests.conftest import make_test_app


@pytest.fixture
def empty_app(database_url, backend):
    """An app on an empty database (no tables): the commands migrate it themselves."""
    app = make_test_app(database_url)
    with app.app_context():
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        yield app
        db.session.remove()
        if backend == "postgresql":
            import tests.conftest as c

            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            c._pg_ready = False
        db.engine.dispose()


def test_migrations_build_exactly_the_models(empty_app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from app.cli import upgrade_database

    from app.orders import event_partitions

    upgrade_database()
    with db.engine.connect() as conn:
        options = {"compare_type": True, "include_name": event_partitions.include_name}
        diff = compare_metadata(MigrationContext.configure(conn, opts=options), Base.metadata)
    if db.backend == "postgresql":  # shipment events partitioned by month: the known differences, and only them
        named = {(d[0], d[1].name) for d in diff}
        assert named == event_partitions.PARTITIONED_DIFFERENCES, diff
        # ... which autogenerate (migrations/env.py) does not propose to put back.
        with db.engine.connect() as conn:
            options["include_object"] = event_partitions.include_object_on(conn.dialect.name)
            assert compare_metadata(MigrationContext.configure(conn, opts=options), Base.metadata) == []
        with db.engine.connect() as conn:
            assert event_partitions.partitions(conn)
            # Ids of 64 bits, and the sequences that hand them out too (autogenerate does not compare those).
            assert conn.exec_driver_sql("SELECT DISTINCT data_type::regtype::text FROM pg_sequences").scalars().all() \
                == ["bigint"]
    else:
        assert diff == []
    assert "shipments" in inspect(db.engine).get_table_names()


def test_demo_seeds_every_state_then_refuses_to_reseed(empty_app):
    runner = empty_app.test_cli_runner()
    result = runner.invoke(args=["demo", "--orders", "200"])
    assert result.exit_code == 0, result.output
    summary, _ = json.JSONDecoder().raw_decode(result.output[result.output.index("{"):])
    assert len(summary["hubs"]) == 5 and len(summary["partners"]) == 3
    # One login per role, each able to sign in with the password printed.
    from app.auth.services import sign_in

    logins = {entry["role"]: entry for entry in summary["logins"]}
    assert set(logins) == {"admin", "dispatcher", "hub_operator", "finance", "account_manager", "customer_service",
                           "driver", "partner"}
    for entry in logins.values():
        assert sign_in(db.session, entry["email"], entry["password"]).role == entry["role"]
    db.session.rollback()
    states = summary["shipments_by_status"]
    for state in ("created", "pickup_scheduled", "picked_up", "at_shipping_centre", "in_transit",
                  "at_local_hub", "out_for_delivery", "delivery_failed", "on_hold", "cancelled", "closed"):
        assert states.get(state, 0) > 0, state
    # The demo driver has a round today: parcels out for delivery on their run sheet.
    from app.auth.models import User
    from app.delivery.models import RunSheet
    from app.orders.models import Shipment

    driver = db.session.scalars(select(User).where(User.role == "driver")).one()
    out = db.session.scalar(select(func.count()).select_from(Shipment).join(RunSheet, RunSheet.id == Shipment.run_sheet_id)
                            .where(RunSheet.driver_id == driver.driver_id, Shipment.status == "out_for_delivery"))
    assert out > 0
    from app.delivery.models import RunSheetStop

    pickups = db.session.scalar(select(func.count()).select_from(RunSheetStop).join(RunSheet).where(
        RunSheet.driver_id == driver.driver_id, RunSheetStop.kind == "pickup"))
    assert pickups > 0  # and the day's pickups
    from app.crm.pipeline import board

    stages = {stage: n for stage, (n, _) in board(db.session).items()}
    assert [stages[s] for s in ("new", "qualified", "proposal", "negotiation")] == [1, 1, 1, 1]  # the sales team's leads
    again = runner.invoke(args=["demo", "--if-empty"])
    assert again.exit_code == 0 and "already has data" in again.output
    assert runner.invoke(args=["demo"]).exit_code != 0


def test_partner_create_prints_a_key_that_is_stored_hashed(empty_app):
    from app.cli import upgrade_database
    from app.crm.models import ApiKey
    from app.crm.services import hash_api_key

    upgrade_database()
    result = empty_app.test_cli_runner().invoke(args=["partner", "create", "Lotus Mart", "--email", "dev@lotus.example"])
    assert result.exit_code == 0, result.output
    from app.crm.models import Partner

    assert db.session.scalars(select(Partner.contact_email)).one() == "dev@lotus.example"
    out = json.loads(result.output)
    assert out["name"] == "Lotus Mart" and out["api_key"].startswith(out["api_key_prefix"] + "_")
    stored = db.session.scalars(select(ApiKey)).one()
    assert stored.key_hash == hash_api_key(out["api_key"]) and out["api_key"] not in stored.key_hash
    dup = empty_app.test_cli_runner().invoke(args=["partner", "create", "Lotus Mart"])
    assert dup.exit_code != 0 and "already exists" in dup.output
    on = empty_app.test_cli_runner().invoke(args=["partner", "delivery-code", "Lotus Mart", "on"])
    assert on.exit_code == 0 and "Lotus Mart: delivery code on" in on.output
    db.session.expire_all()
    assert db.session.scalars(select(Partner.delivery_code_required)).one() is True


def test_simulate_takes_every_order_to_a_terminal_state(empty_app):
    from app.billing.models import Charge
    from app.orders.models import Shipment

    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["demo", "--orders", "20"]).exit_code == 0
    result = runner.invoke(args=["simulate", "--orders", "60", "--seed", "5", "--existing"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["orders_created"] == 60
    assert summary["outbox_unsent"] == 0
    assert summary["notifications"]["milestones"] == summary["notifications"]["milestones_notified"]
    # --existing also drove the demo's open shipments; only those on hold wait for a person.
    by_status = summary["shipments_by_status"]
    assert set(by_status) <= {"closed", "cancelled", "on_hold"}
    delivered = db.session.scalar(select(func.count()).select_from(Shipment).where(Shipment.outcome == "delivered"))
    fees = db.session.scalar(select(func.count()).select_from(Charge).where(Charge.kind == "delivery_fee"))
    assert delivered == fees > 0


def test_healthz_reports_database_and_broker(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["database"]["ok"] and body["broker"] == {"ok": True, "kind": "in-process"}


def test_healthz_is_503_when_redis_is_unreachable(database_url):
    app = make_test_app(database_url, REDIS_URL="redis://127.0.0.1:1/0")
    with app.app_context():
        response = app.test_client().get("/healthz")
        assert response.status_code == 503
        assert response.get_json()["broker"]["ok"] is False
        db.engine.dispose()


def test_keys_are_issued_listed_and_revoked(app, network, tmp_path):
    from app.crm.services import partner_for_api_key

    runner = app.test_cli_runner()
    name = network["partners"][0]["name"]
    made = runner.invoke(args=["partner", "key-create", name])
    assert made.exit_code == 0, made.output
    key, prefix = json.loads(made.output)["api_key"], json.loads(made.output)["api_key_prefix"]
    assert partner_for_api_key(db.session, key).name == name
    listed = runner.invoke(args=["partner", "keys", name]).output
    assert f"{prefix}  created" in listed and key not in listed
    assert runner.invoke(args=["partner", "key-revoke", prefix]).exit_code == 0
    db.session.expire_all()
    assert partner_for_api_key(db.session, key) is None
    assert f"{prefix}  created" in runner.invoke(args=["partner", "keys", name]).output
    assert "revoked" in runner.invoke(args=["partner", "keys", name]).output
    assert runner.invoke(args=["partner", "key-revoke", "wbk_nothing"]).exit_code != 0
    assert "no partner" in runner.invoke(args=["partner", "keys", "Nobody"]).output


def test_orders_import_takes_a_csv_file_and_reports_refusals(app, network, tmp_path):
    from app.orders.models import Order
    from tests.api.test_bulk import CSV

    path = tmp_path / "orders.csv"
    path.write_text("\ufeff" + CSV, encoding="utf-8")  # as a spreadsheet saves "CSV UTF-8"
    runner = app.test_cli_runner()
    result = runner.invoke(args=["orders", "import", network["partners"][0]["name"], str(path), "--chunk", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "orders: 1 created, 3 refused"
    assert "line 4 (C-2): weight_grams: 'heavy' is not a whole number" in result.output
    assert "line 7 (C-4): cod_currency:" in result.output
    assert db.session.scalars(select(Order.reference)).all() == ["C-1"]
    template = runner.invoke(args=["orders", "template"]).output
    assert template.startswith("reference,service_level,")


def test_user_create_makes_a_login_and_asks_for_the_password_when_left_out(app, network):
    from app.auth.models import User
    from app.auth.services import sign_in

    runner = app.test_cli_runner()
    made = runner.invoke(args=["user", "create", "Boss@Example.com", "--role", "admin", "--password", "long enough pw"])
    assert made.exit_code == 0 and "boss@example.com (admin)" in made.output
    prompted = runner.invoke(args=["user", "create", "hub@example.com", "--role", "hub_operator", "--hub", "SGN-TD"],
                             input="another long pw\nanother long pw\n")
    assert prompted.exit_code == 0, prompted.output
    assert sign_in(db.session, "hub@example.com", "another long pw").hub_id is not None
    short = runner.invoke(args=["user", "create", "x@example.com", "--role", "admin", "--password", "short"])
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    again = runner.invoke(args=["user", "create", "boss@example.com", "--role", "admin", "--password", "long enough pw"])
    assert again.exit_code != 0 and "already has an account" in again.output
    stored = db.session.scalars(select(User).where(User.email == "boss@example.com")).one()
    assert stored.password_hash.startswith("$argon2id$") and "long enough pw" not in stored.password_hash


def test_links_in_messages_lead_to_the_address_served(app, monkeypatch):
    """Customers' links follow the port `serve` listens on, unless a public URL is set."""
    import werkzeug.serving

    from config import from_env

    assert from_env({"PORT": "8123"})["WAYBILL_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert from_env({"PORT": "8123", "WAYBILL_PUBLIC_URL": "https://track.example"})["WAYBILL_PUBLIC_URL"] == (
        "https://track.example")
    seen = []
    monkeypatch.setattr(werkzeug.serving, "run_simple", lambda host, port, wsgi, **kw: seen.append(
        wsgi.config["WAYBILL_PUBLIC_URL"]))
    app.config["WAYBILL_PUBLIC_URL_SET"] = False
    assert app.test_cli_runner().invoke(args=["serve", "--port", "8765"]).exit_code == 0
    assert seen == ["http://127.0.0.1:8765"]
    app.config.update(WAYBILL_PUBLIC_URL_SET=True, WAYBILL_PUBLIC_URL="https://track.example")
    assert app.test_cli_runner().invoke(args=["serve", "--host", "0.0.0.0", "--port", "8766"]).exit_code == 0
    assert seen[-1] == "https://track.example"


def test_an_operator_resets_deactivates_and_signs_out_a_login_from_the_command_line(app, network):
    from app.auth.models import UserSession
    from app.auth.services import SignInRefused, create_user, open_sessions, sign_in, start_session

    user = create_user(db.session, "van@example.com", role="dispatcher", password="first password")
    start_session(db.session, user)
    start_session(db.session, user)
    db.session.commit()
    runner = app.test_cli_runner()
    out = runner.invoke(args=["user", "sign-out", "VAN@example.com"])
    assert out.exit_code == 0 and "2 sessions ended" in out.output and open_sessions(db.session, user.id) == []
    start_session(db.session, user)
    db.session.commit()
    out = runner.invoke(args=["user", "reset-password", "van@example.com"], input="second password\nsecond password\n")
    assert out.exit_code == 0, out.output
    assert open_sessions(db.session, user.id) == []
    assert sign_in(db.session, "van@example.com", "second password").id == user.id
    assert runner.invoke(args=["user", "deactivate", "van@example.com"]).exit_code == 0
    with pytest.raises(SignInRefused):
        sign_in(db.session, "van@example.com", "second password")
    assert runner.invoke(args=["user", "activate", "van@example.com"]).exit_code == 0
    assert sign_in(db.session, "van@example.com", "second password").active
    missing = runner.invoke(args=["user", "deactivate", "nobody@example.com"])
    assert missing.exit_code != 0 and "no login nobody@example.com" in missing.output
    ended = db.session.scalars(select(UserSession.ended_reason).where(UserSession.user_id == user.id)).all()
    assert sorted(ended) == ["password reset", "signed out everywhere", "signed out everywhere"]


def test_driver_create_onboards_a_driver_who_can_sign_in(app, network):
    from app.auth.services import sign_in

    runner = app.test_cli_runner()
    out = runner.invoke(args=["driver", "create", "Pham Van Nam", "--phone", "+84 90 777 8899", "--hub", "SGN-GV",
                              "--email", "nam@example.com", "--capacity", "30", "--days", "123456"],
                        input="nam's own password\nnam's own password\n")
    assert out.exit_code == 0, out.output
    made = json.loads(out.output.strip().splitlines()[-1])
    user = sign_in(db.session, "nam@example.com", "nam's own password")
    assert user.role == "driver" and user.driver_id == made["driver_id"] and made["hub"] == "SGN-GV"
    again = runner.invoke(args=["driver", "create", "Other", "--phone", "+84 90 777 8899", "--hub", "SGN-GV",
                                "--email", "other@example.com", "--password", "long enough pw"])
    assert again.exit_code != 0 and "another driver has the phone" in again.output


def test_simulate_plays_a_past_month_that_invoices_remits_and_closes(empty_app):
    """simulate --month: a month's orders delivered on four of its days, cash counted; the
    month then invoices, remits and closes from the commands."""
    from datetime import timedelta

    from app import clock
    from app.billing import ledger
    from app.billing.models import Charge, CodCollection

    runner = empty_app.test_cli_runner()
    assert runner.invoke(args=["demo", "--orders", "20"]).exit_code == 0
    # Two months back: the demo already played last month.
    month = ledger.period_of((clock.today().replace(day=1) - timedelta(days=1)).replace(day=1) - timedelta(days=1))
    result = runner.invoke(args=["simulate", "--orders", "40", "--seed", "3", "--month", month])
    assert result.exit_code == 0, result.output
    played = db.session.scalars(select(Charge.created_at)).all()
    assert sum(1 for at in played if ledger.period_of(clock.local(at).date()) == month) > 20
    assert runner.invoke(args=["simulate", "--month", ledger.period_of(clock.today())]).exit_code != 0
    invoiced = runner.invoke(args=["billing", "invoice", "--period", month])
    assert invoiced.exit_code == 0 and json.loads(invoiced.output)["invoices"]
    remitted = runner.invoke(args=["billing", "remit"])
    assert remitted.exit_code == 0 and json.loads(remitted.output)["remittances"]
    closed = runner.invoke(args=["billing", "close", "--period", month])
    assert closed.exit_code == 0, closed.output
    assert json.loads(closed.output)["closed"] is True
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CodCollection)
                             .where(CodCollection.remittance_id.is_(None),
                                    CodCollection.collected_at < clock.now() - timedelta(days=3))) == 0
