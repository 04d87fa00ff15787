"""Read services for orders: what partners see of their own orders."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.orders.lifecycle import public_status
from app.orders.models import Order, Shipment


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
