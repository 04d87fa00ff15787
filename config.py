"""Waybill configuration, read from the environment.

Every setting has a default that runs the embedded product (SQLite, in-process worker,
mail and SMS logged); production sets the variables below.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Mapping

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else default


def env_int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env_str(env, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def env_choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(env, name, default)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env_str(env, name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key(env: Mapping[str, str]) -> str:
    key = env_str(env, "SECRET_KEY")
    if key:
        return key
    # The embedded default keeps a generated key in instance/ so sessions survive restarts.
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def _tiles(env: Mapping[str, str]) -> str:
    value = env_str(env, "WAYBILL_MAP_TILES", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
    return "" if value.strip().lower() == "none" else value


def from_env(env: Mapping[str, str] | None = None) -> dict:
    """Build the Flask config mapping from environment variables."""
    env = os.environ if env is None else env
    config = {
        "SECRET_KEY": _secret_key(env),
        #: SQLAlchemy URL; the embedded default is a SQLite file under instance/.
        "DATABASE_URL": env_str(env, "DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'waybill.db'}"),
        #: Unset means the in-process worker; set, dramatiq uses Redis.
        "REDIS_URL": env_str(env, "REDIS_URL"),
        #: Failed delivery attempts after which a shipment goes back to the sender.
        "WAYBILL_MAX_DELIVERY_ATTEMPTS": env_int(env, "WAYBILL_MAX_DELIVERY_ATTEMPTS", 3),
        #: Local time zone of the network: promised dates and the day of pickup runs.
        "WAYBILL_TIMEZONE": env_str(env, "WAYBILL_TIMEZONE", "Asia/Ho_Chi_Minh"),
        #: The language of pages and messages when neither the person nor the browser says
        #: ("vi" or "en").
        "WAYBILL_DEFAULT_LANGUAGE": env_str(env, "WAYBILL_DEFAULT_LANGUAGE", "vi"),
        #: When the office works, local time: the clocks of case SLAs run only then. Days
        #: not named, and the country's public holidays (``holidays``), are closed.
        "WAYBILL_BUSINESS_HOURS": env_str(env, "WAYBILL_BUSINESS_HOURS", "Mon-Fri 08:00-17:30; Sat 08:00-12:00"),
        #: Days past its promised day after which a parcel still on its way gets a case.
        "WAYBILL_LATE_CASE_DAYS": env_int(env, "WAYBILL_LATE_CASE_DAYS", 2),
        #: "text" (one readable line per event) or "json" (one JSON object a line, for a log store).
        "WAYBILL_LOG_FORMAT": "json" if env.get("WAYBILL_LOG_FORMAT", "text").lower() == "json" else "text",
        #: The bearer token Prometheus scrapes /metrics with (empty: admins only, signed in).
        "WAYBILL_METRICS_TOKEN": env.get("WAYBILL_METRICS_TOKEN") or None,
        #: Seconds a report's query may run before it is stopped.
        "WAYBILL_REPORT_TIMEOUT": env_int(env, "WAYBILL_REPORT_TIMEOUT", 30),
        #: A read replica for reports (empty: the database itself).
        "WAYBILL_REPLICA_URL": env.get("WAYBILL_REPLICA_URL") or None,
        #: ISO country whose public holidays close the office (and, later, the hubs).
        "WAYBILL_COUNTRY": env_str(env, "WAYBILL_COUNTRY", "VN"),
        #: Currency of fees when a partner has none of its own.
        "WAYBILL_CURRENCY": env_str(env, "WAYBILL_CURRENCY", "VND"),
        #: Base of links in customer messages and on labels (the public tracking page).
        #: Unset: the address ``serve`` listens on (``PORT``, default 5000, on 127.0.0.1).
        "WAYBILL_PUBLIC_URL": env_str(env, "WAYBILL_PUBLIC_URL", f"http://127.0.0.1:{env_int(env, 'PORT', 5000)}"),
        #: True when WAYBILL_PUBLIC_URL was given: ``serve`` then leaves it as it is.
        "WAYBILL_PUBLIC_URL_SET": env_str(env, "WAYBILL_PUBLIC_URL") is not None,
        #: "gazetteer" (offline, ships with Waybill) or "nominatim".
        "WAYBILL_GEOCODER": env_str(env, "WAYBILL_GEOCODER", "gazetteer"),
        "NOMINATIM_URL": env_str(env, "NOMINATIM_URL", "https://nominatim.openstreetmap.org"),
        "NOMINATIM_USER_AGENT": env_str(env, "NOMINATIM_USER_AGENT", "waybill"),
        #: Session cookies only over https (browsers treat http://localhost and 127.0.0.1 as
        #: secure, so the embedded mode works); off only behind nothing but plain http.
        "WAYBILL_SECURE_COOKIES": env_bool(env, "WAYBILL_SECURE_COOKIES", True),
        #: Map tiles for the console's maps (a Leaflet URL template); "none": no tiles, the
        #: hubs and routes drawn on a plain background (for networks without the internet).
        "WAYBILL_MAP_TILES": _tiles(env),
        #: Origin of those tiles, allowed by the Content-Security-Policy's img-src.
        "WAYBILL_MAP_TILE_ORIGIN": env_str(env, "WAYBILL_MAP_TILE_ORIGIN", "https://tile.openstreetmap.org"),
        #: Reverse proxies in front of the web processes (nginx, a load balancer) whose
        #: X-Forwarded-For/-Proto/-Host headers are believed: the client's address (rate
        #: limits, sign-in throttling, the audit log) and https (HSTS, secure cookies).
        "WAYBILL_TRUSTED_PROXIES": env_int(env, "WAYBILL_TRUSTED_PROXIES", 0),
        #: Public tracking pages per client address.
        "WAYBILL_TRACK_RATE_LIMIT": env_str(env, "WAYBILL_TRACK_RATE_LIMIT", "30 per minute; 300 per hour"),
        #: Requests per API key (Flask-Limiter syntax: "100 per second; 5000 per minute").
        "WAYBILL_API_RATE_LIMIT": env_str(env, "WAYBILL_API_RATE_LIMIT", "100 per second; 5000 per minute"),
        #: Outbound webhooks may go to loopback, private and link-local addresses, and over
        #: plain http: for tests and local development only.
        "WAYBILL_ALLOW_PRIVATE_WEBHOOKS": env_bool(env, "WAYBILL_ALLOW_PRIVATE_WEBHOOKS"),
        #: An endpoint that has failed every delivery for this many days is disabled.
        "WAYBILL_WEBHOOK_DISABLE_AFTER_DAYS": env_int(env, "WAYBILL_WEBHOOK_DISABLE_AFTER_DAYS", 5),
        #: Seconds the route optimiser may spend improving a hub's run sheets (0: first solution).
        "WAYBILL_ROUTE_SECONDS": env_int(env, "WAYBILL_ROUTE_SECONDS", 3),
        #: Where drivers' photos are kept (default: the instance folder's photos/).
        "WAYBILL_PHOTO_DIR": env_str(env, "WAYBILL_PHOTO_DIR"),
        #: The company on invoices, credit notes and statements.
        "WAYBILL_COMPANY_NAME": env_str(env, "WAYBILL_COMPANY_NAME", "Waybill Logistics JSC"),
        "WAYBILL_COMPANY_ADDRESS": env_str(env, "WAYBILL_COMPANY_ADDRESS",
                                           "2 Trường Sơn, Phường 2, Tân Bình, Thành phố Hồ Chí Minh"),
        "WAYBILL_COMPANY_TAX_ID": env_str(env, "WAYBILL_COMPANY_TAX_ID", ""),
        "WAYBILL_COMPANY_BANK": env_str(env, "WAYBILL_COMPANY_BANK", ""),
        #: A TrueType font for labels (Vietnamese letters need one; DejaVu Sans is looked for).
        "WAYBILL_LABEL_FONT": env_str(env, "WAYBILL_LABEL_FONT"),
        #: SMTP server for customer email; unset means messages are written to the log.
        "MAIL_SERVER": env_str(env, "MAIL_SERVER"),
        "MAIL_PORT": env_int(env, "MAIL_PORT", 25),
        "MAIL_USERNAME": env_str(env, "MAIL_USERNAME"),
        "MAIL_PASSWORD": env_str(env, "MAIL_PASSWORD"),
        "MAIL_USE_TLS": env_bool(env, "MAIL_USE_TLS"),
        "MAIL_FROM": env_str(env, "MAIL_FROM", "Waybill <no-reply@waybill.local>"),
        #: argon2id cost: RFC_9106_LOW_MEMORY (default) or RFC_9106_HIGH_MEMORY.
        "WAYBILL_PASSWORD_PROFILE": env_choice(env, "WAYBILL_PASSWORD_PROFILE", "RFC_9106_LOW_MEMORY",
                                               ("RFC_9106_LOW_MEMORY", "RFC_9106_HIGH_MEMORY")),
        #: Seconds an SMTP connection, command or reply may take.
        "MAIL_TIMEOUT": env_int(env, "MAIL_TIMEOUT", 15),
        #: "log" writes SMS to the log; gateways for real providers plug in behind SmsGateway.
        "SMS_GATEWAY": env_str(env, "SMS_GATEWAY", "log"),
        #: SMS_GATEWAY=http: where to POST each message, the bearer token, the sender
        #: (brand name) shown on the phone, and seconds a try may take.
        "SMS_GATEWAY_URL": env_str(env, "SMS_GATEWAY_URL"),
        "SMS_GATEWAY_TOKEN": env_str(env, "SMS_GATEWAY_TOKEN"),
        "SMS_SENDER": env_str(env, "SMS_SENDER", "Waybill"),
        "SMS_GATEWAY_TIMEOUT": env_int(env, "SMS_GATEWAY_TIMEOUT", 10),
        #: Seconds after which a relayed but unprocessed outbox row is handed over again.
        "OUTBOX_LEASE_SECONDS": env_int(env, "OUTBOX_LEASE_SECONDS", 300),
        #: Threads of the in-process worker (embedded mode).
        "WORKER_THREADS": env_int(env, "WORKER_THREADS", 4),
        #: PostgreSQL: months of shipment events kept before the hourly job drops the oldest
        #: month (0: every month kept; at least 13 otherwise).
        "WAYBILL_EVENT_RETENTION_MONTHS": env_int(env, "WAYBILL_EVENT_RETENTION_MONTHS", 0),
    }
    if 0 < config["WAYBILL_EVENT_RETENTION_MONTHS"] < 13:
        raise ValueError("WAYBILL_EVENT_RETENTION_MONTHS must be 0 (keep every month) or at least 13")
    return config
