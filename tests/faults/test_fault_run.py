"""A run of the production stack with faults injected, checked against what should have
happened: API orders and a simulation on PostgreSQL + Redis of the test's own, a webhook
receiver failing one first attempt in five, while the database restarts, a worker process,
the relay and a web process are killed with ``kill -9``, Redis is flushed, and a worker is
killed in the middle of an e-mail.

Afterwards: every order once, every shipment terminal, one fee per delivered or returned
shipment and one ledger entry per fee (balanced), every customer message sent and every
webhook event delivered and verifiable, no outbox row left; the only messages that arrive
twice are some of those the killed workers held at the moment they were killed."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import create_engine, text
from standardwebhooks.webhooks import Webhook

from tests.faults.conftest import needs_servers, start_stack
from tests.faults.stack import BIN, ROOT, children_of, wait_for
from tests.receiver import Receiver
from tests.smtp import SmtpServer

pytestmark = needs_servers()

API_ORDERS = 240
SIMULATED_ORDERS = 120
DISTRICTS = ("Quận 1", "Quận 3", "Quận 5", "Quận 7", "Quận 10", "Bình Thạnh", "Phú Nhuận", "Tân Bình")


class SlowSmtp(SmtpServer):
    """The SMTP receiver, made slow on demand so that a sender can be caught mid-e-mail."""

    def __init__(self):
        super().__init__()
        self.delay = 0.0
        self.in_data = 0
        sink = self.sink
        received = sink.handle_DATA

        async def handle_data(server, session, envelope):
            self.in_data += 1
            try:
                if self.delay:
                    await asyncio.sleep(self.delay)
                return await received(server, session, envelope)
            finally:
                self.in_data -= 1

        sink.handle_DATA = handle_data


def order_body(rng: random.Random, reference: str) -> dict:
    email = f"customer{rng.randrange(10**6)}@example.com" if rng.random() < 0.6 else None
    return {
        "reference": reference, "service_level": rng.choice(("standard", "standard", "express")),
        "pickup": {"name": "Saigon Books", "phone": "+84 28 3822 1234",
                   "address": {"line1": "45 Le Loi", "city": "Ho Chi Minh City", "country": "VN",
                               "lat": 10.7735, "lon": 106.7005}},
        "dropoff": {"name": "Lan Nguyen", "phone": f"09{rng.randrange(10**8):08d}", "email": email,
                    "address": {"line1": f"{rng.randrange(1, 300)} Nguyen Hue", "district": rng.choice(DISTRICTS),
                                "city": "Ho Chi Minh City", "country": "VN"}},
        "parcels": [{"weight_grams": rng.choice((300, 1200, 2500)), "length_cm": 30, "width_cm": 20, "height_cm": 10}],
        "cod": {"amount": rng.choice((0, 150000, 250000)), "currency": "VND"},
    }


def call(stack, method: str, path: str, key: str, body: dict | None = None, idem: str | None = None):
    """One HTTP request to the stack's web: (status, JSON) — (None, error) when no answer came."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if idem:
        headers["Idempotency-Key"] = idem
    request = urllib.request.Request(f"{stack.url}{path}", method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read()[:300]
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:  # cut mid-answer too
        return None, str(error)


def place_orders(stack, key: str, bodies: list[dict], answers: dict, refusals: list) -> None:
    """Each order until it is taken, again and again with its Idempotency-Key through 503s
    and cut connections: a partner's client done right."""
    for body in bodies:
        idem = f"fault-{body['reference']}"
        for _ in range(200):
            status, answer = call(stack, "POST", "/api/v1/orders", key, body, idem)
            if status in (200, 201):
                answers.setdefault(body["reference"], set()).add(answer["id"])
                break
            if status not in (None, 502, 503, 500):
                refusals.append((body["reference"], status, answer))
                break
            if status == 500:
                refusals.append((body["reference"], status, answer))
            time.sleep(0.25)


def process_connected_to(port: int) -> int | None:
    """The process holding a TCP connection to ``port`` on loopback (read from /proc)."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(f"socket:[{fields[9]}]")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:
            continue
    return None


class Ledger:
    """What the faults were, and what they allow: the messages held by senders when a
    worker was killed (only those may arrive twice)."""

    def __init__(self, engine):
        self.engine = engine
        self.faults: list[str] = []
        self.held_at_kills: set[str] = set()

    def note(self, fault: str) -> None:
        self.faults.append(f"{time.strftime('%H:%M:%S')} {fault}")

    def kill_worker(self, pid: int, why: str) -> None:
        with self.engine.connect() as conn:
            held = conn.execute(text(  # claimed, and the claim not yet run out
                "SELECT provider_message_id FROM notifications "
                "WHERE status = 'pending' AND claimed_until > (now() AT TIME ZONE 'UTC')")).scalars().all()
        os.kill(pid, signal.SIGKILL)
        self.held_at_kills |= set(held)
        self.note(f"kill -9 worker process {pid} ({why}), {len(held)} messages held")


def restart_database(pg, ledger: Ledger, down: float = 3.0) -> None:
    pg.stop("immediate")
    ledger.note("PostgreSQL stopped (immediate)")
    time.sleep(down)
    pg.start()
    ledger.note("PostgreSQL started")


def signed_event(secret: str, request: dict) -> str:
    """The event id of a webhook request whose signature is the endpoint's (checked here,
    not by ``Webhook.verify``, whose tolerance of five minutes reads this test's clock)."""
    headers = {name.lower(): value for name, value in request["headers"].items()}
    at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), timezone.utc)
    expected = Webhook(secret).sign(headers["webhook-id"], at, request["body"])
    assert any(hmac.compare_digest(expected, given) for given in headers["webhook-signature"].split())
    event = json.loads(request["body"])["id"]
    assert headers["webhook-id"] == event
    return event


def test_a_run_with_faults_loses_nothing_and_sends_each_message_once(servers):
    pg, redis_server = servers
    rng = random.Random(2026)
    failed_once: set[str] = set()

    def first_attempt_fails(body: bytes) -> bool:  # one webhook event in five, at its first attempt
        event = json.loads(body)["id"]
        if int(hashlib.sha1(event.encode()).hexdigest(), 16) % 5 == 0 and event not in failed_once:
            failed_once.add(event)
            return True
        return False

    with SlowSmtp() as smtp, Receiver(default=(200, {})) as sms, Receiver() as hooks:
        hooks.failing = first_attempt_fails
        stack = start_stack(
            servers, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(smtp.port), MAIL_TIMEOUT="3",
            SMS_GATEWAY="http", SMS_GATEWAY_URL=sms.url, SMS_GATEWAY_TIMEOUT="3",
            WAYBILL_ALLOW_PRIVATE_WEBHOOKS="1", OUTBOX_LEASE_SECONDS="10",
            WAYBILL_API_RATE_LIMIT="1000 per second")
        engine = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg://"), pool_pre_ping=True)
        ledger = Ledger(engine)
        try:
            stack.ready()
            ledger.note("stack ready")
            seeded = subprocess.run(
                [str(BIN / "python"), "-c",
                 "import json; from wsgi import app; from app import demo; from app.db import db\n"
                 "with app.app_context():\n"
                 "    made = demo.seed_network(db.session); db.session.commit()\n"
                 "    print(json.dumps([p['api_key'] for p in made['partners']]))"],
                cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300, check=True)
            keys = json.loads(seeded.stdout.strip().splitlines()[-1])
            status, endpoint = call(stack, "POST", "/api/v1/webhook-endpoints", keys[0], {"url": hooks.url})
            assert status == 201, endpoint

            # 1. API orders from four clients, through a database restart and a web process killed.
            bodies = [order_body(rng, f"FAULT-{i:05d}") for i in range(API_ORDERS)]
            answers: dict[str, set[int]] = {}
            refusals: list = []
            clients = [threading.Thread(target=place_orders, args=(stack, keys[i % 2], bodies[i::4], answers, refusals))
                       for i in range(4)]
            for client in clients:
                client.start()
            wait_for(lambda: len(answers) >= API_ORDERS // 3, timeout=120, step=0.1)
            restart_database(pg, ledger)
            wait_for(lambda: len(answers) >= 2 * API_ORDERS // 3, timeout=120, step=0.1)
            web_process = children_of(stack.pid("web"))[0]
            os.kill(web_process, signal.SIGKILL)
            ledger.note(f"kill -9 web process {web_process}")
            for client in clients:
                client.join(timeout=300)
            ledger.note("API orders placed")
            assert not refusals, refusals[:5]
            assert len(answers) == API_ORDERS and all(len(ids) == 1 for ids in answers.values())

            # 2. A simulation drives every shipment to its end (with a relay of its own: two
            # relays), while a worker process, the relay, Redis and the database fail, and a
            # worker is killed in the middle of an e-mail. The mail server takes a second per
            # e-mail from here on, so that the API orders' e-mails are still going out when the
            # database comes back (fast, they could all be gone, and the simulation's later
            # days may owe no e-mail at all: one CI run waited two minutes for one in vain).
            smtp.delay = 1.0
            simulation = subprocess.Popen(
                [str(BIN / "flask"), "--app", "wsgi", "simulate", "--existing", "--orders", str(SIMULATED_ORDERS),
                 "--seed", "7"], cwd=ROOT, env=stack.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(4)
            ledger.kill_worker(children_of(stack.pid("worker:worker-0"))[0], "a worker process")
            time.sleep(3)
            relay = stack.pid("relay:relay-0")
            os.kill(relay, signal.SIGKILL)
            ledger.note(f"kill -9 relay {relay}")
            time.sleep(3)
            redis_server.client().flushall()
            ledger.note("Redis FLUSHALL")
            time.sleep(3)
            restart_database(pg, ledger)
            sending = wait_for(lambda: smtp.in_data and process_connected_to(smtp.port), timeout=120, step=0.05)
            assert sending, "no e-mail was going out after the database restart"
            ledger.kill_worker(sending, "in the middle of an e-mail")
            smtp.delay = 0.0
            out, err = simulation.communicate(timeout=900)
            assert simulation.returncode == 0, (out[-2000:], err[-3000:])
            ledger.note("simulation done")
            summary = json.loads(out[out.index("{"):])
            assert summary["orders_created"] == SIMULATED_ORDERS

            # 3. Everything the workers owe is done, by the stack alone.
            def settled():
                with engine.connect() as conn:
                    left = conn.execute(text(
                        "SELECT (SELECT count(*) FROM outbox WHERE processed_at IS NULL),"
                        " (SELECT count(*) FROM notifications WHERE status = 'pending'),"
                        " (SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded')")).one()
                    return sum(left) == 0

            assert wait_for(settled, timeout=400, step=2), ledger.faults
            ledger.note("settled")

            with engine.connect() as conn:
                def one(sql):
                    return conn.execute(text(sql)).scalar()

                def rows(sql):
                    return conn.execute(text(sql)).all()

                # Every order once.
                assert one("SELECT count(*) FROM orders") == API_ORDERS + SIMULATED_ORDERS
                assert one("SELECT count(*) FROM orders WHERE reference LIKE 'FAULT-%'") == API_ORDERS
                assert one("SELECT count(DISTINCT (partner_id, reference)) FROM orders") == API_ORDERS + SIMULATED_ORDERS
                # Every shipment at its end.
                assert rows("SELECT status, count(*) FROM shipments WHERE status NOT IN ('closed', 'cancelled') "
                            "GROUP BY status") == []
                # One fee per delivered or returned shipment, one ledger entry per fee, each balanced.
                finished = one("SELECT count(*) FROM shipments WHERE outcome IN ('delivered', 'returned')")
                assert finished > 0
                assert one("SELECT count(*) FROM charges WHERE kind IN ('delivery_fee', 'return_fee')") == finished
                assert one("SELECT count(*) FROM (SELECT shipment_id FROM charges WHERE kind IN ('delivery_fee', "
                           "'return_fee') GROUP BY shipment_id HAVING count(*) > 1) twice") == 0
                assert one("SELECT count(*) FROM charges") == one(
                    "SELECT count(*) FROM journal_entries WHERE source_type = 'charge'")
                assert rows("SELECT entry_id, currency FROM journal_lines GROUP BY entry_id, currency "
                            "HAVING sum(amount) <> 0") == []
                # No work left behind.
                assert one("SELECT count(*) FROM outbox WHERE processed_at IS NULL") == 0
                # Every customer message sent; every one arrived; twice only if a killed worker held it.
                assert rows("SELECT status, count(*) FROM notifications WHERE status <> 'sent' GROUP BY status") == []
                sent = dict(rows("SELECT provider_message_id, channel FROM notifications"))
                assert len(sent) > 0
                milestones = summary["notifications"]["milestones"]
                webhook_events = rows("SELECT d.message_id, e.secret FROM webhook_deliveries d "
                                      "JOIN webhook_endpoints e ON e.id = d.endpoint_id")
                events_of_partner = one(
                    "SELECT count(*) FROM shipment_events ev JOIN shipments s ON s.id = ev.shipment_id "
                    "JOIN orders o ON o.id = s.order_id JOIN webhook_endpoints e ON e.partner_id = o.partner_id")

            arrived = Counter(m["Message-ID"] for m in smtp.messages)
            arrived.update(json.loads(r["body"])["reference"] for r in sms.requests)
            assert set(sent) <= set(arrived), "messages recorded as sent that never arrived"
            assert set(arrived) <= set(sent)
            twice = {message: n for message, n in arrived.items() if n > 1}
            assert set(twice) <= ledger.held_at_kills, (twice, ledger.faults)
            extra = sum(n - 1 for n in twice.values())
            assert extra <= len(ledger.held_at_kills)
            assert milestones > 0

            # Every webhook event delivered, signed, once per event at least; a failed first
            # attempt was tried again.
            secret = webhook_events[0][1]
            received = Counter(signed_event(secret, r) for r in hooks.requests)
            assert len(webhook_events) == len({m for m, _ in webhook_events}) == events_of_partner
            assert {m for m, _ in webhook_events} <= set(received)
            assert failed_once and all(received[m] >= 2 for m in failed_once)
            print(json.dumps({"faults": ledger.faults, "messages_sent": len(sent), "messages_twice": extra,
                              "held_at_kills": len(ledger.held_at_kills), "webhook_events": len(webhook_events),
                              "webhook_requests": len(hooks.requests), "orders": API_ORDERS + SIMULATED_ORDERS,
                              "shipments_finished": finished}, indent=1))
        except BaseException:
            print(stack.logs())
            raise
        finally:
            stack.stop()
            stack.log.close()
            engine.dispose()
