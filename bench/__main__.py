"""Benchmarks, printed as JSON lines: {"name", "value", "unit", "backend"}.

    python -m bench                       # SQLite (and PostgreSQL+Redis when configured)
    python -m bench --orders 2000 --only intake,lifecycle
    python -m bench --only pages          # console pages over a million shipments (seeded once)
    python -m bench --only finance        # invoice run, close checks, statement, trial balance (ditto)
    python -m bench --only crm            # account page, customer search, a campaign to 100,000 (ditto)
    python -m bench --only reports        # monthly reports and the report builder over a million (ditto)
    python -m bench --only promises       # promise accuracy on a simulated fortnight (SQLite)
    python -m bench --only webhooks       # webhook deliveries a second to one 50 ms endpoint (PostgreSQL+Redis)

PostgreSQL + Redis run when BENCH_DATABASE_URL and REDIS_URL are set. The PostgreSQL
database is emptied: point it at a database kept for benchmarks.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def emit(name: str, value: float, unit: str, backend: str, **extra) -> None:
    print(json.dumps({"name": name, "value": round(value, 1), "unit": unit, "backend": backend, **extra}),
          flush=True)


def make_app(url: str, redis_url: str | None = None):
    import workers
    from app import create_app

    app = create_app({"DATABASE_URL": url, "REDIS_URL": redis_url, "MAIL_SERVER": None})
    workers.init_app(app)
    logging.getLogger().setLevel(logging.WARNING)
    return app


def fresh_database(app) -> dict:
    """Empty schema, migrated, with the demo network (hubs, rates, partners, drivers)."""
    from app import demo
    from app.cli import upgrade_database
    from app.db import db

    if db.backend == "postgresql":
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    from app.caches import forget_all

    forget_all()
    upgrade_database()
    made = demo.seed_network(db.session)
    db.session.commit()
    return made


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


# -- intake ------------------------------------------------------------------------------------

def _intake_worker(url: str, index: int, n: int, barrier, results) -> None:
    from sqlalchemy import select

    from app import demo
    from app.crm.models import Partner
    from app.db import db
    from app.orders.intake import create_order

    app = make_app(url)
    with app.app_context():
        session = db.session
        partners = list(session.scalars(select(Partner)))
        rng = random.Random(index)
        orders = [demo.random_order(rng, partners[i % 3], f"BENCH-{index}-{i}") for i in range(n)]
        session.commit()
        barrier.wait()
        start = time.perf_counter()
        for i, order in enumerate(orders):
            create_order(session, partners[i % 3], order, actor="bench")
            session.commit()
        results.put(time.perf_counter() - start)


def bench_intake(url: str, backend: str, n: int, processes: int) -> None:
    """Orders taken per second, one transaction each, by ``processes`` processes at once
    (as a web server's workers would)."""
    import multiprocessing as mp

    app = make_app(url)
    with app.app_context():
        fresh_database(app)
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    procs = [ctx.Process(target=_intake_worker, args=(url, i, n // processes, barrier, results))
             for i in range(processes)]
    for p in procs:
        p.start()
    times = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    total = (n // processes) * processes
    emit("intake_orders_per_s", total / max(times), "orders/s", backend, orders=total,
         processes=processes, note="intake service, one transaction per order")


# -- the whole lifecycle -----------------------------------------------------------------------

def bench_lifecycle(url: str, backend: str, n: int, redis_url: str | None, worker_procs: int,
                    relays: int = 1) -> None:
    from app import demo
    from app.db import db
    from app.orders import shipments
    from app.simulation import Simulation
    from workers.runtime import Runtime

    app = make_app(url, redis_url)
    dramatiq_proc, extra_relays = None, []
    with app.app_context():
        fresh_database(app)
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url}
        dramatiq_proc = subprocess.Popen(
            [sys.executable, "-m", "dramatiq", "workers.main", "-p", str(worker_procs), "-t", "4"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Relays beyond the benchmark's own, as processes of their own (`flask relay`).
        extra_relays = [subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "relay", "--no-scheduler"],
                                         cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                        for _ in range(relays - 1)]
        time.sleep(3)
    runtime = Runtime(app, app.extensions["dramatiq"], scheduler=False).start()
    try:
        with app.app_context():
            session = db.session
            sim = Simulation(session, drain=runtime.drain, rng=random.Random(2), only=set())
            start = time.perf_counter()
            sim.create_orders(n, prefix="LIFE", order_factory=demo.random_order)
            intake_done = time.perf_counter()
            sim.run()
            runtime.drain()
            elapsed = time.perf_counter() - start
            by_status = shipments.count_by_status(session, only=sim.only)
            events = shipments.events_appended(session, only=sim.only)
            session.commit()
        assert by_status == {"closed": n}, by_status
        mode = (f"{worker_procs} dramatiq worker processes, {relays} relay{'s' if relays > 1 else ''}"
                if redis_url else "in-process worker")
        emit("lifecycle_shipments_per_s", n / elapsed, "shipments/s", backend, orders=n,
             note=f"created to closed, every event, notification and fee; {mode}")
        emit("lifecycle_transitions_per_s", (events - n) / elapsed, "transitions/s", backend, orders=n)
        emit("lifecycle_seconds", elapsed, "s", backend, orders=n,
             intake_s=round(intake_done - start, 1))
        if dramatiq_proc:
            workers_ = children(dramatiq_proc.pid)
            emit("worker_peak_rss", max(peak_rss_mb(p) for p in workers_), "MB", backend,
                 note="largest dramatiq worker process")
        else:
            emit("embedded_peak_rss", peak_rss_mb(os.getpid()), "MB", backend,
                 note="one process: simulation, relay and in-process worker")
    finally:
        runtime.stop()
        for process in ([dramatiq_proc] if dramatiq_proc else []) + extra_relays:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


# -- web process memory ------------------------------------------------------------------------

def bench_web_memory(url: str, backend: str, redis_url: str | None, requests: int = 500) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("REDIS_URL", None)
    if redis_url:
        env["REDIS_URL"] = redis_url
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "1", "-b", f"127.0.0.1:{port}",
                             "wsgi:app"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        start = time.perf_counter()
        for _ in range(requests):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
        elapsed = time.perf_counter() - start
        worker = children(proc.pid)[0]
        emit("web_peak_rss", peak_rss_mb(worker), "MB", backend, note="gunicorn worker after serving")
        emit("healthz_requests_per_s", requests / elapsed, "requests/s", backend,
             note="sequential, one client, one gunicorn worker")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=10_000, help="orders in the lifecycle run")
    parser.add_argument("--intake-orders", type=int, default=3_000)
    parser.add_argument("--only", default="intake,lifecycle,memory,http,pages,finance,crm,reports,promises,webhooks")
    parser.add_argument("--page-shipments", type=int, default=1_000_000, help="shipments behind the page-speed run")
    parser.add_argument("--reseed", action="store_true", help="seed the page-speed database again")
    parser.add_argument("--worker-processes", type=int, default=2)
    parser.add_argument("--relays", type=int, default=1, help="outbox relays in the lifecycle run (Redis)")
    parser.add_argument("--http-seconds", type=int, default=15)
    parser.add_argument("--web-workers", type=int, default=4, help="gunicorn workers in the HTTP run")
    parser.add_argument("--web-threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()
    only = set(args.only.split(","))

    tmp = tempfile.mkdtemp(prefix="waybill-bench-")
    targets = [("sqlite", lambda name: f"sqlite:///{tmp}/{name}.db", None)]
    pg, redis_url = os.environ.get("BENCH_DATABASE_URL"), os.environ.get("REDIS_URL")
    if pg and redis_url:
        targets.append(("postgresql+redis", lambda name: pg, redis_url))
    else:
        print("# PostgreSQL+Redis skipped: set BENCH_DATABASE_URL and REDIS_URL", file=sys.stderr)
    for backend, url_for, redis in targets:
        if "intake" in only:
            for processes in (1, 2):
                bench_intake(url_for(f"intake{processes}"), backend, args.intake_orders, processes)
        if "lifecycle" in only:
            bench_lifecycle(url_for("lifecycle"), backend, args.orders, redis, args.worker_processes,
                            relays=args.relays)
        if "memory" in only:
            bench_web_memory(url_for("lifecycle"), backend, redis)
        if "promises" in only and backend == "sqlite":
            from bench.promises import bench_promises

            bench_promises(url_for, make_app, fresh_database, emit)
        if "webhooks" in only and backend != "sqlite":
            from bench.webhooks import bench_webhooks

            bench_webhooks(url_for("webhooks"), redis, make_app, fresh_database, emit)
        if "http" in only and backend != "sqlite":
            from bench.http import bench_http

            bench_http(url_for("http"), redis, emit, make_app, fresh_database, seconds=args.http_seconds,
                       workers=args.web_workers, threads=args.web_threads)
        if "pages" in only and backend != "sqlite":
            from bench.pages import bench_pages, pages_database

            bench_pages(pages_database(pg), make_app, fresh_database, emit, n=args.page_shipments,
                        reseed=args.reseed)
        if "finance" in only and backend != "sqlite":
            from bench.finance import bench_finance
            from bench.pages import pages_database

            bench_finance(pages_database(pg, suffix="finance"), make_app, fresh_database, emit,
                          n=args.page_shipments, reseed=args.reseed)
        if "crm" in only and backend != "sqlite":
            from bench.crm import bench_crm
            from bench.pages import pages_database

            bench_crm(pages_database(pg, suffix="crm"), make_app, fresh_database, emit, n=args.page_shipments,
                      reseed=args.reseed)
        if "reports" in only and backend != "sqlite":
            from bench.pages import pages_database
            from bench.reports import bench_reports

            bench_reports(pages_database(pg, suffix="reports"), make_app, fresh_database, emit,
                          n=args.page_shipments, reseed=args.reseed)


if __name__ == "__main__":
    main()
