"""SMS through a real HTTP gateway interface, tested against a loopback server that plays
the gateway: the message and its reference arrive with the token; a retry with the same
reference is taken once; a refused number is given up at once, an outage retried."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.crm.messaging import HttpSmsGateway, SmsRefused, make_sms_gateway


class Gateway:
    """Plays an SMS gateway: keeps each message once by its reference (a repeat answers
    409 with the first id), refuses numbers it is told are bad, fails when told to."""

    def __init__(self):
        self.messages: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.bad_numbers: set[str] = set()
        self.outages = 0
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                gateway.requests.append({"auth": self.headers.get("Authorization"), **body})
                if gateway.outages:
                    gateway.outages -= 1
                    return self._answer(503, {"error": "try later"})
                if self.headers.get("Authorization") != "Bearer s3cret":
                    return self._answer(401, {"error": "bad token"})
                if body["to"] in gateway.bad_numbers:
                    return self._answer(400, {"error": "not a mobile number"})
                ref = body["reference"]
                if ref in gateway.messages:
                    return self._answer(409, {"id": gateway.messages[ref]["id"], "error": "duplicate reference"})
                gateway.messages[ref] = {"id": f"gw-{len(gateway.messages) + 1}", **body}
                return self._answer(202, {"id": gateway.messages[ref]["id"]})

            def _answer(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/sms"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    made = Gateway()
    yield made
    made.close()


def test_a_message_reaches_the_gateway_once_however_often_it_is_sent(gateway):
    sms = make_sms_gateway({"SMS_GATEWAY": "http", "SMS_GATEWAY_URL": gateway.url, "SMS_GATEWAY_TOKEN": "s3cret",
                            "SMS_SENDER": "WAYBILL"})
    assert isinstance(sms, HttpSmsGateway)
    first = sms.send("+84903123456", "Kiện hàng WB1 đang được giao", reference="ref-1")
    again = sms.send("+84903123456", "Kiện hàng WB1 đang được giao", reference="ref-1")  # a retry after a crash
    assert first == again == "gw-1" and len(gateway.messages) == 1
    taken = gateway.messages["ref-1"]
    assert (taken["to"], taken["from"], taken["text"]) == ("+84903123456", "WAYBILL", "Kiện hàng WB1 đang được giao")
    assert gateway.requests[0]["auth"] == "Bearer s3cret"


def test_a_bad_number_is_refused_for_good_and_an_outage_is_retried(gateway):
    sms = HttpSmsGateway(gateway.url, token="s3cret", sender="WAYBILL")
    gateway.bad_numbers.add("+84900000000")
    with pytest.raises(SmsRefused, match="not a mobile number"):
        sms.send("+84900000000", "hi", reference="ref-2")
    gateway.outages = 1
    with pytest.raises(ConnectionError, match="503"):
        sms.send("+84903123456", "hi", reference="ref-3")
    assert sms.send("+84903123456", "hi", reference="ref-3") == "gw-1"
    with pytest.raises(ConnectionError, match="401"):  # fix the token and it goes
        HttpSmsGateway(gateway.url, token="wrong", sender="W").send("+84903123456", "hi", reference="ref-4")
    with pytest.raises(ValueError, match="SMS_GATEWAY_URL"):
        make_sms_gateway({"SMS_GATEWAY": "http"})


def test_a_refused_sms_is_given_up_at_once_and_a_failed_one_waits_to_be_tried_again(app, session, partner, gateway):
    from sqlalchemy import select

    from app.crm.models import Notification
    from app.crm.notifications import plan_notifications
    from app.orders.shipments import transition
    from tests.factories import create, order_in
    from workers.jobs import send_notifications

    app.config.update(SMS_GATEWAY="http", SMS_GATEWAY_URL=gateway.url, SMS_GATEWAY_TOKEN="s3cret")
    app.extensions.pop("waybill.mailer", None)  # the carriers are made from the config again
    bad, good = order_in("SMS-1", email=None), order_in("SMS-2", email=None)
    bad.dropoff.phone, good.dropoff.phone = "0900 000 000", "0903 123 456"
    gateway.bad_numbers.add("+84900000000")
    keys = []
    for order in (bad, good):
        shipment = create(session, partner, order)
        transition(session, shipment.id, "pick_up", actor="t")
        keys.append((shipment.id, shipment.last_event_seq))
    plan_notifications(session, keys, public_url="http://w")
    session.commit()
    assert send_notifications() == (1, 1)
    rows = {r.recipient: r for r in session.scalars(select(Notification))}
    assert (rows["+84900000000"].status, rows["+84900000000"].attempts) == ("failed", 1)
    assert rows["+84903123456"].status == "sent" and rows["+84903123456"].provider == "http-sms"
    assert [m["to"] for m in gateway.messages.values()] == ["+84903123456"]
