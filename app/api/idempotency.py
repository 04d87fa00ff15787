"""Idempotent POSTs: the same Idempotency-Key and body get the first response again.

The key is claimed in a short transaction of its own before the work starts, so a second
request with the key finds it at once: still running (409), finished (the stored response,
replayed), or used for another request (422). The response is stored in the transaction
that does the work, so an order and its stored answer commit together."""
from __future__ import annotations

import hashlib
from typing import Callable

from flask import jsonify, request
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from app.api.errors import ApiError
from app.api.models import IdempotencyKey
from app.db import db, utcnow

MAX_KEY_LENGTH = 255


def _request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.get_data()):
        digest.update(part + b"\0")
    return digest.hexdigest()


def idempotent(partner_id: int, work: Callable[[], tuple[dict, int]], *, key: str | None = None):
    """Run ``work`` once per (partner, key); returns a Flask response. The key is the
    Idempotency-Key header unless given (an inbound webhook's id)."""
    key = key if key is not None else request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ApiError(400, "idempotency_key_required",
                       "send an Idempotency-Key header (a UUID you make per order) so that a retry "
                       "never creates a second order")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "idempotency_key_too_long", f"Idempotency-Key is at most {MAX_KEY_LENGTH} characters")
    digest = _request_hash()
    session = db.session
    table = IdempotencyKey.__table__
    try:
        session.execute(insert(table).values(partner_id=partner_id, key=key, request_hash=digest,
                                             created_at=utcnow()))
        session.commit()
    except IntegrityError:
        session.rollback()
        return _answer_again(partner_id, key, digest)
    where = (table.c.partner_id == partner_id) & (table.c.key == key)
    try:
        body, status = work()
    except ApiError as exc:
        session.rollback()
        body, status = exc.body(), exc.status
    except BaseException:
        session.rollback()  # the key is released: a retry may try again
        session.execute(delete(table).where(where))
        session.commit()
        raise
    session.execute(table.update().where(where).values(response_status=status, response_body=body))
    session.commit()
    response = jsonify(body)
    response.status_code = status
    return response


def _answer_again(partner_id: int, key: str, digest: str):
    found = db.session.scalars(select(IdempotencyKey).where(
        IdempotencyKey.partner_id == partner_id, IdempotencyKey.key == key)).first()
    if found is None:  # the first request failed and released the key a moment ago
        raise ApiError(409, "request_in_progress", "retry this request", headers={"Retry-After": "1"})
    if found.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used for a different request; use a new key")
    if found.response_status is None:
        raise ApiError(409, "request_in_progress",
                       "a request with this Idempotency-Key is still running; retry shortly",
                       headers={"Retry-After": "1"})
    response = jsonify(found.response_body)
    response.status_code = found.response_status
    response.headers["Idempotent-Replayed"] = "true"
    return response


def prune_idempotency_keys(session, *, before) -> int:
    """Forget keys made before ``before`` (finished or not: a request never runs that long)."""
    table = IdempotencyKey.__table__
    return session.execute(delete(table).where(table.c.created_at < before)).rowcount
