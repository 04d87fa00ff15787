"""Rate limits per API key (Flask-Limiter): counted in Redis when Waybill has one, so that
every web process shares the count; in the process otherwise (the embedded mode).
A request over the limit gets 429 with Retry-After."""
from __future__ import annotations

import hashlib

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def _key() -> str:
    """The caller: a digest of its API key (so a guessed prefix cannot spend another
    partner's allowance), its inbound URL, or its address when it sent neither."""
    auth = request.headers.get("Authorization")
    if auth:
        return "key:" + hashlib.sha256(auth.encode()).hexdigest()[:24]
    if request.view_args and "token" in request.view_args:
        return "inbound:" + str(request.view_args["token"])
    return "ip:" + (get_remote_address() or "unknown")


limiter = Limiter(key_func=_key, headers_enabled=True, strategy="fixed-window")
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
