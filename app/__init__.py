"""Waybill: a logistics-centred ERP for courier companies."""
from __future__ import annotations

from flask import Flask
from flask.json.provider import DefaultJSONProvider

import config as waybill_config


#: Largest request body per surface, most specific path first: a sign-in is small, a
#: phone's offline batch carries photos, a CSV of orders is a file.
BODY_LIMITS = (
    ("/login", 16 * 1024),
    ("/api/v1/orders/csv", 10 * 1024 * 1024),
    ("/api/v1/", 5 * 1024 * 1024),
    ("/driver/actions", 40 * 1024 * 1024),
    ("/", 2 * 1024 * 1024),
)


def _limit_body() -> None:
    from flask import request

    request.max_content_length = next(limit for prefix, limit in BODY_LIMITS if request.path.startswith(prefix))


class _JsonProvider(DefaultJSONProvider):
    """Flask's JSON, reading with the API's safe reader: a body nested too deeply or with
    an integer of thousands of digits is a 400, never a 500."""

    def loads(self, s, **kwargs):
        from app.api.parsing import loads

        return loads(s)


def create_app(overrides: dict | None = None) -> Flask:
    """Build the Waybill app: configuration from the environment, then ``overrides``."""
    app = Flask(__name__, instance_path=str(waybill_config.INSTANCE_DIR))
    app.json = _JsonProvider(app)
    app.config.update(waybill_config.from_env())
    if overrides:
        app.config.update(overrides)
    proxies = app.config["WAYBILL_TRUSTED_PROXIES"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    from app import observability

    observability.configure_logging(app.config["WAYBILL_LOG_FORMAT"])

    from app import models  # noqa: F401  (every table registered before the first query)
    from app import i18n, words
    from app.db import db

    app.add_template_filter(words.counted, "counted")
    app.add_template_filter(words.plural, "plural")
    app.add_template_filter(words.given_name, "given_name")
    i18n.init_app(app)

    db.init_app(app)
    from app.orders.feed import FEED

    FEED.configure(app.config.get("REDIS_URL"))  # shipment changes told to every process
    from app.auth.services import use_password_profile

    use_password_profile(app.config["WAYBILL_PASSWORD_PROFILE"], testing=app.testing)
    app.before_request(_limit_body)  # first: before anything reads a form or a body
    observability.init_app(app)

    from app.health import bp as health_bp

    app.register_blueprint(health_bp)

    from app.public.views import bp as public_bp

    app.register_blueprint(public_bp)

    from app.vendor import bp as vendor_bp

    app.register_blueprint(vendor_bp)

    from app import api

    api_blueprints = api.init_app(app)

    from app.auth import web as auth_web
    from app.console import (  # noqa: F401  (their routes join the console blueprint)
        cash, crm, finance, invoices, linehaul, orders, partners, people, rates, remittances, reports, runsheets)
    from app.console.views import bp as console_bp
    from app.driver.views import bp as driver_bp
    from app.portal import reports as portal_reports  # noqa: F401  (its routes join the portal blueprint)
    from app.portal.views import bp as portal_bp

    auth_web.init_app(app, api_blueprints)
    from sqlalchemy.exc import DBAPIError

    from app.errors import unavailable

    app.register_error_handler(DBAPIError, unavailable)
    app.register_blueprint(console_bp)
    app.register_blueprint(driver_bp)
    app.register_blueprint(portal_bp)

    from app.cli import register_commands

    register_commands(app)
    return app
