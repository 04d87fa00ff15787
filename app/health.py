"""Liveness and readiness: ``GET /healthz`` reports the database and the broker."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from app.db import db

bp = Blueprint("health", __name__)


def database_status() -> dict:
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"ok": True, "backend": db.backend}
    except Exception as exc:  # any failure means not ready; say which
        return {"ok": False, "backend": db.backend, "error": str(exc)[:200]}


def broker_status() -> dict:
    url = current_app.config.get("REDIS_URL")
    if not url:
        return {"ok": True, "kind": "in-process"}
    import redis

    client = current_app.extensions.get("waybill.redis")
    if client is None:  # one connection pool per process, not a connection per check
        client = current_app.extensions["waybill.redis"] = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
        return {"ok": True, "kind": "redis"}
    except redis.RedisError as exc:
        return {"ok": False, "kind": "redis", "error": str(exc)[:200]}


@bp.get("/healthz")
def healthz():
    checks = {"database": database_status(), "broker": broker_status()}
    ok = all(c["ok"] for c in checks.values())
    return jsonify(status="ok" if ok else "unavailable", **checks), 200 if ok else 503
