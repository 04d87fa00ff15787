"""Operator commands of the app: ``db upgrade``, ``partner ...`` (partners and their API
keys) and ``orders import`` (a CSV file of orders).

The commands that run workers (``serve``, ``relay``, ``demo``, ``simulate``) are in
``workers.cli``."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app

from app.auth.models import ROLES
from app.db import db
from app.words import counted

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config():
    from alembic.config import Config

    cfg = Config(str(MIGRATIONS.parent / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def upgrade_database() -> None:
    """Bring the schema to the newest migration (on a connection of its own, so the
    session's transaction, if any, is ended first: on SQLite it would hold the lock)."""
    from alembic import command

    from app.db import schema_change

    db.session.remove()
    cfg = alembic_config()
    with schema_change(db.engine) as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def register_commands(app: Flask) -> None:
    register_user_commands(app)
    register_billing_commands(app)

    @app.cli.group("db")
    def db_group():
        """Database schema."""

    @db_group.command("upgrade")
    def db_upgrade():
        """Apply every migration not yet applied."""
        upgrade_database()
        click.echo("database is up to date")

    @app.cli.command("health")
    @click.option("--process", "kind", type=click.Choice(["web", "relay", "worker"]), default="web",
                  show_default=True, help="What to check: the database and Redis (web), or that a "
                  "relay or a worker process beats.")
    @click.option("--here", is_flag=True, help="Only processes on this host (a container's own check).")
    def health(kind, here):
        """Exit 0 when the process kind is healthy, 1 when not; print what was found (JSON).
        For a supervisor's or an orchestrator's health check."""
        import socket

        from app.health import broker_status, database_status, processes

        checks = {"database": database_status(), "broker": broker_status()}
        alive = processes(host=socket.gethostname() if here else None)
        if kind == "web":
            ok = all(check["ok"] for check in checks.values())
        else:
            ok = bool(alive and alive.get(kind))
        click.echo(json.dumps({"process": kind, "ok": ok, **checks, "alive": alive}))
        raise SystemExit(0 if ok else 1)

    @app.cli.group("backup")
    def backup_group():
        """Back-ups of the database and the photos, and their restore."""

    @backup_group.command("create")
    @click.option("--to", "target", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="The folder to write the back-up into (a new folder inside it).")
    def backup_create(target):
        """Back up the database and the photo folder, with a manifest of what they hold."""
        from app import backups
        from app.photos import photo_dir

        try:
            made = backups.create(current_app.config["DATABASE_URL"], photo_dir(), target)
        except backups.BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(json.dumps({"backup": str(made.directory), "tables": made.manifest["tables"],
                               "photos": len(made.manifest["photos"])}, indent=2))

    @backup_group.command("restore")
    @click.option("--from", "source", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
                  help="A folder made by `backup create`.")
    def backup_restore(source):
        """Restore into this configuration's (empty) database and photo folder, then check
        every order, event and ledger entry against the back-up's manifest."""
        from app import backups
        from app.photos import photo_dir

        try:
            tables = backups.restore(source, current_app.config["DATABASE_URL"], photo_dir())
        except backups.BackupError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(json.dumps({"restored": str(source), "checked": tables}, indent=2))

    @app.cli.group("partner")
    def partner_group():
        """Retail partners."""

    @partner_group.command("create")
    @click.argument("name")
    @click.option("--currency", default=None, help="ISO 4217 code; defaults to WAYBILL_CURRENCY")
    @click.option("--email", default=None, help="Contact for the partner's engineers (webhook notices)")
    def partner_create(name, currency, email):
        """Create a partner and print its id and a new API key as JSON."""
        from app.crm import services as crm

        session = db.session
        try:
            partner = crm.create_partner(session, name,
                                         currency=currency or current_app.config["WAYBILL_CURRENCY"])
            partner.contact_email = email
            key_record, key = crm.issue_api_key(session, partner)
            session.commit()
        except ValueError as exc:
            session.rollback()
            raise click.ClickException(str(exc))
        click.echo(json.dumps({"id": partner.id, "name": partner.name, "currency": partner.currency,
                               "api_key": key, "api_key_prefix": key_record.prefix}))

    @partner_group.command("delivery-code")
    @click.argument("partner")
    @click.argument("setting", type=click.Choice(["on", "off"]))
    def delivery_code(partner, setting):
        """Ask (on) or stop asking (off) PARTNER's customers for a one-time code at delivery."""
        found = _partner(db.session, partner)
        found.delivery_code_required = setting == "on"
        db.session.commit()
        click.echo(f"{found.name}: delivery code {setting}")

    @partner_group.command("key-create")
    @click.argument("partner")
    def key_create(partner):
        """Issue another API key to PARTNER (name or id); the key is printed once."""
        from app.crm import services as crm

        session = db.session
        found = _partner(session, partner)
        record, key = crm.issue_api_key(session, found)
        session.commit()
        click.echo(json.dumps({"partner_id": found.id, "api_key": key, "api_key_prefix": record.prefix}))

    @partner_group.command("keys")
    @click.argument("partner")
    def keys_list(partner):
        """List PARTNER's API keys (prefixes only: keys are not stored)."""
        from app.crm import services as crm

        for record in crm.api_keys_of(db.session, _partner(db.session, partner).id):
            state = f"revoked {record.revoked_at:%Y-%m-%d %H:%M}" if record.revoked_at else "active"
            click.echo(f"{record.prefix}  created {record.created_at:%Y-%m-%d %H:%M}  {state}")

    @partner_group.command("key-revoke")
    @click.argument("prefix")
    def key_revoke(prefix):
        """Revoke the API key that starts with PREFIX (wbk_xxxxxxxx)."""
        from app.crm import services as crm

        try:
            crm.revoke_api_key(db.session, prefix)
        except LookupError as exc:
            raise click.ClickException(str(exc))
        db.session.commit()
        click.echo(f"{prefix} revoked")

    @app.cli.group("orders")
    def orders_group():
        """Orders."""

    @orders_group.command("import")
    @click.argument("partner")
    @click.argument("file", type=click.File("r", encoding="utf-8-sig"))
    @click.option("--chunk", default=500, show_default=True, help="Orders per transaction")
    def orders_import(partner, file, chunk):
        """Take the orders of a CSV FILE for PARTNER (name or id); prints one line per
        refused order and a summary. The columns: `orders template`."""
        from app.orders import csv_import

        session = db.session
        found = _partner(session, partner)
        session.commit()
        text = file.read()
        try:
            grouped = csv_import.read_orders(text)
        except csv_import.CsvFileError as exc:
            raise click.ClickException(str(exc))
        created = rejected = 0
        for start in range(0, len(grouped), chunk):
            parsed = csv_import.parse(grouped[start:start + chunk])  # places addresses: no transaction open
            rows = csv_import.take_parsed(session, found, parsed, actor="cli")
            session.commit()
            for row in rows:
                if row.created:
                    created += 1
                    continue
                rejected += 1
                for error in row.errors:
                    column = f" {error['column']}:" if error.get("column") else ""
                    click.echo(f"line {error['line']} ({row.reference}):{column} {error['message']}")
        click.echo(f"orders: {created} created, {rejected} refused")

    @orders_group.command("template")
    def orders_template():
        """Print the CSV template: every column and one example order."""
        from app.orders import csv_import

        click.echo(csv_import.template(), nl=False)

    @app.cli.group("events")
    def events_group():
        """Shipment events: their month partitions on PostgreSQL, and their retention."""

    @events_group.command("partitions")
    def events_partitions():
        """List the month partitions (oldest first, the default last) with their rows
        (PostgreSQL's estimate)."""
        from app.orders import event_partitions

        with db.engine.connect() as conn:
            found = event_partitions.partitions(conn)
        if not found:
            raise click.ClickException(_NOT_PARTITIONED)
        for p in found:
            span = f"{p.start} – {p.end}" if p.start else "anything outside the months"
            click.echo(f"{p.name:<28} {span:<28} about {p.rows:,} rows")

    @events_group.command("prune")
    @click.option("--keep-months", type=int, required=True,
                  help="Whole months kept before the current one (13 at least).")
    @click.option("--yes", is_flag=True, help="Drop without asking.")
    def events_prune(keep_months, yes):
        """Drop the months of shipment events older than --keep-months whole months before
        this one (a dropped month's events are gone: back up first)."""
        from app.orders import event_partitions

        try:
            cutoff = event_partitions.retention_cutoff(event_partitions.utc_today(), keep_months)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        with db.engine.connect() as conn:
            if not event_partitions.is_partitioned(conn):
                raise click.ClickException(_NOT_PARTITIONED)
            doomed = [p for p in event_partitions.partitions(conn) if p.end is not None and p.end <= cutoff]
        if not doomed:
            click.echo(f"no month ends before {cutoff}: nothing to drop")
            return
        names = ", ".join(p.name for p in doomed)
        if not yes:
            click.confirm(f"Drop {names} (events before {cutoff})?", abort=True)
        with db.engine.begin() as conn:
            dropped = event_partitions.drop_before(conn, cutoff)
        click.echo(f"dropped {len(dropped)} month(s): {', '.join(p.name for p in dropped)}; "
                   f"events from {cutoff} on are kept")


_NOT_PARTITIONED = ("shipment events are partitioned by month on PostgreSQL only; "
                    "this database keeps them in one table, every one of them")


def _partner(session, name_or_id: str):
    from app.crm import services as crm

    try:
        return crm.find_partner(session, name_or_id)
    except LookupError as exc:
        raise click.ClickException(str(exc))


def register_user_commands(app: Flask) -> None:
    @app.cli.group("user")
    def user_group():
        """Staff and driver logins."""

    @user_group.command("create")
    @click.argument("email")
    @click.option("--role", required=True, type=click.Choice(ROLES))
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                  help="At least 10 characters; asked for when left out")
    @click.option("--name", default="")
    @click.option("--hub", "hub_code", default=None, help="Code of a hub operator's hub")
    @click.option("--driver-id", type=int, default=None, help="The driver a driver login belongs to")
    @click.option("--partner", default=None, help="A partner login's partner (name or id)")
    def user_create(email, role, password, name, hub_code, driver_id, partner):
        """Create a login (the first admin, a dispatcher, a driver...)."""
        from sqlalchemy import select

        from app.auth import services as accounts
        from app.hubs.models import Hub

        session = db.session
        hub_id = None
        if hub_code:
            hub = session.scalars(select(Hub).where(Hub.code == hub_code)).first()
            if hub is None:
                raise click.ClickException(f"no hub {hub_code}")
            hub_id = hub.id
        partner_id = _partner(session, partner).id if partner else None
        try:
            user = accounts.create_user(session, email, role=role, password=password, name=name, hub_id=hub_id,
                                        driver_id=driver_id, partner_id=partner_id)
            accounts.audit(session, None, "user.created", object_type="user", object_id=user.id,
                           details={"email": user.email, "role": role, "by": "cli"})
            session.commit()
        except accounts.AccountError as exc:
            session.rollback()
            raise click.ClickException(str(exc))
        click.echo(f"{user.email} ({role}) can sign in at /login")

    def _user(session, email: str):
        from sqlalchemy import select

        from app.auth.models import User

        user = session.scalars(select(User).where(User.email == email.strip().lower())).first()
        if user is None:
            raise click.ClickException(f"no login {email}")
        return user

    @user_group.command("reset-password")
    @click.argument("email")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                  help="At least 10 characters; asked for when left out")
    def user_reset_password(email, password):
        """Set a new password for EMAIL (every session of theirs ends; a lock is lifted)."""
        from app.auth import services as accounts

        user = _user(db.session, email)
        try:
            accounts.reset_password(db.session, user, password)
        except accounts.AccountError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc))
        accounts.audit(db.session, None, "user.password_reset", object_type="user", object_id=user.id,
                       details={"email": user.email, "by": "cli"})
        db.session.commit()
        click.echo(f"{user.email}: new password set; signed out everywhere")

    def _set_active(email: str, active: bool) -> None:
        from app.auth import services as accounts

        user = _user(db.session, email)
        accounts.set_active(db.session, user, active)
        accounts.audit(db.session, None, "user.activated" if active else "user.deactivated", object_type="user",
                       object_id=user.id, details={"email": user.email, "by": "cli"})
        db.session.commit()
        click.echo(f"{user.email}: {'active' if active else 'deactivated'}")

    @user_group.command("deactivate")
    @click.argument("email")
    def user_deactivate(email):
        """EMAIL can no longer sign in; their sessions end at once."""
        _set_active(email, False)

    @user_group.command("activate")
    @click.argument("email")
    def user_activate(email):
        """EMAIL can sign in again."""
        _set_active(email, True)

    @user_group.command("sign-out")
    @click.argument("email")
    def user_sign_out(email):
        """End every session of EMAIL (a lost phone or laptop)."""
        from app.auth import services as accounts

        user = _user(db.session, email)
        count = accounts.sign_out_everywhere(db.session, user)
        accounts.audit(db.session, None, "user.signed_out_everywhere", object_type="user", object_id=user.id,
                       details={"email": user.email, "sessions": count, "by": "cli"})
        db.session.commit()
        click.echo(f"{user.email}: {counted(count, 'session')} ended")

    @app.cli.group("driver")
    def driver_group():
        """Drivers and their logins."""

    @driver_group.command("create")
    @click.argument("name")
    @click.option("--phone", required=True)
    @click.option("--hub", "hub_code", required=True, help="Code of the driver's hub")
    @click.option("--email", required=True, help="The driver's login")
    @click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
                  help="At least 10 characters; asked for when left out")
    @click.option("--capacity", type=int, default=40, show_default=True, help="Stops a day")
    @click.option("--vehicle", default="")
    @click.option("--days", default="1234567", show_default=True, help="ISO weekdays worked, 1 = Monday")
    def driver_create(name, phone, hub_code, email, password, capacity, vehicle, days):
        """Onboard a driver with a login: they sign in on their phone at /login."""
        from sqlalchemy import select

        from app.auth import services as accounts
        from app.delivery import services as delivery
        from app.hubs.models import Hub

        session = db.session
        hub = session.scalars(select(Hub).where(Hub.code == hub_code)).first()
        if hub is None:
            raise click.ClickException(f"no hub {hub_code}")
        try:
            driver = delivery.create_driver(session, name=name, phone=phone, hub_id=hub.id, capacity=capacity,
                                            vehicle=vehicle, working_days=days)
            user = accounts.create_user(session, email, role="driver", password=password, name=driver.name,
                                        driver_id=driver.id)
        except (delivery.DeliveryError, accounts.AccountError) as exc:
            session.rollback()
            raise click.ClickException(str(exc))
        accounts.audit(session, None, "driver.created", object_type="driver", object_id=driver.id,
                       details={"name": driver.name, "hub": hub.code, "login": user.email, "by": "cli"})
        session.commit()
        click.echo(json.dumps({"driver_id": driver.id, "name": driver.name, "hub": hub.code, "login": user.email}))


def register_billing_commands(app: Flask) -> None:
    @app.cli.group("billing")
    def billing_group():
        """Finance: close a month, export the books."""

    @billing_group.command("close")
    @click.option("--period", required=True, help="The month, YYYY-MM")
    @click.option("--check-only", is_flag=True, help="Run the checks; do not close")
    def billing_close(period, check_only):
        """Run the close's checks and, when none blocks, close the month. Prints the checks
        and the trial balance as JSON; exits 1 when a check blocks."""
        from app.auth import services as accounts
        from app.billing import periods

        session = db.session
        try:
            if check_only:
                found = periods.checks(session, period)
                result = periods.CloseResult(period, False, found, {})
            else:
                result = periods.close(session, period, user_id=None)
        except periods.PeriodError as exc:
            session.rollback()
            raise click.ClickException(str(exc))
        if result.closed:
            accounts.audit(session, None, "period.closed", object_type="period", object_id=period,
                           details={"by": "command line"})
            session.commit()
        else:
            session.rollback()
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
        if not all(c.ok for c in result.checks):
            raise SystemExit(1)

    @billing_group.command("invoice")
    @click.option("--period", required=True, help="The month, YYYY-MM: monthly partners for it, weekly ones "
                                                  "for each week that ends in it")
    @click.option("--partner", "partners", multiple=True, help="Only these partners (name or id)")
    def billing_invoice(period, partners):
        """Invoice every partner for the period: everything charged and not yet invoiced up
        to its end. Prints the invoices as JSON. Running it again invoices nothing twice."""
        from app.auth import services as accounts
        from app.billing import invoices, periods

        try:
            periods.parse(period)
        except periods.PeriodError as exc:
            raise click.ClickException(str(exc))
        ids = [_partner(db.session, p).id for p in partners] or None
        result = invoices.run(db.session, period, partner_ids=ids)
        for invoice in result.invoices:
            accounts.audit(db.session, None, "invoice.issued", object_type="invoice", object_id=invoice.id,
                           details={"number": invoice.number, "by": "command line"})
        db.session.commit()
        click.echo(json.dumps({"period": period, "invoices": [
            {"id": i.id, "number": i.number, "partner_id": i.partner_id, "currency": i.currency,
             "net": i.net_amount, "vat": i.vat_amount, "total": i.total_amount, "due_on": i.due_on.isoformat()}
            for i in result.invoices], "partners_with_nothing_to_invoice": result.skipped}, indent=2))

    @billing_group.command("remit")
    @click.option("--partner", "partners", multiple=True, help="Only these partners (name or id)")
    def billing_remit(partners):
        """Remit the COD that is due today (each partner's T+N cycle): one remittance per
        partner, netting its open invoices when it agreed. Prints them as JSON; the payout
        file is in the console (Finance -> Remittances). Nothing is remitted twice."""
        from app.auth import services as accounts
        from app.billing import remittances

        ids = [_partner(db.session, p).id for p in partners] or None
        result = remittances.run(db.session, partner_ids=ids)
        for r in result.remittances:
            accounts.audit(db.session, None, "remittance.approved", object_type="remittance", object_id=r.id,
                           details={"number": r.number, "by": "command line"})
        db.session.commit()
        click.echo(json.dumps({"remittances": [
            {"id": r.id, "number": r.number, "partner_id": r.partner_id, "currency": r.currency,
             "shipments": r.shipments, "cod": r.cod_amount, "netted": r.netted_amount, "payout": r.payout_amount,
             "status": r.status} for r in result.remittances]}, indent=2))

    @billing_group.command("reopen")
    @click.option("--period", required=True, help="The month, YYYY-MM")
    @click.option("--reason", required=True, help="Why it is reopened (kept in the audit log)")
    def billing_reopen(period, reason):
        """Reopen a closed month (the latest closed one first)."""
        from app.auth import services as accounts
        from app.billing import periods

        try:
            periods.reopen(db.session, period, reason=reason)
        except periods.PeriodError as exc:
            db.session.rollback()
            raise click.ClickException(str(exc))
        accounts.audit(db.session, None, "period.reopened", object_type="period", object_id=period,
                       details={"reason": reason, "by": "command line"})
        db.session.commit()
        click.echo(f"{period} is open")

    @billing_group.command("export")
    @click.option("--period", required=True, help="The month, YYYY-MM")
    @click.option("--format", "fmt", type=click.Choice(["beancount", "csv"]), default="beancount")
    @click.option("--output", type=click.Path(dir_okay=False, writable=True), default="-",
                  help="A file to write (default: standard output)")
    def billing_export(period, fmt, output):
        """The month's books: a Beancount file (opening balances and entries; Fava reads it)
        or a CSV of every journal line."""
        from app.billing import exports, periods

        try:
            periods.parse(period)
        except periods.PeriodError as exc:
            raise click.ClickException(str(exc))
        chunks = (exports.beancount if fmt == "beancount" else exports.ledger_csv)(db.session, period)
        with click.open_file(output, "w", encoding="utf-8") as out:
            for chunk in chunks:
                out.write(chunk)
