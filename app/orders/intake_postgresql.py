"""Intake's PostgreSQL fast path: the same rows as the portable writer in ``intake``,
written in fewer round trips.

Intake on PostgreSQL is bound by round trips, not by work: the portable writer sends a
statement per table (seven for one order). Here one order is one statement (data-modifying
CTEs), and a batch is two (ids from the sequences, then every table's rows as JSON record
sets: a multi-row VALUES of thousands of parameters costs more to build and parse than to
run). The rows are those ``intake._prepare`` built, the customer upsert is crm's rule
(``crm.services.customer_upsert_sql``), and the first event and its outbox row are those of
``shipments.record_created``: the fast path decides nothing of its own.

The API's idempotency protocol (``app.api.idempotency.take_order_once``) wraps the same
CTEs in the statement that claims the key. Tested on PostgreSQL by ``make test`` whenever
``TEST_DATABASE_URL`` is set: every intake test runs on both databases.
"""
from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from app.crm.services import customer_upsert_sql
from app.db import stored_utc
from app.orders.lifecycle import CREATED_EVENT, Status
from app.orders.models import Address, Order, Parcel, Shipment
from app.outbox import REQUEST_ID
from app.orders.order_in import reference_taken

_orders, _parcels, _addresses, _shipments = (Order.__table__, Parcel.__table__, Address.__table__,
                                            Shipment.__table__)

#: A new order id, taken from the orders' sequence.
NEXT_ORDER_ID = "nextval(pg_get_serial_sequence('orders', 'id'))"
#: One row when the partner already has an order with the reference (``:o_partner_id``,
#: ``:o_reference``).
TAKEN_CTE = "taken AS (SELECT 1 FROM orders WHERE partner_id = :o_partner_id AND reference = :o_reference)"


#: The rows' columns that hold JSON.
JSON_COLUMNS = frozenset({"planned_legs", "quote", "promise_basis"})


def _plain(value):
    """A row's value as a statement parameter: timestamps as stored, lists as JSON."""
    if isinstance(value, datetime):
        return stored_utc(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def order_params(rows: dict, *, actor: str, now: datetime) -> dict:
    """The parameters of ``order_ctes`` for one order's rows."""
    params = {f"{prefix}_{k}": _plain(v) for prefix, name in (("c", "customer"), ("a", "address"),
                                                               ("o", "order"), ("s", "shipment"))
              for k, v in rows[name].items()}
    params.update(parcels=json.dumps(rows["parcels"]), actor=actor, now=stored_utc(now), request_id=REQUEST_ID.get())
    return params


def _cols(prefix: str, row: dict) -> tuple[str, str]:
    names = ", ".join(row)
    values = ", ".join(f"CAST(:{prefix}_{k} AS json)" if k in JSON_COLUMNS else f":{prefix}_{k}" for k in row)
    return names, values


def created_sql() -> str:
    """The first event (seq 1) and the webhook outbox row of the shipments in ``shp``."""
    return f"""ev AS (INSERT INTO shipment_events (shipment_id, seq, type, from_status, to_status, applied,
                                    actor, server_time)
  SELECT shp.id, 1, '{CREATED_EVENT}', NULL, '{Status.CREATED.value}', true, :actor, :now FROM shp),
obx AS (INSERT INTO outbox (topic, shipment_id, payload, created_at, relay_count, request_id)
  SELECT 'webhook', shp.id, json_build_object('shipment_id', shp.id, 'seq', 1), :now, 0, :request_id FROM shp)"""


def order_ctes(rows: dict, *, gate: str, id_from: str | None = None) -> str:
    """The CTEs that write one order's rows (cust, addr, ord, par, shp, ev, obx), with
    ``order_params``. ``gate`` is the clause (FROM or WHERE) that yields one row when the
    order is to be written and none otherwise; ``id_from``, a CTE whose ``order_id`` is
    the order's id (else the sequence gives it, and a taken reference writes nothing)."""
    a_cols, a_vals = _cols("a", rows["address"])
    o_cols, o_vals = _cols("o", rows["order"])
    s_cols, s_vals = _cols("s", rows["shipment"])
    if id_from:
        order = (f"INSERT INTO orders (id, {o_cols}, customer_id, dropoff_address_id) "
                 f"SELECT {id_from}.order_id, {o_vals}, cust.id, addr.id FROM {id_from}, cust, addr RETURNING id")
    else:
        order = (f"INSERT INTO orders ({o_cols}, customer_id, dropoff_address_id) "
                 f"SELECT {o_vals}, cust.id, addr.id FROM cust, addr "
                 "ON CONFLICT (partner_id, reference) DO NOTHING RETURNING id")
    customer = customer_upsert_sql(f"SELECT :c_phone, :c_name, :c_email, true, true, :now {gate}")
    return f"""cust AS ({customer}),
addr AS (INSERT INTO addresses ({a_cols}) SELECT {a_vals} {gate} RETURNING id),
ord AS ({order}),
par AS (INSERT INTO parcels (order_id, seq, weight_grams, length_cm, width_cm, height_cm,
                             declared_value_amount, declared_value_currency)
  SELECT ord.id, p.seq, p.weight_grams, p.length_cm, p.width_cm, p.height_cm,
         p.declared_value_amount, p.declared_value_currency
  FROM ord, jsonb_to_recordset(CAST(:parcels AS jsonb)) AS p(
    seq int, weight_grams int, length_cm int, width_cm int, height_cm int,
    declared_value_amount bigint, declared_value_currency text)),
shp AS (INSERT INTO shipments ({s_cols}, order_id) SELECT {s_vals}, ord.id FROM ord RETURNING id),
{created_sql()}"""


#: Statements by the shape of their rows (the columns given): built once each.
_SQL: dict[tuple, object] = {}


def write_order(conn, rows: dict, *, actor: str, now: datetime) -> tuple[int, int]:
    """One order's rows in one statement; (order id, shipment id). A reference the
    partner has taken writes nothing: IntakeError."""
    params = order_params(rows, actor=actor, now=now)
    sql = _SQL.get(tuple(params))
    if sql is None:
        sql = _SQL[tuple(params)] = text(
            f"WITH {TAKEN_CTE},\n{order_ctes(rows, gate='WHERE NOT EXISTS (SELECT 1 FROM taken)')}\n"
            "SELECT ord.id, shp.id FROM ord, shp")
    row = conn.execute(sql, params).first()
    if row is None:
        raise reference_taken(rows["order"]["reference"])
    return row[0], row[1]


_IDS = text(f"""SELECT nextval(pg_get_serial_sequence('addresses', 'id')), {NEXT_ORDER_ID},
  nextval(pg_get_serial_sequence('shipments', 'id'))
FROM generate_series(1, :n)""")


def _recordset(table, alias: str, names: list[str], source: str) -> tuple[str, str]:
    """``INSERT INTO table (names) SELECT alias.names FROM jsonb_to_recordset(:source)``:
    the column list and the SELECT, typed from the table."""
    dialect = postgresql.dialect()
    types = ", ".join(f"{n} {table.c[n].type.compile(dialect=dialect)}" for n in names)
    return (", ".join(names),
            f"SELECT {', '.join(f'{alias}.{n}' for n in names)} "
            f"FROM jsonb_to_recordset(CAST(:{source} AS jsonb)) AS {alias}({types})")


def _json_value(value):
    if isinstance(value, datetime):
        return stored_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_batch(conn, batch: list[dict], *, actor: str, now: datetime) -> tuple[list[int], list[int]]:
    """Many orders' rows in two round trips: ids taken from the sequences, then every
    row of every table in one statement. Returns (order ids, shipment ids) in order."""
    ids = conn.execute(_IDS, {"n": len(batch)}).all()
    customers = {rows["customer"]["phone"]: rows["customer"] for rows in batch}
    addresses, orders, parcels, shipments = [], [], [], []
    for rows, (address_id, order_id, shipment_id) in zip(batch, ids):
        addresses.append({**rows["address"], "id": address_id})
        orders.append({**rows["order"], "id": order_id, "dropoff_address_id": address_id})
        parcels += [{**p, "order_id": order_id} for p in rows["parcels"]]
        shipments.append({**rows["shipment"], "id": shipment_id, "order_id": order_id})
    sql = _SQL.get(("batch",))
    if sql is None:
        a_cols, a_select = _recordset(_addresses, "a", list(addresses[0]), "addresses")
        o_cols, o_select = _recordset(_orders, "o", list(orders[0]), "orders")
        p_cols, p_select = _recordset(_parcels, "p", list(parcels[0]), "parcels")
        s_cols, s_select = _recordset(_shipments, "s", list(shipments[0]), "shipments")
        customer = customer_upsert_sql("SELECT c.phone, c.name, c.email, true, true, :now FROM "
                                       "jsonb_to_recordset(CAST(:customers AS jsonb)) AS c(phone text, name text, email text)")
        sql = _SQL[("batch",)] = text(f"""
WITH cust AS ({customer}),
addr AS (INSERT INTO addresses ({a_cols}) {a_select}),
ord AS (INSERT INTO orders ({o_cols}, customer_id)
  SELECT o.*, cust.id FROM ({o_select}) AS o JOIN cust ON cust.phone = o.recipient_phone),
par AS (INSERT INTO parcels ({p_cols}) {p_select}),
shp AS (INSERT INTO shipments ({s_cols}) {s_select} RETURNING id),
{created_sql()}
SELECT count(*) FROM shp""")

    def dump(rows):
        return json.dumps([{k: _json_value(v) for k, v in row.items()} for row in rows])

    made = conn.execute(sql, {
        "customers": json.dumps(list(customers.values())), "addresses": dump(addresses),
        "orders": dump(orders), "parcels": dump(parcels), "shipments": dump(shipments),
        "actor": actor, "now": stored_utc(now), "request_id": REQUEST_ID.get()}).scalar_one()
    assert made == len(batch), (made, len(batch))
    return [i[1] for i in ids], [i[2] for i in ids]
