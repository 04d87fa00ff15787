"""Operator commands of the app: ``flask --app wsgi db upgrade`` and ``partner create``.

The commands that run workers (``serve``, ``relay``, ``demo``, ``simulate``) are in
``workers.cli``."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask import Flask, current_app

from app.db import db

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

    db.session.remove()
    cfg = alembic_config()
    with db.engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def register_commands(app: Flask) -> None:
    @app.cli.group("db")
    def db_group():
        """Database schema."""

    @db_group.command("upgrade")
    def db_upgrade():
        """Apply every migration not yet applied."""
        upgrade_database()
        click.echo("database is up to date")

    @app.cli.group("partner")
    def partner_group():
        """Retail partners."""

    @partner_group.command("create")
    @click.argument("name")
    @click.option("--currency", default=None, help="ISO 4217 code; defaults to WAYBILL_CURRENCY")
    def partner_create(name, currency):
        """Create a partner and print its id and a new API key as JSON."""
        from app.crm import services as crm

        session = db.session
        try:
            partner = crm.create_partner(session, name,
                                         currency=currency or current_app.config["WAYBILL_CURRENCY"])
            key_record, key = crm.issue_api_key(session, partner)
            session.commit()
        except ValueError as exc:
            session.rollback()
            raise click.ClickException(str(exc))
        click.echo(json.dumps({"id": partner.id, "name": partner.name, "currency": partner.currency,
                               "api_key": key, "api_key_prefix": key_record.prefix}))
