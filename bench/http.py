"""HTTP intake and tracking, served by gunicorn on PostgreSQL, loaded by wrk on loopback.

Figures: orders accepted per second and p50/p99 latency for single POSTs and for bulk
(100 orders a request), tracking reads, and a no-op POST through the same stack (its
ceiling). Every order a run reports is counted again in the database afterwards."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK = Path(__file__).resolve().parent / "wrk"

ORDER = {
    "reference": "{n}", "service_level": "standard",
    "pickup": {"name": "Saigon Books", "phone": "+84 28 3822 1234",
               "address": {"line1": "45 Le Loi", "city": "Ho Chi Minh City", "country": "VN",
                           "lat": 10.7735, "lon": 106.7005}},
    "dropoff": {"name": "Lan Nguyen", "phone": "0903 123 456", "email": "lan@example.com",
                "address": {"line1": "12 Nguyen Hue", "district": "District 7", "city": "Ho Chi Minh City",
                            "country": "VN", "lat": 10.734, "lon": 106.7216}},
    "parcels": [{"weight_grams": 1200, "length_cm": 30, "width_cm": 20, "height_cm": 10}],
    "cod": {"amount": 250000, "currency": "VND"},
}
BULK = 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk(script: str, url: str, env: dict, *, seconds: int, connections: int) -> dict:
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--timeout", "5s",
                          "-s", str(WRK / script), url], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def bench_http(pg_url: str, redis_url: str | None, emit, make_app, fresh_database, *, seconds: int = 15,
               connections: int = 8, workers: int = 4, threads: int = 4) -> None:
    if not shutil.which("wrk"):
        print("# HTTP benchmark skipped: install wrk (apt-get install wrk)", file=sys.stderr)
        return
    from sqlalchemy import func, select

    from app.db import db
    from app.orders.models import Order, Shipment

    app = make_app(pg_url, redis_url)
    with app.app_context():
        key = fresh_database(app)["partners"][0]["api_key"]
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": pg_url, "WAYBILL_API_RATE_LIMIT": "1000000 per second"}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "gthread", "--threads", str(threads),
         "-b", f"127.0.0.1:{port}", "--backlog", "2048", "bench.wsgi_noop:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    tmp = Path(tempfile.mkdtemp(prefix="waybill-http-"))
    single, bulk = tmp / "order.json", tmp / "bulk.json"
    single.write_text(json.dumps(ORDER))
    bulk.write_text(json.dumps({"orders": [{**ORDER, "reference": f"{{n}}-{i}"} for i in range(BULK)]}))
    backend = "postgresql+redis" if redis_url else "postgresql"
    setup = f"gunicorn {workers} workers x {threads} threads, wrk {connections} connections, {seconds} s"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        common = {"WRK_KEY": key}
        # Warm every worker (imports, caches, connections) before measuring.
        _wrk("post.lua", f"{base}/api/v1/orders", {**common, "WRK_BODY": str(single), "WRK_PATH": "/api/v1/orders",
                                                     "WRK_RUN": "warm"}, seconds=3, connections=connections)

        noop = _wrk("post.lua", f"{base}/bench/noop", {**common, "WRK_BODY": str(single), "WRK_PATH": "/bench/noop",
                                                         "WRK_RUN": "noop"}, seconds=seconds, connections=connections)
        assert noop["non_2xx"] == 0, noop  # the ceiling is a 204, not a refusal
        emit("http_noop_post_per_s", noop["requests"] / noop["seconds"], "requests/s", backend,
             p50_ms=noop["p50_ms"], p99_ms=noop["p99_ms"], note=f"the stack's ceiling; {setup}")

        one = _wrk("post.lua", f"{base}/api/v1/orders", {**common, "WRK_BODY": str(single),
                                                          "WRK_PATH": "/api/v1/orders", "WRK_RUN": "one"},
                   seconds=seconds, connections=connections)
        many = _wrk("post.lua", f"{base}/api/v1/orders/bulk", {**common, "WRK_BODY": str(bulk),
                                                               "WRK_PATH": "/api/v1/orders/bulk", "WRK_RUN": "bulk"},
                    seconds=seconds, connections=connections)
        with app.app_context():
            singles = db.session.scalar(select(func.count()).select_from(Order)
                                        .where(Order.reference.like("one-%")))
            bulked = db.session.scalar(select(func.count()).select_from(Order)
                                       .where(Order.reference.like("bulk-%")))
            numbers = list(db.session.scalars(select(Shipment.tracking_number).limit(5000)))
            db.session.remove()
        # wrk leaves out what was in flight when it stopped: at most one per connection.
        assert 0 <= singles - (one["requests"] - one["non_2xx"]) <= connections, (singles, one)
        emit("http_single_post_orders_per_s", singles / one["seconds"], "orders/s", backend,
             p50_ms=one["p50_ms"], p99_ms=one["p99_ms"], refused=one["non_2xx"], note=setup)
        emit("http_bulk_orders_per_s", bulked / many["seconds"], "orders/s", backend,
             p50_ms=many["p50_ms"], p99_ms=many["p99_ms"], refused=many["non_2xx"],
             note=f"{BULK} orders a request; {setup}")

        # Tracking twice: 5,000 parcels in turn (most reads are a web process's first of that
        # parcel: read from the database), then 500 parcels read again and again (parcels being
        # watched: answered from the process while the feed of changes holds).
        for name, count, note in (("http_tracking_reads_per_s", 5000, "5,000 parcels in turn"),
                                  ("http_tracking_repeat_reads_per_s", 500,
                                   "500 parcels read again and again")):
            paths = tmp / f"paths-{count}.txt"
            paths.write_text("\n".join(f"/api/v1/tracking/{n}" for n in numbers[:count]))
            reads = _wrk("get.lua", f"{base}/api/v1/tracking", {**common, "WRK_PATHS": str(paths)},
                         seconds=seconds, connections=connections)
            emit(name, reads["requests"] / reads["seconds"], "requests/s", backend, p50_ms=reads["p50_ms"],
                 p99_ms=reads["p99_ms"], non_2xx=reads["non_2xx"], note=f"{note}; {setup}")
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(tmp, ignore_errors=True)
