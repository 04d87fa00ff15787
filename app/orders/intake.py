"""Order intake: one service behind every way an order arrives (API, inbound webhook,
CSV, console, simulation). It validates, places the addresses, plans the route, quotes
the fee, and creates the order, its parcels and its shipment. It flushes; the caller
commits."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.billing.money import CurrencyError, Money, check_currency
from app.billing.rating import SERVICE_LEVELS, NoRate, billable_grams, rate, rate_card_for
from app.crm import services as crm
from app.crm.models import Partner
from app.hubs.geocoding import AddressNotPlaced, Placed, make_geocoder, normalise, place_address
from app.hubs.routing import NotServiceable, load_network, plan_route
from app.orders.lifecycle import Status
from app.orders.models import Address, Order, Parcel, Shipment
from app.orders.shipments import record_created
from app.orders.tracking import allocate_tracking_numbers

#: Days from order to promised delivery; same-day orders after the cut-off go next day.
TRANSIT_DAYS = {"same_day": 0, "express": 1, "standard": 2}
SAME_DAY_CUTOFF_HOUR = 12
MAX_PARCELS = 50


@dataclass
class AddressIn:
    line1: str
    city: str
    country: str
    line2: str = ""
    district: str = ""
    postal_code: str = ""
    lat: float | None = None
    lon: float | None = None
    #: Where ``locate`` put it (or why it could not), before any transaction was open.
    placed: Placed | AddressNotPlaced | None = field(default=None, compare=False, repr=False)


@dataclass
class ContactIn:
    name: str
    phone: str
    address: AddressIn
    email: str | None = None


@dataclass
class ParcelIn:
    weight_grams: int
    length_cm: int
    width_cm: int
    height_cm: int
    declared_value_amount: int = 0
    declared_value_currency: str | None = None


@dataclass
class OrderIn:
    reference: str
    service_level: str
    pickup: ContactIn
    dropoff: ContactIn
    parcels: list[ParcelIn] = field(default_factory=list)
    cod_amount: int = 0
    cod_currency: str | None = None


class IntakeError(ValueError):
    """The order cannot be taken; ``errors`` lists each problem with the field it is in."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


#: Field limits every surface shares (JSON, CSV, console, phone): the database's columns.
LIMITS = {"reference": 100, "name": 200, "phone": 32, "email": 254, "line1": 255, "line2": 255,
          "district": 120, "city": 120, "postal_code": 20}
MAX_GRAMS, MAX_CM = 1_000_000, 1000
#: The largest amount of money an order may name, in minor units.
MAX_AMOUNT = 10**15
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _text_problem(value) -> str | None:
    """What makes a string unstorable: not a string, a NUL, or a lone surrogate."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be text"
    if "\x00" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (a lone surrogate)"
    return None


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check(order: OrderIn, currency: str) -> list[dict]:
    """Every rule an order's fields must meet, whatever surface it came through; an error
    per field at fault. ``currency``: the one cash on delivery is collected in."""
    errors = []

    def bad(field_name, message):
        errors.append({"field": field_name, "message": message})

    def text(field_name, value, limit, *, required=False):
        problem = _text_problem(value)
        if problem:
            bad(field_name, problem)
        elif required and not (value or "").strip():
            bad(field_name, "is required")
        elif value and len(value) > limit:
            bad(field_name, f"is longer than {limit} characters")

    text("reference", order.reference, LIMITS["reference"], required=True)
    if order.service_level not in SERVICE_LEVELS:
        bad("service_level", f"must be one of {', '.join(SERVICE_LEVELS)}")
    for side in ("pickup", "dropoff"):
        contact: ContactIn = getattr(order, side)
        a = contact.address
        text(f"{side}.name", contact.name, LIMITS["name"], required=True)
        text(f"{side}.phone", contact.phone, LIMITS["phone"], required=True)
        text(f"{side}.email", contact.email, LIMITS["email"])
        if contact.email and not _text_problem(contact.email) and not _EMAIL.match(contact.email):
            bad(f"{side}.email", "is not an email address")
        for name in ("line1", "line2", "district", "city", "postal_code"):
            text(f"{side}.address.{name}", getattr(a, name), LIMITS[name], required=name in ("line1", "city"))
        if _text_problem(a.country) or len(a.country or "") != 2:
            bad(f"{side}.address.country", "must be an ISO 3166 two-letter code")
        for name, limit in (("lat", 90), ("lon", 180)):
            value = getattr(a, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not -limit <= value <= limit):
                bad(f"{side}.address.{name}", f"must be a number from -{limit} to {limit}")
    if not order.parcels:
        bad("parcels", "at least one parcel is required")
    if len(order.parcels) > MAX_PARCELS:
        bad("parcels", f"at most {MAX_PARCELS} parcels per order")
    for i, p in enumerate(order.parcels[:MAX_PARCELS]):
        if not _whole(p.weight_grams, 1, MAX_GRAMS):
            bad(f"parcels[{i}].weight_grams", f"must be a whole number from 1 to {MAX_GRAMS:,}")
        for name in ("length_cm", "width_cm", "height_cm"):
            if not _whole(getattr(p, name), 1, MAX_CM):
                bad(f"parcels[{i}].{name}", f"must be a whole number from 1 to {MAX_CM}")
        if not _whole(p.declared_value_amount, 0, MAX_AMOUNT):
            bad(f"parcels[{i}].declared_value.amount", "must be a whole number of minor units, not negative")
        elif p.declared_value_amount:
            try:
                check_currency(p.declared_value_currency or "")
            except CurrencyError as exc:
                bad(f"parcels[{i}].declared_value.currency", str(exc))
    if not _whole(order.cod_amount, 0, MAX_AMOUNT):
        bad("cod.amount", "must be a whole number of minor units, not negative")
    elif order.cod_amount and order.cod_currency != currency:
        bad("cod.currency", f"cash on delivery is collected in {currency}"
            + (f", not {order.cod_currency}" if order.cod_currency else ""))
    return errors


def promised_date(service_level: str, now: datetime, tz: ZoneInfo) -> date:
    local = now.astimezone(tz)
    days = TRANSIT_DAYS[service_level]
    if service_level == "same_day" and local.hour >= SAME_DAY_CUTOFF_HOUR:
        days = 1
    return local.date() + timedelta(days=days)


def _address_key(a: AddressIn) -> str:
    return normalise(" ".join((a.line1, a.line2, a.district, a.city, a.postal_code, a.country)))[:400]


_orders, _parcels, _addresses, _shipments = (Order.__table__, Parcel.__table__, Address.__table__,
                                            Shipment.__table__)
#: Statements built once: building them per order costs as much as running them.
_TAKEN_REFERENCES = select(_orders.c.reference).where(
    _orders.c.partner_id == bindparam("partner_id"),
    _orders.c.reference.in_(bindparam("references", expanding=True)))
_INSERT_ORDERS = insert(_orders).returning(_orders.c.id, sort_by_parameter_order=True)
_INSERT_PARCELS = insert(_parcels)
_INSERT_ADDRESSES = insert(_addresses).returning(_addresses.c.id, sort_by_parameter_order=True)
_INSERT_SHIPMENTS = insert(_shipments).returning(_shipments.c.id, sort_by_parameter_order=True)


@dataclass(frozen=True)
class CreatedOrder:
    order_id: int
    shipment_id: int
    tracking_number: str
    status: str
    route: str
    promised_date: date
    quote: Money
    reference: str = ""
    service_level: str = ""
    cod: Money | None = None
    created_at: datetime | None = None


@dataclass
class _Ready:
    """An order checked and priced: the rows to write, but for the ids the write makes."""

    reference: str
    pickup_key: str
    pickup_location: dict
    rows: dict
    route: str
    promised_date: date
    quote: Money

    def created(self, order_id: int, shipment_id: int) -> CreatedOrder:
        order = self.rows["order"]
        cod = Money(order["cod_amount"], order["cod_currency"]) if order["cod_amount"] else None
        return CreatedOrder(order_id, shipment_id, self.rows["shipment"]["tracking_number"],
                            Status.CREATED.value, self.route, self.promised_date, self.quote,
                            self.reference, order["service_level"], cod, order["created_at"])


def _prepare(session: Session, partner: Partner, data: OrderIn, now: datetime) -> _Ready:
    """Check, place, route and price one order; raises IntakeError. Reads only."""
    errors = _check(data, current_app.config["WAYBILL_CURRENCY"])
    if errors:
        raise IntakeError(errors)
    try:
        country = data.dropoff.address.country.upper()
        recipient_phone = crm.normalise_phone(data.dropoff.phone, country)
        pickup_phone = crm.normalise_phone(data.pickup.phone, data.pickup.address.country.upper())
    except crm.InvalidPhone as exc:
        raise IntakeError([{"field": "phone", "message": str(exc)}]) from None
    priced = price(session, partner, data.pickup.address, data.dropoff.address, data.parcels,
                   data.service_level, now=now)
    places, plan, grams, quote = priced.places, priced.plan, priced.grams, priced.rate
    reference = data.reference.strip()
    rows = {
        "customer": {"phone": recipient_phone, "name": data.dropoff.name.strip(),
                     "email": data.dropoff.email},
        "address": address_row(data.dropoff.address, places["dropoff"]),
        "order": {
            "partner_id": partner.id, "reference": reference, "service_level": data.service_level,
            "pickup_location_id": None, "recipient_name": data.dropoff.name.strip(),
            "recipient_phone": recipient_phone, "recipient_email": data.dropoff.email,
            "cod_amount": data.cod_amount or 0,
            "cod_currency": data.cod_currency if data.cod_amount else None,
            "created_at": now, "updated_at": now},
        "parcels": [
            {"seq": i + 1, "weight_grams": p.weight_grams, "length_cm": p.length_cm,
             "width_cm": p.width_cm, "height_cm": p.height_cm,
             "declared_value_amount": p.declared_value_amount,
             "declared_value_currency": p.declared_value_currency}
            for i, p in enumerate(data.parcels)],
        "shipment": {
            "partner_id": partner.id, "tracking_number": None,
            "status": Status.CREATED.value, "version": 1, "failed_attempts": 0, "last_event_seq": 1,
            "centre_id": plan.centre.id, "delivery_hub_id": plan.delivery_hub.id, "route": plan.kind,
            "planned_legs": list(plan.legs), "distance_km": plan.distance_km, "billable_grams": grams,
            "quoted_fee_amount": quote.amount.amount, "quoted_fee_currency": quote.amount.currency,
            "promised_date": priced.promised_date, "created_at": now, "updated_at": now},
    }
    location = {"name": data.pickup.name.strip(), "phone": pickup_phone,
                "address": address_row(data.pickup.address, places["pickup"])}
    return _Ready(reference, _address_key(data.pickup.address), location, rows, plan.kind,
                  priced.promised_date, quote.amount)


def _pickup_location_id(conn, partner_id: int, ready: _Ready) -> int:
    found = crm.find_pickup_location_id(conn, partner_id, ready.pickup_key)
    if found is None:
        place = ready.pickup_location
        found = crm.add_pickup_location_id(
            conn, partner_id, name=place["name"], phone=place["phone"],
            address_id=insert_address(conn, place["address"]), address_key=ready.pickup_key)
    return found


def _assign(conn, partner_id: int, batch: list[_Ready]) -> None:
    """Fill in what is allocated at write time: tracking numbers and pickup locations."""
    numbers = allocate_tracking_numbers(conn, len(batch))
    locations: dict[str, int] = {}
    for ready, number in zip(batch, numbers):
        if ready.pickup_key not in locations:
            locations[ready.pickup_key] = _pickup_location_id(conn, partner_id, ready)
        ready.rows["order"]["pickup_location_id"] = locations[ready.pickup_key]
        ready.rows["shipment"]["tracking_number"] = number


def create_order(session: Session, partner: Partner, data: OrderIn, *, actor: str,
                 now: datetime | None = None) -> CreatedOrder:
    """Take one order. Raises IntakeError naming every field that is wrong.

    The hot path of every single-order surface: on PostgreSQL the rows are written by
    one statement; elsewhere by one Core insert per table, as for a batch."""
    now = now or clock.now()
    ready = _prepare(session, partner, data, now)
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        [result] = create_orders(session, partner, [data], actor=actor, now=now, prepared=[ready],
                                 savepoint=False)
        if isinstance(result, IntakeError):
            raise result
        return result
    _assign(conn, partner.id, [ready])
    # PostgreSQL finds a taken reference inside its one statement.
    order_id, shipment_id = _write_postgresql(conn, ready.rows, actor=actor, now=now)
    return ready.created(order_id, shipment_id)


def create_orders(session: Session, partner: Partner, orders: list[OrderIn], *, actor: str,
                  now: datetime | None = None, prepared: list[_Ready] | None = None,
                  savepoint: bool = True) -> list[CreatedOrder | IntakeError]:
    """Take a batch of orders: one result per order, in order, a CreatedOrder or the
    IntakeError that refused it. Bad orders do not stop good ones.

    The good ones are written together, one statement per table. Should that fail on a
    reference another request took meanwhile, each is written again in a savepoint of its
    own, so only the order that collided is refused."""
    now = now or clock.now()
    results: list[CreatedOrder | IntakeError | None] = [None] * len(orders)
    ready: list[tuple[int, _Ready]] = []
    for i, data in enumerate(orders):
        try:
            ready.append((i, prepared[i] if prepared else _prepare(session, partner, data, now)))
        except IntakeError as exc:
            results[i] = exc
    conn = session.connection()
    taken = _taken_references(conn, partner.id, [r.reference for _, r in ready])
    fresh: list[tuple[int, _Ready]] = []
    for i, r in ready:
        if r.reference in taken:
            results[i] = _reference_taken(r.reference)
        else:
            taken.add(r.reference)  # a second order with the same reference in this batch
            fresh.append((i, r))
    if not fresh:
        return results
    if not savepoint:
        _write_batch(conn, partner.id, fresh, results, actor=actor, now=now)
        return results
    # The savepoint is begun when the session is next asked for its connection.
    try:
        with session.begin_nested():
            _write_batch(session.connection(), partner.id, fresh, results, actor=actor, now=now)
    except IntegrityError:
        for item in fresh:
            try:
                with session.begin_nested():
                    _write_batch(session.connection(), partner.id, [item], results, actor=actor, now=now)
            except IntegrityError:
                results[item[0]] = _reference_taken(item[1].reference)
    return results


def _taken_references(conn, partner_id: int, references: list[str]) -> set[str]:
    taken: set[str] = set()
    for i in range(0, len(references), 1000):
        taken.update(conn.execute(_TAKEN_REFERENCES, {"partner_id": partner_id,
                                                      "references": references[i:i + 1000]}).scalars())
    return taken


def _write_batch(conn, partner_id: int, batch: list[tuple[int, _Ready]], results: list, *,
                 actor: str, now: datetime) -> None:
    """One statement per table for the whole batch (on PostgreSQL, one statement in all);
    fills ``results``."""
    readies = [r for _, r in batch]
    _assign(conn, partner_id, readies)
    if conn.dialect.name == "postgresql":
        order_ids, shipment_ids = _write_batch_postgresql(conn, readies, actor=actor, now=now)
        for (i, ready), order_id, shipment_id in zip(batch, order_ids, shipment_ids):
            results[i] = ready.created(order_id, shipment_id)
        return
    customer_ids = crm.upsert_customers(conn, [r.rows["customer"] for r in readies])
    address_ids = _insert_many(conn, _INSERT_ADDRESSES, [r.rows["address"] for r in readies])
    order_ids = _insert_many(conn, _INSERT_ORDERS, [
        {**r.rows["order"], "customer_id": customer_ids[r.rows["customer"]["phone"]],
         "dropoff_address_id": address_id} for r, address_id in zip(readies, address_ids)])
    conn.execute(_INSERT_PARCELS, [{**p, "order_id": order_id}
                                   for r, order_id in zip(readies, order_ids) for p in r.rows["parcels"]])
    shipment_ids = _insert_many(conn, _INSERT_SHIPMENTS, [
        {**r.rows["shipment"], "order_id": order_id} for r, order_id in zip(readies, order_ids)])
    record_created(conn, shipment_ids, actor=actor, at=now)
    for (i, ready), order_id, shipment_id in zip(batch, order_ids, shipment_ids):
        results[i] = ready.created(order_id, shipment_id)


def _insert_many(conn, statement, rows: list[dict]) -> list[int]:
    if len(rows) == 1:  # a plain insert: no sentinel ordering needed
        return [conn.execute(statement, rows[0]).scalar_one()]
    return list(conn.execute(statement, rows).scalars())


@dataclass(frozen=True)
class Priced:
    """Where an order would go, what it would cost and when it would arrive."""

    places: dict
    plan: object
    grams: int
    rate: object
    promised_date: date

    @property
    def fee(self) -> Money:
        return self.rate.amount


def price(session: Session, partner: Partner, pickup: AddressIn, dropoff: AddressIn,
          parcels: list[ParcelIn], service_level: str, *, now: datetime | None = None) -> Priced:
    """Place both addresses, plan the route and rate it: what a quote shows and what the
    order is then charged. Raises IntakeError naming the field at fault."""
    now = now or clock.now()
    places = {}
    for side, a in (("pickup", pickup), ("dropoff", dropoff)):
        found = a.placed if a.placed is not None else _place(a)
        if isinstance(found, AddressNotPlaced):
            raise IntakeError([{"field": f"{side}.address", "message": str(found)}])
        places[side] = found
    try:
        plan = plan_route(load_network(session), (places["pickup"].lat, places["pickup"].lon),
                          (places["dropoff"].lat, places["dropoff"].lon))
    except NotServiceable as exc:
        raise IntakeError([{"field": "dropoff.address", "message": str(exc)}]) from None
    tz = clock.network_zone()
    grams = billable_grams(parcels)
    try:
        card = rate_card_for(session, service_level, partner.currency, now.astimezone(tz).date())
    except NoRate as exc:
        raise IntakeError([{"field": "service_level", "message": str(exc)}]) from None
    return Priced(places, plan, grams, rate(card, distance_km=plan.distance_km, grams=grams),
                  promised_date(service_level, now, tz))


def locate(orders) -> None:
    """Place every address of the orders, through the geocoder where it has no
    coordinates. The geocoder may be a network service (Nominatim, up to 10 s): surfaces
    call this before they open the transaction that takes the orders, so that none waits
    on it holding locks. What cannot be placed is kept, for intake to refuse."""
    for order in orders:
        for a in (order.pickup.address, order.dropoff.address):
            if a.placed is None:
                a.placed = _place(a)


def _place(a: AddressIn) -> Placed | AddressNotPlaced:
    try:
        return place_address(_geocoder(), line1=a.line1, city=a.city, country=a.country,
                             district=a.district, postal_code=a.postal_code, lat=a.lat, lon=a.lon)
    except AddressNotPlaced as exc:
        return exc


def _reference_taken(reference: str) -> IntakeError:
    return IntakeError([{"field": "reference", "message": f"{reference!r} is already an order"}])


def _cols(table, prefix: str, row: dict) -> tuple[str, str]:
    names = ", ".join(row)
    values = ", ".join(f"CAST(:{prefix}_{k} AS json)" if k == "planned_legs" else f":{prefix}_{k}"
                       for k in row)
    return names, values


def _write_postgresql(conn, rows: dict, *, actor: str, now: datetime, once: dict | None = None):
    """The same rows in one statement (a data-modifying CTE): one round trip instead of
    seven, which is what bounds intake on PostgreSQL. Customer upsert as in crm.services.
    A taken reference writes nothing and returns no row: IntakeError is raised.

    With ``once`` (see ``create_order_once``) the statement also claims the idempotency
    key: it takes the key's advisory lock without waiting, reads what the key holds, and
    writes the order and the key's answer only when the key is free; it returns a row
    saying which happened."""
    def plain(value):
        if isinstance(value, datetime):  # stored as naive UTC, as db.UTCDateTime does
            return value.astimezone(timezone.utc).replace(tzinfo=None)
        if isinstance(value, list):
            return json.dumps(value)
        return value

    params = {f"{prefix}_{k}": plain(v) for prefix, name in (("c", "customer"), ("a", "address"),
                                                              ("o", "order"), ("s", "shipment"))
              for k, v in rows[name].items()}
    params.update(parcels=json.dumps(rows["parcels"]), actor=actor, now=plain(now))
    if once:
        params.update(once)
    sql = _PG_SQL_CACHE.get(tuple(params))
    if sql is None and once:
        sql = _PG_SQL_CACHE[tuple(params)] = _once_sql(rows)
    if sql is None:
        a_cols, a_vals = _cols(_addresses, "a", rows["address"])
        o_cols, o_vals = _cols(_orders, "o", rows["order"])
        s_cols, s_vals = _cols(_shipments, "s", rows["shipment"])
        sql = _PG_SQL_CACHE[tuple(params)] = text(f"""
WITH taken AS (SELECT 1 FROM orders WHERE partner_id = :o_partner_id AND reference = :o_reference),
cust AS (
  INSERT INTO customers (phone, name, email, notify_email, notify_sms, created_at)
  SELECT :c_phone, :c_name, :c_email, true, true, :now WHERE NOT EXISTS (SELECT 1 FROM taken)
  ON CONFLICT (phone) DO UPDATE
    SET name = excluded.name, email = coalesce(excluded.email, customers.email)
  RETURNING id),
addr AS (INSERT INTO addresses ({a_cols}) SELECT {a_vals} WHERE NOT EXISTS (SELECT 1 FROM taken)
  RETURNING id),
ord AS (INSERT INTO orders ({o_cols}, customer_id, dropoff_address_id)
  SELECT {o_vals}, cust.id, addr.id FROM cust, addr
  ON CONFLICT (partner_id, reference) DO NOTHING RETURNING id),
{_after_order(s_cols, s_vals)}SELECT ord.id, shp.id FROM ord, shp""")
    row = conn.execute(sql, params).first()
    if once:
        return row
    if row is None:
        raise _reference_taken(rows["order"]["reference"])
    return row[0], row[1]


def _after_order(s_cols: str, s_vals: str) -> str:
    """The CTEs that follow the order row (``ord``): parcels, shipment, its first event
    and its webhook outbox row. Shared by both single-order statements."""
    return f"""par AS (INSERT INTO parcels (order_id, seq, weight_grams, length_cm, width_cm, height_cm,
                             declared_value_amount, declared_value_currency)
  SELECT ord.id, p.seq, p.weight_grams, p.length_cm, p.width_cm, p.height_cm,
         p.declared_value_amount, p.declared_value_currency
  FROM ord, jsonb_to_recordset(CAST(:parcels AS jsonb)) AS p(
    seq int, weight_grams int, length_cm int, width_cm int, height_cm int,
    declared_value_amount bigint, declared_value_currency text)),
shp AS (INSERT INTO shipments ({s_cols}, order_id) SELECT {s_vals}, ord.id FROM ord RETURNING id),
ev AS (INSERT INTO shipment_events (shipment_id, seq, type, from_status, to_status, applied,
                                    actor, server_time)
  SELECT shp.id, 1, 'created', NULL, 'created', true, :actor, :now FROM shp),
obx AS (INSERT INTO outbox (topic, shipment_id, payload, created_at, relay_count)
  SELECT 'webhook', shp.id, json_build_object('shipment_id', shp.id, 'seq', 1), :now, 0 FROM shp)
"""


def _once_sql(rows: dict):
    a_cols, a_vals = _cols(_addresses, "a", rows["address"])
    o_cols, o_vals = _cols(_orders, "o", rows["order"])
    s_cols, s_vals = _cols(_shipments, "s", rows["shipment"])
    return text(f"""
WITH lock AS (SELECT pg_try_advisory_xact_lock(:k_lock) AS got),
prior AS (SELECT request_hash, response_status, response_body FROM idempotency_keys
          WHERE partner_id = :k_partner_id AND key = :k_key),
taken AS (SELECT 1 FROM orders WHERE partner_id = :o_partner_id AND reference = :o_reference),
ids AS (SELECT nextval(pg_get_serial_sequence('orders', 'id')) AS order_id FROM lock
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
cust AS (
  INSERT INTO customers (phone, name, email, notify_email, notify_sms, created_at)
  SELECT :c_phone, :c_name, :c_email, true, true, :now FROM ok
  ON CONFLICT (phone) DO UPDATE
    SET name = excluded.name, email = coalesce(excluded.email, customers.email)
  RETURNING id),
addr AS (INSERT INTO addresses ({a_cols}) SELECT {a_vals} FROM ok RETURNING id),
ord AS (INSERT INTO orders (id, {o_cols}, customer_id, dropoff_address_id)
  SELECT ok.order_id, {o_vals}, cust.id, addr.id FROM ok, cust, addr RETURNING id),
{_after_order(s_cols, s_vals)}SELECT lock.got AS locked, prior.request_hash AS prior_hash, prior.response_status AS prior_status,
       prior.response_body AS prior_body, (SELECT response_status FROM k) AS key_status,
       (SELECT id FROM ord) AS order_id, (SELECT id FROM shp) AS shipment_id
FROM lock LEFT JOIN prior ON true""")


_PG_SQL_CACHE: dict[tuple, object] = {}


@dataclass(frozen=True)
class Once:
    """An idempotency key claimed by the statement that takes the order (PostgreSQL)."""

    partner_id: int
    key: str
    request_hash: str
    #: The key's advisory lock (``app.api.idempotency.lock_id``).
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


def prepare_order(session: Session, partner: Partner, data: OrderIn, now: datetime | None = None) -> _Ready:
    """Check, place, route and price one order, reading only (mostly from caches); raises
    IntakeError. What ``create_order_once`` writes."""
    return _prepare(session, partner, data, now or clock.now())


def create_order_once(conn, partner: Partner, ready: _Ready, once: Once, answer, *, actor: str) -> OnceResult:
    """Take one prepared order and store the answer to its idempotency key in one
    statement, on a PostgreSQL connection in autocommit: one round trip, one commit.
    ``answer(created)`` makes the response body (its ``id`` is filled in by the statement)."""
    now = ready.rows["order"]["created_at"]
    _assign(conn, partner.id, [ready])
    body = answer(ready.created(0, 0))
    body.pop("id", None)
    extra = {"k_partner_id": once.partner_id, "k_key": once.key, "k_hash": once.request_hash, "k_lock": once.lock,
             "k_body": json.dumps(body, default=str), "k_refused": json.dumps(once.refused, default=str)}
    row = _write_postgresql(conn, ready.rows, actor=actor, now=now, once=extra)
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

_PG_IDS = text("""SELECT nextval(pg_get_serial_sequence('addresses', 'id')),
  nextval(pg_get_serial_sequence('orders', 'id')), nextval(pg_get_serial_sequence('shipments', 'id'))
FROM generate_series(1, :n)""")


def _recordset(table, alias: str, names: list[str], source: str) -> tuple[str, str]:
    """``INSERT INTO table (names) SELECT alias.names FROM jsonb_to_recordset(:source)``:
    the column list and the SELECT, typed from the table."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    types = ", ".join(f"{n} {table.c[n].type.compile(dialect=dialect)}" for n in names)
    return (", ".join(names),
            f"SELECT {', '.join(f'{alias}.{n}' for n in names)} "
            f"FROM jsonb_to_recordset(CAST(:{source} AS jsonb)) AS {alias}({types})")


def _plain_json(value):
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _write_batch_postgresql(conn, readies: list[_Ready], *, actor: str, now: datetime) -> tuple[list, list]:
    """A batch in two round trips: ids taken from the sequences, then every row of every
    table in one statement, its rows passed as JSON record sets. (A multi-row VALUES of
    thousands of parameters costs more to build and parse than to run.)"""
    ids = conn.execute(_PG_IDS, {"n": len(readies)}).all()
    customers = {r.rows["customer"]["phone"]: r.rows["customer"] for r in readies}
    addresses, orders, parcels, shipments = [], [], [], []
    for ready, (address_id, order_id, shipment_id) in zip(readies, ids):
        rows = ready.rows
        addresses.append({**rows["address"], "id": address_id})
        orders.append({**rows["order"], "id": order_id, "dropoff_address_id": address_id})
        parcels += [{**p, "order_id": order_id} for p in rows["parcels"]]
        shipments.append({**rows["shipment"], "id": shipment_id, "order_id": order_id})
    sql = _PG_BATCH_SQL.get("sql")
    if sql is None:
        a_cols, a_select = _recordset(_addresses, "a", list(addresses[0]), "addresses")
        o_names = list(orders[0])
        o_cols, o_select = _recordset(_orders, "o", o_names, "orders")
        p_cols, p_select = _recordset(_parcels, "p", list(parcels[0]), "parcels")
        s_cols, s_select = _recordset(_shipments, "s", list(shipments[0]), "shipments")
        sql = _PG_BATCH_SQL["sql"] = text(f"""
WITH cust AS (
  INSERT INTO customers (phone, name, email, notify_email, notify_sms, created_at)
  SELECT c.phone, c.name, c.email, true, true, CAST(:now AS timestamp)
  FROM jsonb_to_recordset(CAST(:customers AS jsonb)) AS c(phone text, name text, email text)
  ON CONFLICT (phone) DO UPDATE
    SET name = excluded.name, email = coalesce(excluded.email, customers.email)
  RETURNING id, phone),
addr AS (INSERT INTO addresses ({a_cols}) {a_select}),
ord AS (INSERT INTO orders ({o_cols}, customer_id)
  SELECT o.*, cust.id FROM ({o_select}) AS o JOIN cust ON cust.phone = o.recipient_phone),
par AS (INSERT INTO parcels ({p_cols}) {p_select}),
shp AS (INSERT INTO shipments ({s_cols}) {s_select} RETURNING id),
ev AS (INSERT INTO shipment_events (shipment_id, seq, type, from_status, to_status, applied, actor, server_time)
  SELECT shp.id, 1, 'created', NULL, 'created', true, :actor, CAST(:now AS timestamp) FROM shp),
obx AS (INSERT INTO outbox (topic, shipment_id, payload, created_at, relay_count)
  SELECT 'webhook', shp.id, json_build_object('shipment_id', shp.id, 'seq', 1), CAST(:now AS timestamp), 0 FROM shp)
SELECT count(*) FROM shp""")

    def dump(rows):
        return json.dumps([{k: _plain_json(v) for k, v in row.items()} for row in rows])

    made = conn.execute(sql, {
        "customers": json.dumps(list(customers.values())), "addresses": dump(addresses),
        "orders": dump(orders), "parcels": dump(parcels), "shipments": dump(shipments),
        "actor": actor, "now": _plain_json(now)}).scalar_one()
    assert made == len(readies), (made, len(readies))
    return [i[1] for i in ids], [i[2] for i in ids]


_PG_BATCH_SQL: dict[str, object] = {}


def address_row(a: AddressIn, placed) -> dict:
    return {"line1": a.line1.strip(), "line2": a.line2.strip(), "district": a.district.strip(),
            "city": a.city.strip(), "postal_code": a.postal_code.strip(), "country": a.country.upper(),
            "lat": placed.lat, "lon": placed.lon, "located_by": placed.located_by}


def insert_address(conn, row: dict) -> int:
    return conn.execute(_INSERT_ADDRESSES, row).scalar_one()


_geocoders: dict = {}


def _geocoder():
    config = current_app.config
    key = (config["WAYBILL_GEOCODER"], config["NOMINATIM_URL"])
    if key not in _geocoders:
        _geocoders[key] = make_geocoder(config)
    return _geocoders[key]
