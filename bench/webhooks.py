"""Webhook delivery throughput: one endpoint, answering in 50 ms, on PostgreSQL + Redis with
two dramatiq worker processes (``-p 2 -t 8``) doing the sending.

N deliveries are written straight into ``webhook_deliveries`` (their fan-out is measured by
the lifecycle benchmark), spread over shipments a few events each — a lane a shipment —
then the sweep is kicked every second, as the scheduler does, until none is pending.
Figures: deliveries a second with every answer 200; and with 20 % of first attempts
answered 503, the time until the backlog is drained, beside the first retry's wait (10 s)."""
from __future__ import annotations

import os
import random
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
EVENTS_PER_SHIPMENT = 5


class _Receiver:
    """Answers after ``latency`` seconds; fails a share of the first attempts (503)."""

    def __init__(self, latency: float, fail_share: float):
        self.received = 0
        rng, lock, seen = random.Random(9), threading.Lock(), set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a receiver behind any web server

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(latency)
                message = self.headers.get("webhook-id")
                with lock:
                    receiver.received += 1
                    first = message not in seen
                    seen.add(message)
                    fail = first and rng.random() < fail_share
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _seed(app, endpoint_id: int, n: int) -> None:
    """``n`` pending deliveries to the endpoint, EVENTS_PER_SHIPMENT to a shipment."""
    from app.db import db

    from app.crm.models import Partner, PickupLocation
    from app.orders.models import Address

    shipments = n // EVENTS_PER_SHIPMENT
    with app.app_context():
        partner = db.session.query(Partner).order_by(Partner.id).first()
        if not db.session.query(PickupLocation).filter_by(partner_id=partner.id).count():
            address = Address(line1="1 Le Loi", district="District 1", city="Ho Chi Minh City", country="VN",
                              lat=10.77, lon=106.70, located_by="given")
            db.session.add(address)
            db.session.flush()
            db.session.add(PickupLocation(partner_id=partner.id, name="Bench", phone="+842838221234",
                                          address_id=address.id, address_key="bench-webhooks"))
        db.session.commit()
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO addresses (id, line1, line2, district, city, postal_code, country, lat, lon, located_by)
                SELECT 900000 + i, 'x', '', '', 'HCMC', '', 'VN', 10.8, 106.7, 'given' FROM generate_series(1, :s) i"""),
                {"s": shipments})
            conn.execute(text("""
                INSERT INTO customers (id, phone, name, notify_email, notify_sms, created_at)
                VALUES (900000, '+84900000000', 'Bench', true, true, now())"""))
            conn.execute(text("""
                INSERT INTO orders (id, partner_id, reference, service_level, pickup_location_id, customer_id,
                                    dropoff_address_id, recipient_name, recipient_phone, cod_amount, created_at,
                                    updated_at)
                SELECT 900000 + i, (SELECT min(id) FROM partners), 'WH-' || i, 'standard',
                       (SELECT min(id) FROM pickup_locations WHERE partner_id = (SELECT min(id) FROM partners)), 900000, 900000 + i, 'Bench', '+84900000000', 0,
                       now(), now()
                FROM generate_series(1, :s) i"""), {"s": shipments})
            conn.execute(text("""
                INSERT INTO shipments (id, order_id, partner_id, tracking_number, status, version, failed_attempts,
                                       last_event_seq, centre_id, delivery_hub_id, route, planned_legs, distance_km,
                                       billable_grams, quoted_fee_amount, quoted_fee_currency, promised_date,
                                       created_at, updated_at)
                SELECT 900000 + i, 900000 + i, (SELECT min(id) FROM partners), 'WH' || lpad(i::text, 11, '0'),
                       'created', 1, 0, 1, (SELECT min(id) FROM hubs), (SELECT min(id) FROM hubs), 'direct', '[]', 1,
                       1000, 1, 'VND', current_date, now(), now()
                FROM generate_series(1, :s) i"""), {"s": shipments})
            conn.execute(text("""
                INSERT INTO webhook_deliveries (endpoint_id, message_id, event_type, shipment_id, payload, status,
                                                attempts, next_attempt_at, origin, created_at)
                SELECT :e, 'evt_bench_' || i, 'shipment.picked_up', 900000 + 1 + (i - 1) / :k,
                       CAST(json_build_object('id', 'evt_bench_' || i, 'type', 'shipment.picked_up',
                                              'data', json_build_object('sequence', 1 + (i - 1) % :k)) AS json),
                       'pending', 0, now() AT TIME ZONE 'UTC', 'event', now() AT TIME ZONE 'UTC'
                FROM generate_series(1, :n) i ORDER BY 1 + (i - 1) % :k, i"""),
                {"e": endpoint_id, "n": n, "k": EVENTS_PER_SHIPMENT})


def _pending(app) -> int:
    from app.db import db

    with app.app_context():
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'")).scalar()


def _run(url: str, redis_url: str, make_app, fresh_database, *, n: int, latency: float, fail_share: float,
         timeout: float) -> tuple[float, int]:
    import redis

    from app.crm.models import Partner
    from app.db import db
    from app.webhooks import services as webhooks

    app = make_app(url, redis_url)
    app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
    redis.Redis.from_url(redis_url).flushdb()
    with _Receiver(latency, fail_share) as receiver, app.app_context():
        fresh_database(app)
        partner = db.session.query(Partner).order_by(Partner.id).first()
        endpoint = webhooks.create_endpoint(db.session, partner, url=receiver.url, event_types=[],
                                            allow_private=True)
        db.session.commit()
        endpoint_id = endpoint.id
        db.session.remove()
        _seed(app, endpoint_id, n)
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "WAYBILL_ALLOW_PRIVATE_WEBHOOKS": "1"}
        workers = subprocess.Popen([sys.executable, "-m", "dramatiq", "workers.main", "-p", "2", "-t", "8",
                                    "-Q", "webhooks", "webhook_sends"], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(3)  # the workers start
            sweep = app.extensions["dramatiq"].get_actor("deliver_webhooks")
            start = time.perf_counter()
            left = n
            while left and time.perf_counter() - start < timeout:
                sweep.send()
                time.sleep(1)
                left = _pending(app)
            return time.perf_counter() - start, left
        finally:
            workers.terminate()
            workers.wait(timeout=30)


def bench_webhooks(url: str, redis_url: str, make_app, fresh_database, emit, *, n: int = 10_000) -> None:
    backend = "postgresql+redis"
    seconds, left = _run(url, redis_url, make_app, fresh_database, n=n, latency=0.05, fail_share=0.0, timeout=600)
    emit("webhook_deliveries_per_s", (n - left) / seconds, "deliveries/s", backend, deliveries=n, left=left,
         note="one endpoint answering in 50 ms; two worker processes x 8 threads")
    seconds, left = _run(url, redis_url, make_app, fresh_database, n=n, latency=0.05, fail_share=0.2, timeout=900)
    emit("webhook_backlog_drained_s", seconds, "s", backend, deliveries=n, left=left,
         note="20 % of first attempts answered 503; their first retry waits 10 s")
