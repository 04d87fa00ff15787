"""/api/v1/orders: take orders (idempotently) and read them back."""
from __future__ import annotations

import base64

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.auth import Unauthorized, authenticate
from app.api.errors import ApiError
from app.api.idempotency import idempotent
from app.api.schemas import (
    ApiErrorSchema,
    CancelSchema,
    OrderCreateSchema,
    OrderPageSchema,
    OrderQuerySchema,
    OrderSchema,
)
from app.db import db
from app.orders.intake import AddressIn, ContactIn, IntakeError, OrderIn, ParcelIn, create_order
from app.orders.reads import list_orders, order_resource, shipment_id_of
from app.orders.shipments import TransitionError, transition

blp = Blueprint("orders", __name__, url_prefix="/api/v1/orders",
                description="Orders a partner hands to Waybill, and their shipments")


def require_partner():
    """Before every API request: the partner of the key, or 401."""
    try:
        authenticate()
    except Unauthorized as exc:
        raise ApiError(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


blp.before_request(require_partner)


def _contact(data: dict) -> ContactIn:
    return ContactIn(name=data["name"], phone=data["phone"], email=data.get("email"),
                     address=AddressIn(**data["address"]))


def parcel_in(p: dict) -> ParcelIn:
    declared = p.get("declared_value") or {}
    return ParcelIn(weight_grams=p["weight_grams"], length_cm=p["length_cm"], width_cm=p["width_cm"],
                    height_cm=p["height_cm"], declared_value_amount=declared.get("amount", 0),
                    declared_value_currency=declared.get("currency"))


def order_in(data: dict) -> OrderIn:
    """The API body as the intake service takes it."""
    cod = data.get("cod") or {}
    return OrderIn(
        reference=data["reference"], service_level=data["service_level"],
        pickup=_contact(data["pickup"]), dropoff=_contact(data["dropoff"]),
        parcels=[parcel_in(p) for p in data["parcels"]],
        cod_amount=cod.get("amount", 0), cod_currency=cod.get("currency"),
    )


def _cursor(order_id: int | None) -> str | None:
    return None if order_id is None else base64.urlsafe_b64encode(f"o:{order_id}".encode()).decode()


def _before_id(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "o":
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ApiError(422, "validation_failed", "cursor is not one Waybill gave",
                   details={"query": {"cursor": ["not a cursor from a previous page"]}})


@blp.route("")
class Orders(MethodView):
    @blp.arguments(OrderQuerySchema, location="query")
    @blp.response(200, OrderPageSchema)
    def get(self, query):
        """Your orders, newest first, a page at a time: pass `next_cursor` back as `cursor`."""
        page, last = list_orders(
            db.session, g.partner.id, status=query.get("status"), reference=query.get("reference"),
            created_since=query.get("created_since"), updated_since=query.get("updated_since"),
            before_id=_before_id(query.get("cursor")), limit=query["limit"])
        return {"data": page, "next_cursor": _cursor(last)}

    @blp.arguments(OrderCreateSchema)
    @blp.response(201, OrderSchema)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Idempotency-Key missing")
    @blp.alt_response(409, schema=ApiErrorSchema, description="The first request with this key is still running")
    @blp.alt_response(422, schema=ApiErrorSchema, description="Invalid order, or key reused with another body")
    @blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": True,
                          "schema": {"type": "string", "maxLength": 255},
                          "description": "A unique key per order (a UUID); a retry with the same key "
                                         "and body returns the first response"}])
    def post(self, data):
        """Take an order. Retries with the same Idempotency-Key return the first response
        with `Idempotent-Replayed: true`."""
        partner = g.partner

        def work():
            try:
                created = create_order(db.session, partner, order_in(data),
                                       actor=f"partner:{partner.id}")
            except IntakeError as exc:
                raise ApiError(422, "order_rejected", str(exc), details=exc.errors) from None
            return OrderSchema().dump(order_resource(db.session, partner.id, created.order_id)), 201

        return idempotent(partner.id, work)


@blp.route("/<int:order_id>")
class OrderById(MethodView):
    @blp.response(200, OrderSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """One of your orders."""
        found = order_resource(db.session, g.partner.id, order_id)
        if found is None:
            raise ApiError(404, "not_found", f"no order {order_id}")
        return found


@blp.route("/<int:order_id>/cancel")
class CancelOrder(MethodView):
    @blp.arguments(CancelSchema)
    @blp.response(200, OrderSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="Already picked up: too late to cancel")
    def post(self, data, order_id):
        """Cancel an order that has not been picked up yet."""
        partner = g.partner
        shipment_id = shipment_id_of(db.session, partner.id, order_id)
        if shipment_id is None:
            raise ApiError(404, "not_found", f"no order {order_id}")
        try:
            transition(db.session, shipment_id, "cancel", actor=f"partner:{partner.id}",
                       reason=data["reason"])
        except TransitionError as exc:
            db.session.rollback()
            raise ApiError(409, "not_cancellable", str(exc)) from None
        db.session.commit()
        return order_resource(db.session, partner.id, order_id)
