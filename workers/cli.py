"""Commands that run work: ``serve``, ``relay``, ``demo``, ``simulate``."""
from __future__ import annotations

import json
import random
import signal
import time
from datetime import timedelta

import click
from flask import Flask, current_app

from app import clock
from app.billing import ledger
from app.db import db
from workers.jobs import run_pending
from workers.runtime import Runtime


def public_url_of(host: str, port: int) -> str:
    """The address a browser reaches ``serve`` at (all interfaces: this machine's loopback)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    return f"http://{shown}:{port}"


def register_commands(app: Flask) -> None:
    if "serve" in app.cli.commands:
        return

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True)
    @click.option("--port", default=5000, envvar="PORT", show_default=True, type=int)
    def serve(host, port):
        """Serve the web app with the relay, the scheduler and (without Redis) the
        workers in this process: the embedded mode."""
        from werkzeug.serving import run_simple

        if not current_app.config["WAYBILL_PUBLIC_URL_SET"]:  # links lead where this serves
            current_app.config["WAYBILL_PUBLIC_URL"] = public_url_of(host, port)
        runtime = Runtime(current_app._get_current_object(), current_app.extensions["dramatiq"]).start()
        try:
            run_simple(host, port, current_app._get_current_object(), threaded=True,
                       use_reloader=False)
        finally:
            runtime.stop()

    @app.cli.command("relay")
    @click.option("--no-scheduler", is_flag=True, help="Relay only; periodic jobs run elsewhere.")
    def relay(no_scheduler):
        """Relay the outbox to Redis and enqueue periodic jobs, until stopped."""
        if not current_app.config.get("REDIS_URL"):
            raise click.ClickException("set REDIS_URL: without it, `serve` runs the workers in-process")
        runtime = Runtime(current_app._get_current_object(), current_app.extensions["dramatiq"],
                          scheduler=not no_scheduler).start()
        stop = []
        signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
        try:
            while not stop:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            runtime.stop()

    @app.cli.command("demo")
    @click.option("--if-empty", is_flag=True, help="Do nothing if the database has data.")
    @click.option("--orders", default=420, show_default=True, help="Demo orders spread over the states.")
    def demo(if_empty, orders):
        """Migrate, then seed a demo network, partners, drivers and orders in every state."""
        from app import demo as demo_data
        from app.cli import upgrade_database
        from app.simulation import Simulation

        upgrade_database()
        session = db.session
        if demo_data.has_data(session):
            if if_empty:
                click.echo("database already has data; demo not seeded")
                return
            raise click.ClickException("the database already has data; demo needs an empty one")
        network = demo_data.seed_network(session)
        logins = demo_data.seed_users(session)
        demo_data.seed_leads(session)
        session.commit()
        # Last month, played and done by the workers: finance's month to invoice, remit and close.
        past = Simulation(session, drain=run_pending, rng=random.Random(41), only=set())
        month = demo_data.seed_month(past, ledger.period_of(clock.today().replace(day=1) - timedelta(days=1)),
                                     max(40, orders // 3))
        sim = Simulation(session, drain=run_pending, rng=random.Random(42))
        by_status = demo_data.seed_orders(sim, orders)
        demo_data.give_the_demo_driver_a_round(session, sim.today())
        session.commit()
        click.echo(json.dumps({**network, "last_month": month, "shipments_by_status": by_status,
                               "logins": logins}, indent=2))
        click.echo("Sign in at /login with the logins above (passwords are shown this once).")

    @app.cli.command("simulate")
    @click.option("--orders", "n_orders", default=100, show_default=True, help="New orders to create.")
    @click.option("--existing", is_flag=True, help="Also drive the open shipments already there.")
    @click.option("--seed", default=None, type=int, help="Random seed, for a repeatable run.")
    @click.option("--fail-rate", default=0.15, show_default=True, help="Share of attempts that fail.")
    @click.option("--month", default=None, help="Play this past month (YYYY-MM) instead of today: orders on a "
                                                "few of its days, delivered, cash counted, fees posted.")
    def simulate(n_orders, existing, seed, fail_rate, month):
        """Create orders and drive them through pickups, scans, line-hauls and deliveries
        to a terminal state; fees and notifications are done by the workers."""
        from app import demo as demo_data
        from app.simulation import Simulation

        app_obj = current_app._get_current_object()
        runtime = Runtime(app_obj, current_app.extensions["dramatiq"], scheduler=False).start()
        session = db.session
        started = time.perf_counter()
        try:
            sim = Simulation(session, drain=runtime.drain, rng=random.Random(seed), fail_rate=fail_rate,
                             only=None if existing else set())
            if month:
                try:
                    demo_data.seed_month(sim, month, n_orders)
                except ValueError as exc:
                    raise click.ClickException(str(exc))
            else:
                prefix = f"SIM{int(clock.timestamp())}"
                with click.progressbar(length=n_orders, label="orders      ") as bar:
                    sim.on_progress = bar.update
                    sim.create_orders(n_orders, prefix=prefix, order_factory=demo_data.random_order)
                with click.progressbar(length=sim.open_count(), label="to terminal ") as bar:
                    sim.on_progress = bar.update
                    sim.run()
            runtime.drain()
        finally:
            runtime.stop()
        report = summary(session, sim, time.perf_counter() - started)
        session.commit()
        click.echo(json.dumps(report, indent=2))


def summary(session, sim, seconds: float) -> dict:
    from app.billing.fees import fee_totals
    from app.crm.notifications import notification_counts
    from app.orders import shipments
    from app.outbox import count_unprocessed

    only = sim.only
    return {
        "orders_created": sim.counts["orders"],
        "orders_rejected": sim.counts["rejected"],
        "days": sim.counts["days"],
        "shipments_by_status": shipments.count_by_status(session, only=only),
        "still_open": shipments.count_open(session, only=only),
        "fees": fee_totals(session, only=only),
        "notifications": notification_counts(session, only=only),
        "outbox_unsent": count_unprocessed(session),
        "seconds": round(seconds, 2),
    }
