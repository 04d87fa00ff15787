"""Read services for orders: what partners see of their own orders."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from app.crm.services import InvalidPhone, normalise_phone
from app.hubs.routing import hub_codes
from app.orders.lifecycle import PUBLIC_STATUS, public_status
from app.orders.models import Order, Shipment, ShipmentEvent
from app.orders.promise_words import described


def order_resource(session: Session, partner_id: int, order_id: int) -> dict | None:
    """The partner's view of one of its orders; None when the order is not theirs."""
    row = session.execute(
        select(Order, Shipment).join(Shipment, Shipment.order_id == Order.id)
        .where(Order.id == order_id, Order.partner_id == partner_id)
    ).first()
    if row is None:
        return None
    return {**_resource(*row), "charges": _charges(session, row[1].id)}


def _charges(session: Session, shipment_id: int) -> list[dict]:
    from app.billing.models import Charge, Invoice
    from app.billing.rating import lines_in_words

    out = []
    for charge, number in session.execute(
            select(Charge, Invoice.number).outerjoin(Invoice, Invoice.id == Charge.invoice_id)
            .where(Charge.shipment_id == shipment_id).order_by(Charge.id)):
        c = charge.currency
        out.append({"kind": charge.kind, "amount": {"amount": charge.amount, "currency": c},
                    "vat": {"amount": charge.vat_amount, "currency": c},
                    "lines": [{"code": line["code"], "description": line["words"],
                               "amount": {"amount": line["amount"], "currency": c}}
                              for line in lines_in_words(charge.breakdown or {})],
                    "invoice": number, "charged_at": charge.created_at})
    return out


def _resource(order: Order, shipment: Shipment) -> dict:
    return {
        "id": order.id, "reference": order.reference, "tracking_number": shipment.tracking_number,
        "status": public_status(shipment.status, shipment.outcome),
        "service_level": order.service_level, "route": shipment.route,
        "promised_date": shipment.promised_date,
        "promise": described(shipment.promised_date, shipment.promise_basis, first=shipment.first_promised_date,
                             revisions=shipment.promise_revisions),
        "fee": {"amount": shipment.quoted_fee_amount, "currency": shipment.quoted_fee_currency},
        "cod": ({"amount": order.cod_amount, "currency": order.cod_currency}
                if order.cod_amount else None),
        "created_at": order.created_at, "updated_at": shipment.updated_at,
    }


def created_resource(created) -> dict:
    """The partner's view of an order intake has just taken (an ``intake.CreatedOrder``),
    without reading it back."""
    return {
        "id": created.order_id, "reference": created.reference,
        "tracking_number": created.tracking_number,
        "status": public_status(created.status, None), "service_level": created.service_level,
        "route": created.route, "promised_date": created.promised_date,
        "promise": described(created.promised_date, created.promise_basis),
        "fee": {"amount": created.quote.amount, "currency": created.quote.currency},
        "cod": {"amount": created.cod.amount, "currency": created.cod.currency} if created.cod else None,
        "created_at": created.created_at, "updated_at": created.created_at,
    }


def _public_filter(status: str):
    """Where-clause for a public status (closed shipments count as how they ended)."""
    internal = [s.value for s, public in PUBLIC_STATUS.items() if public == status]
    clause = Shipment.status.in_(internal)
    if status in ("delivered", "returned"):
        clause = or_(clause, and_(Shipment.status == "closed",
                                  Shipment.outcome == ("delivered" if status == "delivered" else "returned")))
    return clause


def list_orders(session: Session, partner_id: int, *, status: str | None = None,
                reference: str | None = None, created_since: datetime | None = None,
                updated_since: datetime | None = None, before_id: int | None = None,
                search: str | None = None, limit: int = 50) -> tuple[list[dict], int | None]:
    """The partner's orders, newest first, and the id to continue before (None at the end).
    ``search``: a tracking number, the partner's reference or the recipient's phone."""
    stmt = (select(Order, Shipment).join(Shipment, Shipment.order_id == Order.id)
            .where(Order.partner_id == partner_id).order_by(Order.id.desc()).limit(limit + 1))
    if search:
        found = [Shipment.tracking_number == search.upper().replace(" ", ""), Order.reference == search]
        try:
            found.append(Order.recipient_phone == normalise_phone(search))
        except InvalidPhone:
            pass
        stmt = stmt.where(or_(*found))
    if status:
        stmt = stmt.where(_public_filter(status))
    if reference:
        stmt = stmt.where(Order.reference == reference)
    if created_since:
        stmt = stmt.where(Order.created_at >= created_since)
    if updated_since:
        stmt = stmt.where(Shipment.updated_at >= updated_since)
    if before_id:
        stmt = stmt.where(Order.id < before_id)
    rows = session.execute(stmt).all()
    page = [_resource(o, s) for o, s in rows[:limit]]
    return page, (page[-1]["id"] if len(rows) > limit else None)


def tracking_number_of(session: Session, shipment_id: int) -> str | None:
    return session.scalar(select(Shipment.tracking_number).where(Shipment.id == shipment_id))


def shipment_id_of(session: Session, partner_id: int, order_id: int) -> int | None:
    return session.scalar(select(Shipment.id).join(Order, Order.id == Shipment.order_id)
                          .where(Order.id == order_id, Order.partner_id == partner_id))


#: A shipment with its whole history in one round trip: a row per event.
_TRACKED = (select(Shipment.id, Shipment.tracking_number, Shipment.order_id, Shipment.status, Shipment.outcome,
                   Shipment.promised_date, Shipment.promise_basis, Shipment.first_promised_date,
                   Shipment.promise_revisions, Shipment.version,
                   ShipmentEvent.seq, ShipmentEvent.type, ShipmentEvent.to_status, ShipmentEvent.device_time,
                   ShipmentEvent.server_time, ShipmentEvent.hub_id, ShipmentEvent.reason, ShipmentEvent.applied)
            .outerjoin(ShipmentEvent, ShipmentEvent.shipment_id == Shipment.id)
            .where(Shipment.tracking_number == bindparam("number"), Shipment.partner_id == bindparam("partner_id"))
            .order_by(ShipmentEvent.seq))
_STAMP = (select(Shipment.id, Shipment.version)
          .where(Shipment.tracking_number == bindparam("number"), Shipment.partner_id == bindparam("partner_id")))


def tracking_stamp(session: Session, partner_id: int, tracking_number: str) -> tuple[int, int] | None:
    """(shipment id, version) of one of the partner's shipments, None when it is not
    theirs: what its tracking says changes only with its version (every event appended,
    a promise moved, bumps it), so a reader that holds the version holds the answer."""
    # Core on the session's connection: the ORM's execution adds more than the query costs.
    row = session.connection().execute(_STAMP, {"number": tracking_number.strip().upper(),
                                                "partner_id": partner_id}).first()
    return (row.id, row.version) if row is not None else None


def tracking_resource(session: Session, partner_id: int, tracking_number: str, *,
                      versioned: bool = False) -> dict | tuple[dict, tuple[int, int]] | None:
    """Public status, promised date and the whole event history of one of the partner's
    shipments (late scans included, flagged). None when it is not theirs. Columns, not
    ORM objects, one round trip: this is the API's most frequent read. ``versioned``: with
    the (shipment id, version) it was read at."""
    rows = session.connection().execute(_TRACKED, {"number": tracking_number.strip().upper(),
                                                   "partner_id": partner_id}).all()
    if not rows:
        return None
    shipment = rows[0]
    events = [e for e in rows if e.seq is not None]
    codes = hub_codes(session, {e.hub_id for e in events})
    resource = {
        "tracking_number": shipment.tracking_number, "order_id": shipment.order_id,
        "status": public_status(shipment.status, shipment.outcome),
        "promised_date": shipment.promised_date,
        "promise": described(shipment.promised_date, shipment.promise_basis, first=shipment.first_promised_date,
                             revisions=shipment.promise_revisions),
        "events": [{
            "seq": e.seq, "type": e.type, "status": public_status(e.to_status, shipment.outcome),
            "occurred_at": e.device_time or e.server_time, "recorded_at": e.server_time,
            "hub": codes.get(e.hub_id), "reason": e.reason, "late": not e.applied,
        } for e in events],
    }
    return (resource, (shipment.id, shipment.version)) if versioned else resource
