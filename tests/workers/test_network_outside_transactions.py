"""No network call is made inside a database transaction: a mail server or a webhook
receiver that hangs holds no lock, and a commit refused after sending sends nothing again.
On SQLite (one writer at a time) and on PostgreSQL (row locks)."""
from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from app.crm.models import Notification
from app.db import db
from app.hubs import services as hubs
from app.hubs.models import Hub
from app.orders.models import Shipment
from app.outbox import OutboxMessage
from app.webhooks import services as webhooks
from app.webhooks.models import WebhookDelivery
from tests.factories import create, order_in
from tests.smtp import SmtpServer
from workers.jobs import run_outbox_jobs, send_notifications


class HangingServer:
    """Accepts connections and answers nothing until released: a mail server or a
    webhook receiver stuck on the other side of the world."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.port = self.listener.getsockname()[1]
        self.connected = threading.Event()
        self.released = threading.Event()
        self.connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self.released.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(conn)
            self.connected.set()

    def release(self):
        self.released.set()
        for conn in self.connections:
            conn.close()
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        except OSError:
            pass
        self.listener.close()


@pytest.fixture
def hanging():
    server = HangingServer()
    yield server
    server.release()


def in_thread(app, work):
    """Run ``work`` in its own thread with its own session, as a worker would."""
    failures = []

    def run():
        with app.app_context():
            try:
                work()
            except Exception as exc:  # the release ends the hang with an error
                failures.append(exc)
            finally:
                db.session.remove()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def picked_up(session, partner, reference):
    """A new shipment picked up: its customer is owed a message."""
    from app.orders.shipments import transition

    shipment = create(session, partner, order_in(reference))
    transition(session, shipment.id, "pick_up", actor="driver:1")
    session.commit()
    return shipment


def writes_while_blocked(session, partner, shipment, sender, reference):
    """An intake and a scan of the shipment being told about, made while the sender
    hangs on the network. They finish, and the sender is still hanging after them."""
    create(session, partner, order_in(reference))
    hubs.scan_in(session, session.get(Hub, shipment.centre_id), shipment.id, actor="user:1")
    session.commit()
    assert sender.is_alive(), "the writes waited for the network call to end"
    assert session.get(Shipment, shipment.id).status == "at_shipping_centre"
    session.commit()  # on SQLite even a read holds the write lock until its transaction ends


def test_a_hanging_mail_server_blocks_no_writer(app, session, partner, hanging):
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=hanging.port, MAIL_TIMEOUT=60)
    app.extensions.pop("waybill.mailer", None)
    shipment = picked_up(session, partner, "SO-H1")
    rows = session.scalars(select(OutboxMessage.id).where(OutboxMessage.topic == "notify_customer")).all()
    session.commit()

    sender = in_thread(app, lambda: run_outbox_jobs(list(rows)))  # plans, commits, then sends
    assert hanging.connected.wait(10), "the sender never reached the mail server"
    writes_while_blocked(session, partner, shipment, sender, "SO-H2")
    hanging.release()
    sender.join(30)
    # The email that hung failed and waits for its next try; nothing is lost.
    session.expire_all()
    email = session.scalars(select(Notification).where(Notification.channel == "email")).one()
    assert (email.status, email.attempts, email.claimed_until) == ("pending", 1, None)


def test_a_hanging_webhook_receiver_blocks_no_writer(app, session, partner, network, hanging):
    app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
    client = app.test_client()
    auth = {"Authorization": f"Bearer {network['partners'][0]['api_key']}"}
    assert client.post("/api/v1/webhook-endpoints", headers=auth,
                       json={"url": f"http://127.0.0.1:{hanging.port}/hook"}).status_code == 201
    shipment = picked_up(session, partner, "SO-H3")
    ids = session.scalars(select(OutboxMessage.id).where(OutboxMessage.topic == "webhook")).all()
    session.commit()
    run_outbox_jobs(list(ids))
    [batch] = webhooks.claim_due(session)
    session.commit()

    sender = in_thread(app, lambda: webhooks.send_batch(db.session, batch, allow_private=True))
    assert hanging.connected.wait(10), "the sender never reached the receiver"
    writes_while_blocked(session, partner, shipment, sender, "SO-H4")
    hanging.release()
    sender.join(30)
    session.expire_all()
    first = session.get(WebhookDelivery, batch[0])
    assert (first.status, first.attempts) == ("pending", 1)


def test_a_commit_refused_after_sending_sends_nothing_again(app, session, partner):
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        app.extensions.pop("waybill.mailer", None)
        picked_up(session, partner, "SO-H5")
        rows = session.scalars(select(OutboxMessage.id).where(OutboxMessage.topic == "notify_customer")).all()
        session.commit()

        # Once the email is out, the database refuses the next two commits, as it does
        # while it restarts: the one recording the email is refused.
        refusals = iter([True, True])

        def refuse(conn):
            if smtp.messages and next(refusals, False):
                raise OperationalError("COMMIT", {}, Exception("the database system is shutting down"))

        engine = db.engine
        event.listen(engine, "commit", refuse)
        try:
            assert run_outbox_jobs(list(rows)) == 1  # planned, then sent: email and SMS
        finally:
            event.remove(engine, "commit", refuse)
        assert next(refusals, None) is None  # both refusals were spent on the proofs
        assert len(smtp.messages) == 1
        # Recorded once the database came back: a second sender finds nothing to send.
        assert send_notifications() == (0, 0)
        assert len(smtp.messages) == 1
        session.expire_all()
        assert session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.status == "sent")) == 2


def test_a_hanging_geocoder_blocks_no_writer(app, session, partner, network, hanging):
    """The API places an order's addresses before it opens the transaction that takes it."""
    from tests.api.test_orders import BODY

    app.config.update(WAYBILL_GEOCODER="nominatim", NOMINATIM_URL=f"http://127.0.0.1:{hanging.port}")
    shipment = picked_up(session, partner, "SO-H6")  # placed by coordinates: no geocoder call
    body = {**BODY, "reference": "SO-H7",
            "dropoff": {**BODY["dropoff"], "address": {"line1": "12 Nguyen Hue", "district": "District 1",
                                                       "city": "Ho Chi Minh City", "country": "VN"}}}
    answers = []

    def post():
        answers.append(app.test_client().post(
            "/api/v1/orders", json=body, headers={"Authorization": f"Bearer {network['partners'][0]['api_key']}",
                                                  "Idempotency-Key": "hanging-geocoder"}))

    sender = in_thread(app, post)
    assert hanging.connected.wait(10), "the API never asked the geocoder"
    writes_while_blocked(session, partner, shipment, sender, "SO-H8")
    hanging.release()
    sender.join(30)
    # The geocoder failed: the order is refused, with the address named.
    assert answers[0].status_code == 422
    assert "dropoff.address" in str(answers[0].get_json()["error"]["details"])


def test_work_held_for_after_the_commit_runs_once_it_commits_and_never_after_a_rollback(app, session, partner):
    """A request kicks a worker only once its rows are committed (``db.after_commit``)."""
    calls = []
    picked_up(session, partner, "SO-H9")
    session.get(Shipment, 1)
    db.after_commit(lambda: calls.append("rolled back"))
    with session.begin_nested():
        db.after_commit(lambda: calls.append("inner"))
    session.rollback()
    assert calls == []
    session.get(Shipment, 1)
    db.after_commit(lambda: calls.append("committed"))
    with session.begin_nested():  # a savepoint's release is not the commit
        db.after_commit(lambda: calls.append("savepoint"))
    assert calls == []
    session.commit()
    assert calls == ["committed", "savepoint"]
    session.commit()
    assert calls == ["committed", "savepoint"]
