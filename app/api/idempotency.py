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
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

from flask import jsonify, request
from sqlalchemy import bindparam, delete, insert, select, text
from sqlalchemy.exc import IntegrityError

from app import clock
from app.api.errors import ApiError
from app.api.models import IdempotencyKey
from app.db import db
from app.orders import intake_postgresql
from app.orders.intake import CreatedOrder, assign

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


# -- one order and its key in one statement (PostgreSQL) -----------------------------------

@dataclass(frozen=True)
class Once:
    """An idempotency key claimed by the statement that takes the order (PostgreSQL)."""

    partner_id: int
    key: str
    request_hash: str
    #: The key's advisory lock (``lock_id``).
    lock: int
    #: The answer to store for a taken reference.
    refused: dict


@dataclass(frozen=True)
class OnceResult:
    #: "created", "refused" (reference taken), "busy" (the key is in use right now),
    #: "answered" (the key was answered before: ``prior``) or "raced" (answered meanwhile).
    outcome: str
    created: CreatedOrder | None = None
    body: dict | None = None
    prior: tuple | None = None


def _once_sql(rows: dict):
    """The protocol above in one statement: take the key's advisory lock without waiting,
    read what the key holds, and only when it is free store the answer and write the
    order (intake's CTEs, gated on the key being stored with a 201)."""
    return text(f"""
WITH lock AS (SELECT pg_try_advisory_xact_lock(:k_lock) AS got),
prior AS (SELECT request_hash, response_status, response_body FROM idempotency_keys
          WHERE partner_id = :k_partner_id AND key = :k_key),
{intake_postgresql.TAKEN_CTE},
ids AS (SELECT {intake_postgresql.NEXT_ORDER_ID} AS order_id FROM lock
        WHERE lock.got AND NOT EXISTS (SELECT 1 FROM prior)),
k AS (INSERT INTO idempotency_keys (partner_id, key, request_hash, response_status, response_body, created_at)
  SELECT :k_partner_id, :k_key, :k_hash,
         CASE WHEN EXISTS (SELECT 1 FROM taken) THEN 422 ELSE 201 END,
         CASE WHEN EXISTS (SELECT 1 FROM taken) THEN CAST(:k_refused AS json)
              ELSE CAST(CAST(:k_body AS jsonb) || jsonb_build_object('id', ids.order_id) AS json) END,
         :now
  FROM ids
  ON CONFLICT (partner_id, key) DO NOTHING
  RETURNING response_status),
ok AS (SELECT ids.order_id FROM ids, k WHERE k.response_status = 201),
{intake_postgresql.order_ctes(rows, gate="FROM ok", id_from="ok")}
SELECT lock.got AS locked, prior.request_hash AS prior_hash, prior.response_status AS prior_status,
       prior.response_body AS prior_body, (SELECT response_status FROM k) AS key_status,
       (SELECT id FROM ord) AS order_id, (SELECT id FROM shp) AS shipment_id
FROM lock LEFT JOIN prior ON true""")


_ONCE_SQL: dict[tuple, object] = {}


def take_order_once(conn, partner_id: int, ready, once: Once, answer, *, actor: str) -> OnceResult:
    """Take one order prepared by ``intake.prepare_order`` and store the answer to its
    idempotency key in one statement, on a PostgreSQL connection in autocommit: one round
    trip, one commit. ``answer(created)`` makes the response body (its ``id`` is filled
    in by the statement)."""
    now = ready.rows["order"]["created_at"]
    assign(conn, partner_id, [ready])
    body = answer(ready.created(0, 0))
    body.pop("id", None)
    params = intake_postgresql.order_params(ready.rows, actor=actor, now=now)
    params.update(k_partner_id=once.partner_id, k_key=once.key, k_hash=once.request_hash, k_lock=once.lock,
                  k_body=json.dumps(body, default=str), k_refused=json.dumps(once.refused, default=str))
    sql = _ONCE_SQL.get(tuple(params))
    if sql is None:
        sql = _ONCE_SQL[tuple(params)] = _once_sql(ready.rows)
    row = conn.execute(sql, params).first()
    if not row.locked:
        return OnceResult("busy")
    if row.prior_status is not None:
        return OnceResult("answered", prior=(row.prior_hash, row.prior_status, row.prior_body))
    if row.key_status is None:
        return OnceResult("raced")
    if row.key_status != 201:
        return OnceResult("refused", body=once.refused)
    created = ready.created(row.order_id, row.shipment_id)
    return OnceResult("created", created=created, body={**body, "id": row.order_id})


def prune_idempotency_keys(session, *, before) -> int:
    """Forget keys made before ``before``."""
    return session.execute(delete(_keys).where(_keys.c.created_at < before)).rowcount
