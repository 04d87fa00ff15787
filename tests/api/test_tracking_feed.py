"""Tracking answers kept by a web process on the strength of the feed of shipment changes
(app/orders/feed.py): sent without a database read while the feed holds, dropped the
moment another process commits a change, and never trusted across a break in the feed."""
import subprocess
import sys
import textwrap
import time

import pytest
import redis
from sqlalchemy import event

from app.api.network import Bodies
from app.db import db
from app.orders import shipments
from app.orders.feed import FEED, parse, payload_of
from tests.api.test_orders import post
from tests.redis_instance import RedisInstance, binary


def auth(key):
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keys(network):
    return [p["api_key"] for p in network["partners"]]


@pytest.fixture
def feed(redis_url):
    FEED.configure(redis_url)
    yield FEED
    FEED.configure(None)


def wait_until(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


class Statements:
    """The SQL a block sends."""

    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self.seen

    def _note(self, *args):
        self.seen.append(args[2])

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._note)


def test_payloads_read_back_and_keep_the_newest_version():
    assert parse(payload_of({7: 3, 12: 1})) == {7: 3, 12: 1}
    assert parse(b"7:3 7:5 7:4") == {7: 5}


# -- the process's store, on its own ---------------------------------------------------------

def test_an_answer_is_trusted_only_in_its_epoch_and_within_the_bound():
    bodies = Bodies()
    bodies.put("k", 1, 4, b"v4", epoch=2, at=100.0)
    assert bodies.trusted("k", 2, 100.0 + Bodies.TRUSTED_FOR - 1) == (1, 4, b"v4")
    assert bodies.trusted("k", 2, 100.0 + Bodies.TRUSTED_FOR + 1) is None  # past the bound
    assert bodies.trusted("k", 3, 101.0) is None  # the feed broke since it was read
    assert bodies.trusted("k", None, 101.0) is None  # no feed now
    # Read again from the database at the same version: trusted anew, from the new read.
    assert bodies.get("k", 4, epoch=3, at=200.0) == b"v4"
    assert bodies.trusted("k", 3, 201.0) == (1, 4, b"v4")
    assert bodies.get("k", 5, epoch=3, at=200.0) is None  # another version: not this body


def test_a_change_drops_older_answers_and_one_heard_during_a_read_leaves_it_untrusted():
    bodies = Bodies()
    bodies.put(("p", "en"), 1, 4, b"en", epoch=1, at=0.0)
    bodies.put(("p", "vi"), 1, 4, b"vi", epoch=1, at=0.0)
    bodies.put(("q", "en"), 2, 9, b"q", epoch=1, at=0.0)
    bodies.changed({1: 5})
    assert not bodies.holds(("p", "en")) and not bodies.holds(("p", "vi"))
    assert bodies.trusted(("q", "en"), 1, 1.0) == (2, 9, b"q")
    # A reader read version 5 while version 6 was committed and heard: kept, not trusted.
    bodies.changed({1: 6})
    bodies.put(("p", "en"), 1, 5, b"old", epoch=1, at=2.0)
    assert bodies.holds(("p", "en")) and bodies.trusted(("p", "en"), 1, 3.0) is None
    assert bodies.get(("p", "en"), 5, epoch=1, at=3.0) == b"old"  # its own version still serves it
    assert bodies.trusted(("p", "en"), 1, 3.0) is None  # but a newer one was heard: not trusted
    # A message that is older than what is kept drops nothing.
    bodies.put(("p", "en"), 1, 6, b"new", epoch=1, at=4.0)
    bodies.changed({1: 5})
    assert bodies.trusted(("p", "en"), 1, 5.0) == (1, 6, b"new")


def test_the_store_is_bounded_and_forgets_the_least_read():
    bodies = Bodies(size=3)
    for sid in range(1, 5):
        bodies.put(("n", sid), sid, 1, b"x", epoch=1, at=0.0)
    assert not bodies.holds(("n", 1)) and bodies.holds(("n", 4))
    bodies.changed({2: 2})  # the index follows what is kept
    assert not bodies.holds(("n", 2)) and bodies.holds(("n", 3))


# -- the feed between processes --------------------------------------------------------------

def _apply_elsewhere(database_url: str, redis_url: str, number: str, action: str) -> None:
    """Another process (a worker, another web process) applies an event and commits."""
    script = textwrap.dedent(f"""
        from app.db import db
        from app.orders import shipments
        from tests.conftest import make_test_app
        app = make_test_app({database_url!r}, REDIS_URL={redis_url!r})
        with app.app_context():
            sid = shipments.get_by_tracking_number(db.session, {number!r}).id
            shipments.transition(db.session, sid, {action!r}, actor="elsewhere")
            db.session.commit()
    """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


@pytest.mark.redis
def test_a_change_committed_by_another_process_reaches_the_next_read(app, client, keys, feed, database_url,
                                                                     redis_url):
    number = post(client, keys[0]).get_json()["tracking_number"]
    url, headers = f"/api/v1/tracking/{number}", auth(keys[0])
    assert wait_until(lambda: feed.listening() is not None)
    first = client.get(url, headers=headers)
    assert first.status_code == 200
    with Statements(db.engine) as statements:
        again = client.get(url, headers=headers)
        unchanged = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    # Both answered from the process, the database not asked: the feed holds.
    assert statements == []
    assert again.get_data() == first.get_data() and unchanged.status_code == 304

    _apply_elsewhere(database_url, redis_url, number, "schedule_pickup")
    assert wait_until(lambda: [e["type"] for e in client.get(url, headers=headers).get_json()["events"]]
                      == ["created", "pickup_scheduled"], seconds=5)
    moved = client.get(url, headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert moved.status_code == 200 and moved.headers["ETag"] != first.headers["ETag"]


@pytest.mark.redis
def test_what_this_process_commits_it_reads_at_once(app, client, keys, feed, session, monkeypatch):
    number = post(client, keys[0]).get_json()["tracking_number"]
    url, headers = f"/api/v1/tracking/{number}", auth(keys[0])
    assert wait_until(lambda: feed.listening() is not None)
    client.get(url, headers=headers)
    monkeypatch.setattr(feed, "_publisher", None)  # nothing goes through Redis this time
    shipments.transition(session, shipments.get_by_tracking_number(session, number).id, "schedule_pickup",
                         actor="t")
    session.commit()
    # The committing process drops its own answer as it commits, not when Redis says so.
    assert [e["type"] for e in client.get(url, headers=headers).get_json()["events"]] == \
        ["created", "pickup_scheduled"]


@pytest.mark.redis
def test_a_commit_publishes_each_changed_shipment_with_its_new_version(app, client, keys, feed, session,
                                                                        redis_url):
    number = post(client, keys[0]).get_json()["tracking_number"]
    shipment = shipments.get_by_tracking_number(session, number)
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    assert feed.channel.endswith(f":{redis_url.rsplit('/', 1)[1]}")  # this Redis database's own
    listener.subscribe(feed.channel)
    listener.get_message(timeout=1.0)  # the subscription's confirmation
    shipments.transition(session, shipment.id, "schedule_pickup", actor="t")
    session.rollback()  # nothing committed, nothing said
    shipments.transition(session, shipment.id, "schedule_pickup", actor="t")
    session.commit()
    heard = []
    assert wait_until(lambda: heard.append(listener.get_message(timeout=0.1)) or any(heard))
    message = next(m for m in heard if m)
    assert parse(message["data"]) == {shipment.id: session.get(type(shipment), shipment.id).version}
    assert not [m for m in (listener.get_message(timeout=0.3) for _ in range(3)) if m]
    listener.close()


@pytest.mark.skipif(binary() is None, reason="redis-server is not installed")
def test_a_break_in_the_feed_starts_a_new_epoch_and_a_dead_redis_costs_writers_nothing(app, client, keys,
                                                                                       session, caplog):
    with RedisInstance() as server:
        FEED.configure(server.url)
        try:
            number = post(client, keys[0]).get_json()["tracking_number"]
            url, headers = f"/api/v1/tracking/{number}", auth(keys[0])
            assert wait_until(lambda: FEED.listening() is not None)
            before = FEED.listening()
            client.get(url, headers=headers)
            server.client().client_kill_filter(_type="pubsub")  # the subscription breaks
            assert wait_until(lambda: FEED.listening() not in (None, before))
            # What was read in the old epoch is read again (the version: one statement).
            with Statements(db.engine) as statements:
                client.get(url, headers=headers)
            assert len([s for s in statements if "FROM shipments" in s]) == 1

            server.process.kill()
            server.process.wait()
            assert wait_until(lambda: FEED.listening() is None)
            shipment = shipments.get_by_tracking_number(session, number)
            started = time.monotonic()
            for action in ("schedule_pickup", "pick_up"):
                shipments.transition(session, shipment.id, action, actor="t")
                session.commit()  # committed though Redis is gone; said once in the log
            assert time.monotonic() - started < 5
            assert "not published" in caplog.text
            body = client.get(url, headers=headers).get_json()
            assert [e["type"] for e in body["events"]][-1] == "picked_up"
        finally:
            FEED.configure(None)


@pytest.mark.skipif(binary() is None, reason="redis-server is not installed")
def test_healthz_and_metrics_say_whether_the_process_hears_the_feed(app, client, keys):
    app.config["WAYBILL_METRICS_TOKEN"] = "scrape"
    scrape = {"Authorization": "Bearer scrape"}
    assert client.get("/healthz").get_json()["tracking_feed"] == "off"  # no Redis: nothing to hear
    with RedisInstance() as server:
        FEED.configure(server.url)
        try:
            assert client.get("/healthz").get_json()["tracking_feed"] == "idle"  # no tracking read yet
            number = post(client, keys[0]).get_json()["tracking_number"]
            client.get(f"/api/v1/tracking/{number}", headers=auth(keys[0]))
            assert wait_until(lambda: client.get("/healthz").get_json()["tracking_feed"] == "subscribed")
            assert "waybill_tracking_feed_subscribed 1.0" in client.get("/metrics", headers=scrape).get_data(as_text=True)
            server.process.kill()
            server.process.wait()
            assert wait_until(lambda: client.get("/healthz").get_json()["tracking_feed"] == "down")
            assert "waybill_tracking_feed_subscribed 0.0" in client.get("/metrics", headers=scrape).get_data(as_text=True)
        finally:
            FEED.configure(None)
