"""Rate limits per API key (Flask-Limiter): counted in Redis when Waybill has one, so that
every web process shares the count; in the process otherwise (the embedded mode).
A request over the limit gets 429 with Retry-After."""
from __future__ import annotations

import hashlib

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from app import clock
from app.crm.services import partner_for_api_key
from app.db import db


def _key() -> str:
    """The caller: the valid API key it authenticates with (however the header is
    spelled), its inbound URL, or else its address — so made-up keys and spellings of
    one key all share the sender's one allowance."""
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() == "bearer" and key and partner_for_api_key(db.session, key) is not None:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:24]
    if request.view_args and "token" in request.view_args:
        return "inbound:" + str(request.view_args["token"])
    return "ip:" + (get_remote_address() or "unknown")


#: Headers off: Flask-Limiter would read the window back from Redis for every answer. The
#: error handler adds Retry-After to a 429 (see ``retry_after``).
limiter = Limiter(key_func=_key, headers_enabled=False, strategy="fixed-window")
_limited: set[str] = set()


def init_app(app: Flask, blueprints) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", "waybill-ratelimit")
    limiter.init_app(app)
    for blueprint in blueprints:
        # Blueprints are module-level; a second app (tests make many) must not limit twice.
        if blueprint.name not in _limited:
            limiter.limit(lambda: current_app.config["WAYBILL_API_RATE_LIMIT"])(blueprint)
            _limited.add(blueprint.name)


def retry_after() -> int:
    """Seconds until the breached limit's window resets (for a 429's Retry-After)."""
    current = limiter.current_limit
    if current is None:
        return 1
    return max(1, int(current.reset_at - clock.timestamp()))
