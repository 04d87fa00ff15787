"""Rate limits per API key (Flask-Limiter): counted in Redis when Waybill has one, so that
every web process shares the count; in the process otherwise (the embedded mode).
A request over the limit gets 429 with Retry-After.

With Redis, a process counts a busy key ahead of Redis (``CountedAhead``): the first hit of
a key in a while is counted in Redis at once, the next ones in the process and added to
Redis's count ten times a second. A request then costs no round trip, and a key may go
over its limit by what other processes let through in the last tenth of a second."""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits.storage import RedisStorage, Storage

from app import clock
from app.crm.services import partner_for_api_key
from app.db import db


log = logging.getLogger("waybill.ratelimit")


class CountedAhead(Storage):
    """Fixed-window counts kept in Redis, counted ahead in the process (see the module).
    ``batched+redis://…``: the Redis URL behind the prefix."""

    STORAGE_SCHEME = ["batched+redis", "batched+rediss"]
    #: Counts made here reach Redis within this many seconds.
    FLUSH_EVERY = 0.1
    #: A key's count read from Redis is relied on this long (a busy key's is read again at
    #: every flush); older, the next hit is counted in Redis at once.
    KNOWN_FOR = 1.0

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.redis = RedisStorage(uri.split("+", 1)[1], wrap_exceptions=wrap_exceptions, **options)
        self._lock = threading.Lock()
        self._counts: dict[str, list] = {}  # key -> [count in Redis, counted here since, expiry, read at]
        self._flusher: threading.Thread | None = None
        self._pid: int | None = None

    @property
    def base_exceptions(self):
        return self.redis.base_exceptions

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.monotonic()
        with self._lock:
            count = self._counts.get(key)
            if count is not None and now - count[3] < self.KNOWN_FOR:
                count[1] += amount
                self._keep_flushing()
                return count[0] + count[1]
        total = self.redis.incr(key, expiry, amount)
        with self._lock:
            count = self._counts.setdefault(key, [total, 0, expiry, now])
            count[0], count[2], count[3] = total, expiry, now
            return total + count[1]

    def flush(self) -> None:
        """Add what was counted here to Redis's counts, and read them back."""
        with self._lock:
            due = [(key, count[1], count[2]) for key, count in self._counts.items() if count[1]]
            idle = [key for key, count in self._counts.items()
                    if not count[1] and time.monotonic() - count[3] > 60]
            for key in idle:
                del self._counts[key]
        for key, amount, expiry in due:
            total = self.redis.incr(key, expiry, amount)
            with self._lock:
                count = self._counts.get(key)
                if count is not None:
                    count[0], count[1], count[3] = total, count[1] - amount, time.monotonic()

    def _keep_flushing(self) -> None:
        if self._flusher is None or self._pid != os.getpid():  # a forked child flushes its own
            self._pid = os.getpid()
            self._flusher = threading.Thread(target=self._flush_forever, name="ratelimit-flush", daemon=True)
            self._flusher.start()

    def _flush_forever(self) -> None:
        while True:
            time.sleep(self.FLUSH_EVERY)
            try:
                self.flush()
            except Exception as exc:  # Redis away: the counts wait here for the next turn
                log.warning("rate-limit counts not added to Redis: %s", exc)

    def get(self, key: str) -> int:
        with self._lock:
            count = self._counts.get(key)
            if count is not None and time.monotonic() - count[3] < self.KNOWN_FOR:
                return count[0] + count[1]
        return self.redis.get(key)

    def get_expiry(self, key: str) -> float:
        return self.redis.get_expiry(key)

    def check(self) -> bool:
        return self.redis.check()

    def reset(self) -> int | None:
        with self._lock:
            self._counts.clear()
        return self.redis.reset()

    def clear(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)
        self.redis.clear(key)


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
    redis_url = app.config.get("REDIS_URL")
    app.config.setdefault("RATELIMIT_STORAGE_URI", f"batched+{redis_url}" if redis_url else "memory://")
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
