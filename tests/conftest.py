"""Fixtures: an app on a real database per test — SQLite always, PostgreSQL too when
TEST_DATABASE_URL is set — with the in-process broker; Redis when REDIS_URL is set.

The clock: ``--clock=WHEN`` (or ``WAYBILL_TEST_CLOCK``) starts every test at WHEN — an ISO
date-time such as ``2028-02-29T23:58+07:00``, or an offset from now such as ``+95d`` — and
lets it run from there, so a test that holds only before some date, or only away from
midnight, fails the day it is written. A test that needs a moment of its own travels there
with time-machine inside that run."""
from __future__ import annotations

import os
import random
import re
import tempfile
from datetime import datetime, timedelta, timezone

import pytest
import time_machine
from sqlalchemy import text

import workers
from app import create_app
from app.db import Base, db, make_engine

def pytest_addoption(parser):
    parser.addoption("--clock", default=os.environ.get("WAYBILL_TEST_CLOCK") or None, metavar="WHEN",
                     help="start every test at WHEN: an ISO date-time with its offset, or +Nd / -Nd from now")


def clock_start(value: str, real_now: datetime) -> datetime:
    """Where ``--clock`` puts the start of each test."""
    offset = re.fullmatch(r"([+-]\d+)d", value.strip())
    if offset:
        return real_now + timedelta(days=int(offset.group(1)))
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        raise pytest.UsageError("--clock: give the offset too, e.g. 2028-02-29T23:58+07:00")
    return moment


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter):
    """Skipped browser tests are said plainly at the end, with the command that enables them."""
    skipped = [r for r in terminalreporter.stats.get("skipped", [])
               if "no Chromium" in str(getattr(r, "longrepr", ""))]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} browser tests were skipped: no Chromium here. "
            "Enable them with: apt-get install chromium (or set CHROMIUM=/path/to/chromium)", yellow=True, bold=True)


def pytest_report_header(config):
    value = config.getoption("--clock")
    return f"clock: every test starts at {clock_start(value, datetime.now(timezone.utc)).isoformat()}" if value else None


@pytest.fixture(autouse=True)
def _moved_clock(request):
    value = request.config.getoption("--clock")
    if not value:
        yield
        return
    with time_machine.travel(clock_start(value, datetime.now(timezone.utc)), tick=True):
        yield


PG_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("REDIS_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])

_pg_ready = False


def _prepare_postgres() -> None:
    """Fresh schema once per run; tables are emptied after each test."""
    global _pg_ready
    if _pg_ready:
        return
    engine = make_engine(PG_URL)
    from app import models  # noqa: F401

    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    Base.metadata.create_all(engine)
    engine.dispose()
    _pg_ready = True


#: Tables whose rows the database refuses to delete (the ledger).
APPEND_ONLY = frozenset({"journal_entries", "journal_lines"})


def _empty_postgres(engine) -> None:
    """Empty the tables a test wrote to, and restart their ids. DELETE, children first,
    of the tables that hold rows: a fifth of what TRUNCATE of every table costs; TRUNCATE
    for the append-only ones, and as the fallback should a cycle of foreign keys refuse
    the order."""
    tables = Base.metadata.sorted_tables
    probe = " UNION ALL ".join(f"SELECT '{t.name}' WHERE EXISTS (SELECT 1 FROM {t.name})" for t in tables)
    with engine.connect() as conn:
        full = {name for (name,) in conn.exec_driver_sql(probe)}
        conn.rollback()
        kept = sorted(full & APPEND_ONLY)  # their triggers refuse DELETE; TRUNCATE fires none
        if kept:
            conn.exec_driver_sql(f"TRUNCATE {', '.join(kept)} RESTART IDENTITY")
            conn.commit()
            full -= APPEND_ONLY
        if full:
            deletes = [f"DELETE FROM {t.name}" for t in reversed(tables) if t.name in full]
            restarts = [f"ALTER SEQUENCE IF EXISTS {t.name}_id_seq RESTART" for t in tables
                        if t.name in full and "id" in t.c]
            try:
                conn.exec_driver_sql("; ".join(deletes + restarts))
                conn.commit()
            except Exception:
                conn.rollback()
                conn.exec_driver_sql(f"TRUNCATE {', '.join(sorted(full))} RESTART IDENTITY CASCADE")
                conn.commit()
    forget_process_caches()


def forget_process_caches() -> None:
    from app.caches import forget_all

    forget_all()


def make_test_app(url: str, **overrides):
    config = {"DATABASE_URL": url, "REDIS_URL": None, "TESTING": True, "MAIL_SERVER": None,
              "SECRET_KEY": "test", "WAYBILL_MAX_DELIVERY_ATTEMPTS": 3,
              "WAYBILL_ROUTE_SECONDS": 0, "WAYBILL_PHOTO_DIR": tempfile.mkdtemp(prefix="waybill-photos-"),
              "WAYBILL_TRACK_RATE_LIMIT": "10000 per minute",
              # Pages in English unless a test asks for Vietnamese (a test client sends no
              # Accept-Language; the product's default is the network's, Vietnamese).
              "WAYBILL_DEFAULT_LANGUAGE": "en",
              # argon2id at its lowest cost: a sign-in costs a millisecond, not a tenth of a
              # second (tests/auth checks that production keeps RFC 9106's profile).
              "WAYBILL_PASSWORD_PROFILE": "CHEAPEST"}
    config.update(overrides)
    app = create_app(config)
    workers.init_app(app)
    return app


@pytest.fixture(params=BACKENDS)
def backend(request):
    if request.param == "postgresql":
        _prepare_postgres()
    return request.param


@pytest.fixture
def database_url(backend, tmp_path):
    return f"sqlite:///{tmp_path / 'waybill.db'}" if backend == "sqlite" else PG_URL


@pytest.fixture
def app(database_url, backend):
    app = make_test_app(database_url)
    forget_process_caches()
    with app.app_context():
        if backend == "sqlite":
            Base.metadata.create_all(db.engine)
        yield app
        db.session.remove()
        if backend == "postgresql":
            _empty_postgres(db.engine)
        db.engine.dispose()


@pytest.fixture
def session(app):
    return db.session


@pytest.fixture
def network(session):
    """The demo network: hubs, rate cards, partners with keys, drivers."""
    from app import demo

    made = demo.seed_network(session)
    session.commit()
    return made


@pytest.fixture
def partner(session, network):
    from app.crm.models import Partner

    return session.get(Partner, network["partners"][0]["id"])


@pytest.fixture
def day():
    """The network's today, read once for the test."""
    from app import clock

    return clock.today()


@pytest.fixture
def rng():
    return random.Random(1234)


@pytest.fixture
def redis_url():
    if not REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture
def postgres_url():
    if not PG_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    _prepare_postgres()
    return PG_URL
