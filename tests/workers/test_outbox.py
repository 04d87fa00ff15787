"""The outbox relay and the actors: at least once in, exactly once in effect."""
from datetime import timedelta

import pytest
import time_machine
from dramatiq import Worker
from sqlalchemy import func, select

from app.billing.models import Charge, CodCollection
from app.crm.models import Notification
from app.db import db
from app.outbox import OutboxMessage, count_unprocessed
from tests.factories import deliver_direct
from tests.smtp import SmtpServer
from workers.actors import TOPIC_ACTORS
from workers.relay import relay_once

NO_LEASE = timedelta(0)
LEASE = timedelta(minutes=5)


@pytest.fixture
def smtp(app):
    with SmtpServer() as server:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=server.port)
        app.extensions.pop("waybill.mailer", None)
        yield server


def count(session, model, *where):
    return session.scalar(select(func.count()).select_from(model).where(*where))


def run_worker(app, until, timeout=20.0):
    """A real dramatiq worker on the app's broker, and the relay handing it what the work
    itself writes (closing writes a webhook row), until ``until()``."""
    import time

    broker = app.extensions["dramatiq"]
    worker = Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            relay_once(broker, lease=LEASE)
            if until():
                return
            time.sleep(0.05)
        raise AssertionError("workers did not finish in time")
    finally:
        worker.stop()


def outbox_empty():
    n = count_unprocessed(db.session)
    db.session.remove()
    return n == 0


def test_relay_and_actors_notify_charge_and_close(app, session, partner, smtp):
    shipment = deliver_direct(session, partner, "SO-W1", cod=250_000)
    broker = app.extensions["dramatiq"]
    # Six webhooks (one per event); picked up, out for delivery, delivered; fees.
    assert count_unprocessed(session) == 10
    assert relay_once(broker, lease=LEASE) == 10
    session.commit()
    run_worker(app, outbox_empty)

    session.expire_all()
    assert session.get(type(shipment), shipment.id).status == "closed"
    charge = session.scalars(select(Charge).where(Charge.shipment_id == shipment.id)).one()
    assert charge.kind == "delivery_fee" and charge.amount == shipment.quoted_fee_amount
    cod = session.scalars(select(CodCollection).where(CodCollection.shipment_id == shipment.id)).one()
    assert (cod.amount_due, cod.amount_collected, cod.method) == (250_000, 250_000, "cash")
    milestones = sorted(session.scalars(select(Notification.milestone).where(
        Notification.channel == "email")))
    assert milestones == ["delivered", "out_for_delivery", "picked_up"]
    assert count(session, Notification, Notification.channel == "sms") == 3
    # The SMTP server got the three emails, addressed to the customer.
    assert len(smtp.messages) == 3
    assert {m["To"] for m in smtp.messages} == {"lan@example.com"}
    assert any("Please have ₫250,000 ready" in m.get_content() for m in smtp.messages)  # money as English writes it


def test_redelivered_messages_neither_notify_nor_charge_twice(app, session, partner, smtp):
    deliver_direct(session, partner, "SO-W2")
    broker = app.extensions["dramatiq"]
    relay_once(broker, lease=LEASE)
    rows = list(session.scalars(select(OutboxMessage)))
    session.commit()
    run_worker(app, outbox_empty)
    # The broker delivers every message again (a lost ack, a restarted worker...).
    for row in rows:
        broker.enqueue(TOPIC_ACTORS[row.topic].message([row.id]))

    def duplicates_done():
        broker.join("notifications", timeout=10_000)
        broker.join("fees", timeout=10_000)
        return True

    run_worker(app, duplicates_done)
    assert count(session, Charge) == 1
    assert count(session, Notification) == 6
    assert len(smtp.messages) == 3


def test_job_run_twice_directly_is_idempotent_even_without_the_outbox_guard(app, session, partner, smtp):
    from app.billing.fees import collect_fees
    from app.crm.notifications import plan_notifications
    from workers.jobs import send_notifications

    shipment = deliver_direct(session, partner, "SO-W3")
    delivered = (shipment.id, shipment.last_event_seq)
    for _ in range(2):
        assert plan_notifications(session, [delivered], public_url="http://x") == []
        session.commit()
        send_notifications()
        collect_fees(session, [shipment.id])
        session.commit()
    assert len(smtp.messages) == 1
    assert count(session, Notification) == 2  # email and SMS
    assert count(session, Charge) == 1


def test_a_failing_message_neither_blocks_nor_duplicates_the_rest_of_its_batch(app, session, partner, smtp):
    from workers.jobs import run_outbox_jobs, send_notifications

    deliver_direct(session, partner, "SO-W5", email="good@example.com")
    bad = deliver_direct(session, partner, "SO-W6", email="dead@example.com")
    smtp.sink.refuse.add("dead@example.com")
    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify_customer")))
    session.commit()
    assert run_outbox_jobs([r.id for r in rows]) == 6  # one batch, as the relay would send it
    session.expire_all()
    assert count(session, Notification, Notification.status == "sent") == 9  # six SMS, three good emails
    waiting = list(session.scalars(select(Notification).where(Notification.status == "pending")))
    assert {(n.shipment_id, n.channel, n.attempts) for n in waiting} == {(bad.id, "email", 1)}
    assert "550" in waiting[0].last_error
    assert len(smtp.messages) == 3
    # The mailbox comes back; after the wait, only what is missing is sent.
    smtp.sink.refuse.clear()
    assert send_notifications() == (0, 0)  # not yet due
    with time_machine.travel(waiting[0].next_attempt_at + timedelta(seconds=1)):
        assert send_notifications() == (3, 0)
    assert len(smtp.messages) == 6
    assert {m["To"] for m in smtp.messages} == {"good@example.com", "dead@example.com"}
    # Each email carries the Message-ID written before its first try.
    session.expire_all()
    assert ({m["Message-ID"] for m in smtp.messages}
            == set(session.scalars(select(Notification.provider_message_id).where(Notification.channel == "email"))))


def test_a_message_is_given_up_after_its_last_attempt(app, session, partner, smtp):
    from app.crm.notifications import MAX_ATTEMPTS
    from workers.jobs import run_pending, send_notifications

    deliver_direct(session, partner, "SO-W7", email="dead@example.com")
    smtp.sink.refuse.add("dead@example.com")
    session.commit()
    run_pending()
    for _ in range(MAX_ATTEMPTS - 1):
        session.expire_all()
        due = session.scalar(select(func.max(Notification.next_attempt_at)).where(Notification.status == "pending"))
        with time_machine.travel(due + timedelta(seconds=1)):
            assert send_notifications() == (0, 3)
    session.expire_all()
    assert set(session.scalars(select(Notification.status).where(Notification.channel == "email"))) == {"failed"}
    assert count(session, Notification, Notification.attempts == MAX_ATTEMPTS) == 3


def test_relay_resends_after_the_lease_when_the_broker_lost_the_messages(app, session, partner):
    deliver_direct(session, partner, "SO-W4")
    broker = app.extensions["dramatiq"]
    assert relay_once(broker, lease=LEASE) == 10
    broker.flush_all()  # the broker loses everything
    assert relay_once(broker, lease=LEASE) == 0  # within the lease: not yet
    assert relay_once(broker, lease=NO_LEASE) == 10  # past it: handed over again
    session.expire_all()
    assert {r.relay_count for r in session.scalars(select(OutboxMessage))} == {2}
    run_worker(app, outbox_empty)
    assert count(session, Charge) == 1


def test_unknown_topic_is_left_for_an_operator(app, session, partner):
    from app.outbox import add_outbox

    add_outbox(session, "no_such_job", {})
    session.commit()
    assert relay_once(app.extensions["dramatiq"], lease=LEASE) == 1
    session.expire_all()
    assert session.scalars(select(OutboxMessage)).one().relayed_at is None


@pytest.mark.redis
def test_redis_relay_survives_a_flushed_redis_and_duplicates(database_url, backend, redis_url, smtp_port=None):
    """Against the real Redis: messages go through Redis, a flush loses nothing, and
    duplicates change nothing."""
    import redis

    from app.db import Base
    from tests.conftest import _empty_postgres, make_test_app

    app = make_test_app(database_url, REDIS_URL=redis_url)
    with app.app_context(), SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        if backend == "sqlite":
            Base.metadata.create_all(db.engine)
        try:
            from app import demo
            from app.crm.models import Partner

            session = db.session
            demo.seed_network(session)
            session.commit()
            partner = session.scalars(select(Partner)).first()
            deliver_direct(session, partner, "SO-R1", cod=150_000)
            broker = app.extensions["dramatiq"]
            assert type(broker).__name__ == "RedisBroker"
            assert relay_once(broker, lease=LEASE) == 10
            client = redis.Redis.from_url(redis_url)
            assert client.hlen("dramatiq:notifications.msgs") == 1  # three rows, one message
            client.flushdb()  # Redis loses its queues
            assert relay_once(broker, lease=NO_LEASE) == 10
            assert relay_once(broker, lease=NO_LEASE) == 10  # and a duplicate of each
            session.commit()
            run_worker(app, lambda: outbox_empty() and client.hlen("dramatiq:notifications.msgs") == 0)
            session.expire_all()
            assert count(session, Charge) == 1
            assert count(session, CodCollection) == 1
            assert count(session, Notification, Notification.channel == "email") == 3
            assert len(smtp.messages) == 3
        finally:
            db.session.remove()
            if backend == "postgresql":
                _empty_postgres(db.engine)


def test_one_broken_shipment_does_not_hold_back_the_fees_of_its_batch(app, session, partner):
    from app.delivery.models import ProofOfDelivery
    from app.orders.models import Shipment
    from workers.jobs import JobFailed, run_outbox_jobs

    good = deliver_direct(session, partner, "SO-F1", cod=100_000)
    bad = deliver_direct(session, partner, "SO-F2", cod=100_000)
    # Damage one: its proof of delivery (with the cash taken) is gone.
    session.delete(session.scalars(select(ProofOfDelivery).where(ProofOfDelivery.shipment_id == bad.id)).one())
    session.commit()
    rows = [r.id for r in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "collect_fees"))]
    with pytest.raises(JobFailed):
        run_outbox_jobs(rows)
    session.expire_all()
    assert session.get(Shipment, good.id).status == "closed"
    assert session.get(Shipment, bad.id).status == "delivered"
    assert [c.shipment_id for c in session.scalars(select(Charge))] == [good.id]
    assert count(session, OutboxMessage, OutboxMessage.processed_at.is_(None),
                 OutboxMessage.topic == "collect_fees") == 1


@pytest.mark.postgres
def test_relays_side_by_side_claim_disjoint_rows(app, backend, session, partner):
    """On PostgreSQL two relays in open transactions at once never claim the same row."""
    if backend != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite runs one writer at a time")
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from app.outbox import add_outbox, claim_due

    for i in range(10):
        add_outbox(session, "notify_customer", {"shipment_id": 0, "seq": i})
    session.commit()
    first, second = Session(db.engine), Session(db.engine)
    try:
        a = {r.id for r in claim_due(first, lease=LEASE, limit=6)}
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would be the bug
        b = {r.id for r in claim_due(second, lease=LEASE, limit=6)}  # while `first` holds its rows
        assert len(a) == 6 and len(b) == 4 and not a & b
    finally:
        first.rollback()
        second.rollback()
        first.close()
        second.close()


def test_prune_deletes_only_rows_processed_before_the_cutoff(app, session, partner):
    from app import clock
    from app.outbox import add_outbox, prune_processed

    old, recent, pending = (add_outbox(session, "notify_customer", {"n": i}) for i in range(3))
    now = clock.now()
    old.processed_at, recent.processed_at = now - timedelta(days=300), now - timedelta(days=4)
    session.commit()
    assert prune_processed(session, before=now - timedelta(days=23)) == 1
    session.commit()
    assert {r.id for r in session.scalars(select(OutboxMessage))} == {recent.id, pending.id}


def test_the_relay_hands_over_after_its_commit_and_releases_what_the_broker_refused(app, session, partner):
    """The broker is a network service: it is called with no transaction open, and what
    it refuses is due again at once rather than after the lease."""
    broker = app.extensions["dramatiq"]
    deliver_direct(session, partner, "SO-W8")
    session.commit()
    seen_open = []
    real_enqueue = broker.enqueue

    def refusing(message, *, delay=None):
        seen_open.append(db.session().in_transaction())
        raise ConnectionError("the broker is down")

    broker.enqueue = refusing
    try:
        with pytest.raises(ConnectionError):
            relay_once(broker, lease=LEASE)
    finally:
        broker.enqueue = real_enqueue
    assert seen_open == [False]
    session.expire_all()
    assert {(r.relayed_at, r.relay_count) for r in session.scalars(select(OutboxMessage))} == {(None, 0)}
    assert relay_once(broker, lease=LEASE) == 10  # the next turn, not after the lease
    run_worker(app, outbox_empty)
    assert count(session, Charge) == 1


def test_what_a_dead_sender_held_goes_after_two_holds_whatever_it_had_claimed(app, session, partner, smtp):
    from app import clock
    from app.crm import notifications
    from workers.jobs import send_notifications

    app.config.update(MAIL_TIMEOUT=2, SMS_GATEWAY_TIMEOUT=2)  # a hold of 6 s a message
    for i in range(4):
        deliver_direct(session, partner, f"SO-D{i}", email=f"d{i}@example.com")
    keys = [(row.payload["shipment_id"], row.payload["seq"])
            for row in session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "notify_customer"))]
    session.commit()
    # A worker plans and claims the messages, commits, and is killed before sending any.
    now = clock.now()
    planned, _ = notifications.plan_and_claim(session, keys, public_url="http://waybill.test", now=now)
    session.commit()
    assert len(planned) > notifications.HELD_AHEAD * 3
    hold = notifications.hold_per_message()
    assert hold == timedelta(seconds=6)
    assert send_notifications() == (0, 0)  # held
    with time_machine.travel(now + 2 * hold - timedelta(seconds=1)):
        assert send_notifications() == (0, 0)
    with time_machine.travel(now + 2 * hold + timedelta(seconds=1)):  # not one hold per message
        assert send_notifications() == (len(planned), 0)
    assert len({m["Message-ID"] for m in smtp.messages}) == len(smtp.messages) == len(
        [m for m in planned if m.channel == "email"])
