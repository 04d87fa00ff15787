"""Liveness and readiness: ``GET /healthz`` reports the database and the broker (its status
code says whether this web process can serve), and which background processes beat."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app import heartbeats
from app.db import db

bp = Blueprint("health", __name__)


def database_status() -> dict:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True, "backend": db.backend}
    except Exception as exc:  # any failure means not ready; say which
        return {"ok": False, "backend": db.backend, "error": str(exc)[:200]}


def redis_client():
    """This process's Redis client for checks (one pool per process), or None without Redis."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    import redis

    client = current_app.extensions.get("waybill.redis")
    if client is None:
        client = current_app.extensions["waybill.redis"] = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2)
    return client


def broker_status() -> dict:
    client = redis_client()
    if client is None:
        return {"ok": True, "kind": "in-process"}
    import redis

    try:
        client.ping()
        return {"ok": True, "kind": "redis"}
    except redis.RedisError as exc:
        return {"ok": False, "kind": "redis", "error": str(exc)[:200]}


def processes(*, host: str | None = None) -> dict[str, list[str]] | None:
    """The background processes alive now, by kind ("host:pid" each); None in the embedded
    mode (they are threads of the web process) or when Redis does not answer."""
    client = redis_client()
    if client is None:
        return None
    import redis

    try:
        return heartbeats.alive(client, host=host)
    except redis.RedisError:
        return None


@bp.get("/healthz")
def healthz():
    checks = {"database": database_status(), "broker": broker_status()}
    ok = all(c["ok"] for c in checks.values())
    # Informative: a web process serves whether or not the workers run (alerts watch them).
    alive = processes()
    counts = {kind: len(places) for kind, places in alive.items()} if alive is not None else None
    # Informative too: while the feed is down, tracking reads ask the database (slower, as right).
    from app.orders.feed import FEED

    return jsonify(status="ok" if ok else "unavailable", **checks, processes=counts,
                   tracking_feed=FEED.state()), 200 if ok else 503
