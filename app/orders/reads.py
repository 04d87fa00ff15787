"""Read services for orders: what partners see of their own orders."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.orders.lifecycle import public_status
from app.orders.models import Order, Shipment, ShipmentEvent


def order_resource(session: Session, partner_id: int, order_id: int) -> dict | None:
    """The partner's view of one of its orders; None when the order is not theirs."""
    row = session.execute(
        select(Order, Shipment).join(Shipment, Shipment.order_id == Order.id)
        .where(Order.id == order_id, Order.partner_id == partner_id)
    ).first()
    if row is None:
        return None
    order, shipment = row
    return {
        "id": order.id, "reference": order.reference, "tracking_number": shipment.tracking_number,
        "status": public_status(shipment.status, shipment.outcome),
        "service_level": order.service_level, "route": shipment.route,
        "promised_date": shipment.promised_date,
        "fee": {"amount": shipment.quoted_fee_amount, "currency": shipment.quoted_fee_currency},
        "cod": ({"amount": order.cod_amount, "currency": order.cod_currency}
                if order.cod_amount else None),
        "created_at": order.created_at,
    }


def shipment_id_of(session: Session, partner_id: int, order_id: int) -> int | None:
    return session.scalar(select(Shipment.id).join(Order, Order.id == Shipment.order_id)
                          .where(Order.id == order_id, Order.partner_id == partner_id))


def tracking_resource(session: Session, partner_id: int, tracking_number: str,
                      hub_codes: dict[int, str]) -> dict | None:
    """Public status, promised date and the whole event history of one of the partner's
    shipments (late scans included, flagged). None when it is not theirs."""
    shipment = session.scalars(select(Shipment).where(
        Shipment.tracking_number == tracking_number.strip().upper(),
        Shipment.partner_id == partner_id)).first()
    if shipment is None:
        return None
    events = session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)
                             .order_by(ShipmentEvent.seq))
    return {
        "tracking_number": shipment.tracking_number, "order_id": shipment.order_id,
        "status": public_status(shipment.status, shipment.outcome),
        "promised_date": shipment.promised_date,
        "events": [{
            "seq": e.seq, "type": e.type, "status": public_status(e.to_status, shipment.outcome),
            "occurred_at": e.device_time or e.server_time, "recorded_at": e.server_time,
            "hub": hub_codes.get(e.hub_id), "reason": e.reason, "late": not e.applied,
        } for e in events],
    }
