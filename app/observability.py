"""What an operator sees of a running Waybill: a request id on every request, every log line
and every outbox row it writes (the actor that does the row's work logs under it again);
logs as one JSON object a line (``WAYBILL_LOG_FORMAT=json``); and Prometheus metrics at
``/metrics``, for a bearer token (``WAYBILL_METRICS_TOKEN``) or a signed-in admin.

Request latency is counted per process (with ``PROMETHEUS_MULTIPROC_DIR`` set, gunicorn's
workers add theirs up); the outbox, webhook and notification figures are read from the
database when scraped, so every process answers the same."""
from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from datetime import datetime

from flask import Blueprint, Flask, Response, abort, current_app, g, request
from flask_login import current_user
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text

from app import clock
from app.db import stored_utc
from app.outbox import REQUEST_ID

bp = Blueprint("observability", __name__)
#: A request id a client or proxy may give (else one is made): letters, digits, dashes.
GIVEN_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")
HEADER = "X-Request-Id"

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY = Histogram("waybill_http_request_seconds", "Time to answer a request, by route", ["method", "route", "status"],
                    registry=REGISTRY, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
_old_factory = logging.getLogRecordFactory()


def _record(*args, **kwargs) -> logging.LogRecord:
    record = _old_factory(*args, **kwargs)
    record.request_id = REQUEST_ID.get()
    return record


def configure_logging(fmt: str) -> None:
    """Every record carries the request id; the root handler writes text or JSON."""
    if logging.getLogRecordFactory() is not _record:
        logging.setLogRecordFactory(_record)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    root.setLevel(logging.INFO)
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.__class__ is logging.StreamHandler:
            handler.setFormatter(json_formatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))


def json_formatter() -> logging.Formatter:
    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                         rename_fields={"levelname": "level", "name": "logger", "asctime": "time"})


def init_app(app: Flask) -> None:
    configure_logging(app.config.get("WAYBILL_LOG_FORMAT", "text"))
    app.before_request(_begin)
    app.after_request(_end)
    app.teardown_request(_forget)
    app.register_blueprint(bp)


def _begin() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if GIVEN_ID.match(given) else uuid.uuid4().hex
    g.request_id_token = REQUEST_ID.set(g.request_id)
    g.request_started = time.perf_counter()


def _end(response: Response) -> Response:
    if "request_id" in g:
        response.headers[HEADER] = g.request_id
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        LATENCY.labels(request.method, route, str(response.status_code)).observe(
            time.perf_counter() - g.request_started)
    return response


def _forget(exc) -> None:
    token = g.pop("request_id_token", None)
    if token is not None:
        REQUEST_ID.reset(token)


class DatabaseFigures:
    """The figures the database holds, read at each scrape."""

    def describe(self):
        return []  # read only when scraped (not when registered: there may be no database yet)

    def collect(self):
        from app.db import db

        queries = {
            "depth": "SELECT count(*) FROM outbox WHERE processed_at IS NULL",
            "oldest": "SELECT min(created_at) FROM outbox WHERE processed_at IS NULL",
            "retried": "SELECT count(*) FROM outbox WHERE processed_at IS NULL AND relay_count > 1",
        }
        with db.engine.connect() as conn:
            depth = conn.execute(text(queries["depth"])).scalar()
            oldest = conn.execute(text(queries["oldest"])).scalar()
            retried = conn.execute(text(queries["retried"])).scalar()
            hooks = conn.execute(text(
                "SELECT endpoint_id, status, count(*) FROM webhook_deliveries GROUP BY endpoint_id, status")).all()
            notes = conn.execute(text("SELECT channel, status, count(*) FROM notifications GROUP BY channel, status")).all()
        lag = 0.0
        if oldest is not None:  # naive UTC (SQLite gives it as text)
            oldest = datetime.fromisoformat(oldest) if isinstance(oldest, str) else oldest
            lag = max(0.0, (stored_utc(clock.now()) - oldest.replace(tzinfo=None)).total_seconds())
        yield GaugeMetricFamily("waybill_outbox_depth", "Outbox rows not yet done", value=depth)
        yield GaugeMetricFamily("waybill_outbox_lag_seconds", "Age of the oldest outbox row not yet done", value=lag)
        yield GaugeMetricFamily("waybill_outbox_retried", "Outbox rows not done and handed to the workers more "
                                "than once (a job that failed)", value=retried)
        webhooks = GaugeMetricFamily("waybill_webhook_deliveries", "Webhook deliveries by endpoint and status",
                                     labels=["endpoint", "status"])
        for endpoint, status, n in hooks:
            webhooks.add_metric([str(endpoint), status], n)
        yield webhooks
        messages = GaugeMetricFamily("waybill_notifications", "Customer messages by channel and status",
                                     labels=["channel", "status"])
        for channel, status, n in notes:
            messages.add_metric([channel, status], n)
        yield messages


class ProcessFigures:
    """The background processes that beat (``app.heartbeats``), by kind."""

    def describe(self):
        return []

    def collect(self):
        from app.health import processes

        alive = processes()
        if alive is None:
            return
        family = GaugeMetricFamily("waybill_processes_alive", "Background processes that beat within "
                                   "the last 15 s, by kind", labels=["kind"])
        for kind, places in alive.items():
            family.add_metric([kind], len(places))
        yield family


class FeedFigures:
    """Whether this web process hears the feed of shipment changes (``orders.feed``)."""

    def describe(self):
        return []

    def collect(self):
        from app.orders.feed import FEED

        state = FEED.state()
        if state in ("off", "idle"):
            return
        yield GaugeMetricFamily("waybill_tracking_feed_subscribed", "1 while this process hears shipment "
                                "changes (tracking answered from memory), 0 while it subscribes again",
                                value=1 if state == "subscribed" else 0)


REGISTRY.register(DatabaseFigures())
REGISTRY.register(ProcessFigures())
REGISTRY.register(FeedFigures())


@bp.get("/metrics")
def metrics():
    """Prometheus' text format, for the metrics token or a signed-in admin (404 for anyone
    else: the address is not advertised)."""
    token = current_app.config.get("WAYBILL_METRICS_TOKEN")
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    allowed = (token and given and hmac.compare_digest(given.encode(), token.encode())) or (
        current_user.is_authenticated and current_user.role == "admin")
    if not allowed:
        abort(404)
    return Response(generate_latest(REGISTRY), mimetype="text/plain; version=0.0.4")
