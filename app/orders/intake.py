"""Order intake: one service behind every way an order arrives (API, inbound webhook,
CSV, console, simulation). It validates, places the addresses, plans the route, quotes
the fee, and creates the order, its parcels and its shipment. It flushes; the caller
commits."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.billing.money import Money
from app.crm import services as crm
from app.crm.models import Partner
from app.hubs.geocoding import normalise
from app.orders import intake_postgresql, promises
from app.orders.lifecycle import Status
from app.orders.models import Address, Order, Parcel, Shipment
# What intake takes, and where an order goes and what it costs: re-exported, since every
# surface names them as intake's.
from app.orders.order_in import (AddressIn, ContactIn, IntakeError, OrderIn, ParcelIn,  # noqa: F401
                                 check, reference_taken)
from app.orders.pricing import Priced, locate, locate_address, price  # noqa: F401
from app.orders.shipments import record_created
from app.orders.tracking import allocate_tracking_numbers

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
    #: Why the promised day (``orders.promises``).
    promise_basis: list | None = None


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
                            self.reference, order["service_level"], cod, order["created_at"],
                            self.rows["shipment"]["promise_basis"])


def _prepare(session: Session, partner: Partner, data: OrderIn, now: datetime) -> _Ready:
    """Check, place, route and price one order; raises IntakeError. Reads only."""
    errors = check(data, current_app.config["WAYBILL_CURRENCY"])
    if errors:
        raise IntakeError(errors)
    try:
        country = data.dropoff.address.country.upper()
        recipient_phone = crm.normalise_phone(data.dropoff.phone, country)
        pickup_phone = crm.normalise_phone(data.pickup.phone, data.pickup.address.country.upper())
    except crm.InvalidPhone as exc:
        raise IntakeError([{"field": "phone", "message": str(exc)}]) from None
    priced = price(session, partner, data.pickup.address, data.dropoff.address, data.parcels,
                   data.service_level, now=now, cod_amount=data.cod_amount or 0)
    places, plan, grams, quote = priced.places, priced.plan, priced.grams, priced.rate
    promises.count_in(session, plan.delivery_hub.id, priced.promised_date)  # a quote does not fill a day; an order does
    reference = data.reference.strip()
    rows = {
        "customer": {"phone": recipient_phone, "name": data.dropoff.name.strip(),
                     "email": data.dropoff.email.strip().lower() if data.dropoff.email else None},
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
            "quote": quote.breakdown,
            "promised_date": priced.promised_date, "first_promised_date": priced.promised_date,
            "promise_basis": priced.promise.basis, "promise_revisions": 0, "stage_since": now,
            "created_at": now, "updated_at": now},
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


def assign(conn, partner_id: int, batch: list[_Ready]) -> None:
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
    assign(conn, partner.id, [ready])
    # PostgreSQL finds a taken reference inside its one statement.
    order_id, shipment_id = intake_postgresql.write_order(conn, ready.rows, actor=actor, now=now)
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
            results[i] = reference_taken(r.reference)
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
                results[item[0]] = reference_taken(item[1].reference)
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
    assign(conn, partner_id, readies)
    if conn.dialect.name == "postgresql":
        order_ids, shipment_ids = intake_postgresql.write_batch(conn, [r.rows for r in readies], actor=actor, now=now)
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


def prepare_order(session: Session, partner: Partner, data: OrderIn, now: datetime | None = None) -> _Ready:
    """Check, place, route and price one order, reading only (mostly from caches); raises
    IntakeError. What ``app.api.idempotency.take_order_once`` writes."""
    return _prepare(session, partner, data, now or clock.now())


def address_row(a: AddressIn, placed) -> dict:
    return {"line1": a.line1.strip(), "line2": a.line2.strip(), "district": a.district.strip(),
            "city": a.city.strip(), "postal_code": a.postal_code.strip(), "country": a.country.upper(),
            "lat": placed.lat, "lon": placed.lon, "located_by": placed.located_by}


def insert_address(conn, row: dict) -> int:
    return conn.execute(_INSERT_ADDRESSES, row).scalar_one()




def add_pickup_location(session: Session, partner_id: int, *, name: str, phone: str, address: AddressIn) -> int:
    """A partner's pickup place before its first order (onboarding): ``address`` located
    already (``locate_address``, outside any transaction). The same place found again is
    the same location. Returns its id; flushes."""
    session.flush()
    conn = session.connection()
    key = _address_key(address)
    found = crm.find_pickup_location_id(conn, partner_id, key)
    if found is None:
        placed = address.placed
        if placed is None or isinstance(placed, Exception):
            raise IntakeError([{"field": "pickup.address", "message": f"cannot be placed on the map ({placed or 'not located'})"}])
        found = crm.add_pickup_location_id(conn, partner_id, name=name[:200], phone=phone[:32],
                                           address_id=insert_address(conn, address_row(address, placed)),
                                           address_key=key)
    return found
