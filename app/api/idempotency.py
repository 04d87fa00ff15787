"""Idempotent POSTs: the same Idempotency-Key and body get the first response again.

The key, the work and the stored response are one transaction: an order and the answer
to its key commit together, or neither does (and a retry may try again). On PostgreSQL
the transaction first takes an advisory lock on the key without waiting, in the same
statement that reads the key: a second request while the first runs gets 409 at once;
after it, the stored response. Should two requests still both find the key free (one
committed between the other's read and lock), the unique key makes the second one's
insert fail, its work is rolled back, and it answers with the first one's response.
SQLite runs one writer at a time, so there the second simply finds the first's answer."""
from __future__ import annotations

import hashlib
from types import SimpleNamespace
from typing import Callable

from flask import jsonify, request
from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from app import clock
from app.api.errors import ApiError
from app.api.models import IdempotencyKey
from app.db import db

MAX_KEY_LENGTH = 255
_keys = IdempotencyKey.__table__
_FIND = select(_keys.c.request_hash, _keys.c.response_status, _keys.c.response_body).where(
    _keys.c.partner_id == bindparam("partner_id"), _keys.c.key == bindparam("key"))
_LOCK_AND_FIND_PG = text("""
SELECT pg_try_advisory_xact_lock(:lock) AS locked, k.request_hash, k.response_status, k.response_body
FROM (SELECT 1) AS one
LEFT JOIN idempotency_keys AS k ON k.partner_id = :partner_id AND k.key = :key""")
_STORE = insert(_keys)


def request_hash() -> str:
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), request.get_data()):
        digest.update(part + b"\0")
    return digest.hexdigest()


def lock_id(partner_id: int, key: str) -> int:
    """The advisory lock of a (partner, key): 64 bits of its hash, as PostgreSQL's bigint."""
    raw = hashlib.blake2b(f"{partner_id}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(raw, "big", signed=True)


def request_key() -> str:
    """The request's Idempotency-Key; ApiError 400 when missing or too long."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ApiError(400, "idempotency_key_required",
                       "send an Idempotency-Key header (a UUID you make per order) so that a retry "
                       "never creates a second order")
    if len(key) > MAX_KEY_LENGTH:
        raise ApiError(400, "idempotency_key_too_long", f"Idempotency-Key is at most {MAX_KEY_LENGTH} characters")
    return key


def idempotent(partner_id: int, work: Callable[[], tuple[dict, int]], *, key: str | None = None):
    """Run ``work`` once per (partner, key); returns a Flask response. The key is the
    Idempotency-Key header unless given (an inbound webhook's id)."""
    key = key if key is not None else request_key()
    digest = request_hash()
    session = db.session
    params = {"partner_id": partner_id, "key": key}
    if not _claim(session, params):
        return answer_again(partner_id, key, digest)
    try:
        body, status = work()
    except ApiError as exc:
        # A refusal is an answer too: stored, so a retry gets it again.
        session.rollback()
        if not _claim(session, params):
            return answer_again(partner_id, key, digest)
        body, status = exc.body(), exc.status
    except BaseException:
        session.rollback()  # nothing was stored: a retry may try again
        raise
    try:
        session.execute(_STORE, {**params, "request_hash": digest, "response_status": status,
                                 "response_body": body, "created_at": clock.now()})
        session.commit()
    except IntegrityError:
        session.rollback()  # the same key committed meanwhile: its answer stands, this work is undone
        return answer_again(partner_id, key, digest)
    response = jsonify(body)
    response.status_code = status
    return response


def _claim(session, params: dict) -> bool:
    """Hold the key for this transaction; False when it is in use or already answered."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        row = conn.execute(_LOCK_AND_FIND_PG, {**params, "lock": lock_id(params["partner_id"], params["key"])}).one()
        if not row.locked:
            session.rollback()
            raise ApiError(409, "request_in_progress",
                           "a request with this Idempotency-Key is still running; retry shortly",
                           headers={"Retry-After": "1"})
        return row.request_hash is None
    return conn.execute(_FIND, params).first() is None


def answer_again(partner_id: int, key: str, digest: str, found=None):
    if found is None:
        session = db.session
        found = session.execute(_FIND, {"partner_id": partner_id, "key": key}).first()
        session.rollback()
    if found is None:  # cannot happen once a key is stored; said plainly if it does
        raise ApiError(409, "request_in_progress", "retry this request", headers={"Retry-After": "1"})
    return replay(*found, digest=digest)


def replay(request_hash: str, status: int, body: dict, *, digest: str):
    """The stored answer to a key, for a request with body hash ``digest``."""
    found = SimpleNamespace(request_hash=request_hash, response_status=status, response_body=body)
    if found.request_hash != digest:
        raise ApiError(422, "idempotency_key_reused",
                       "this Idempotency-Key was used for a different request; use a new key")
    response = jsonify(found.response_body)
    response.status_code = found.response_status
    response.headers["Idempotent-Replayed"] = "true"
    return response


def prune_idempotency_keys(session, *, before) -> int:
    """Forget keys made before ``before``."""
    return session.execute(delete(_keys).where(_keys.c.created_at < before)).rowcount
