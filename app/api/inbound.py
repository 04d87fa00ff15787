"""Inbound webhooks: ``/api/v1/inbound-webhook`` (set up, with an API key) and the URL a
partner's platform posts orders to, ``/api/v1/inbound/<token>/orders`` (signed)."""
from __future__ import annotations

import marshmallow as ma
from flask import g, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.errors import ApiError
from app.api.idempotency import idempotent
from app.api.orders import ORDER, ORDER_IN, order_in, require_partner
from app.api.schemas import (
    ApiErrorSchema,
    InboundEnvelopeSchema,
    InboundSetupSchema,
    OrderSchema,
)
from app.crm.models import Partner
from app.db import db
from app.orders.intake import IntakeError, create_order, locate
from app.orders.models import Order
from app.orders.reads import created_resource, order_resource
from app.orders.shipments import TransitionError, transition
from app.webhooks import inbound

setup_blp = Blueprint("inbound_setup", __name__, url_prefix="/api/v1",
                      description="Inbound webhooks: your platform pushes orders, signed")
setup_blp.before_request(require_partner)
blp = Blueprint("inbound", __name__, url_prefix="/api/v1/inbound",
                description="The URL your platform posts to (no API key: the signature is the proof)")


def _setup_body(record, secret=None) -> dict:
    return {"url": url_for("inbound.InboundOrders", token=record.token, _external=True), "secret": secret,
            "previous_secret_expires_at": record.previous_secret_expires_at, "created_at": record.created_at}


@setup_blp.route("/inbound-webhook")
class InboundSetup(MethodView):
    @setup_blp.response(200, InboundSetupSchema())
    @setup_blp.alt_response(404, schema=ApiErrorSchema, description="Not set up yet")
    def get(self):
        """Your inbound URL (the secret is not shown again)."""
        record = inbound.inbound_of(db.session, g.partner.id)
        if record is None:
            raise ApiError(404, "not_found", "no inbound webhook yet: POST to set one up")
        return _setup_body(record)

    @setup_blp.response(200, InboundSetupSchema())
    def post(self):
        """Set up your inbound URL, or rotate its secret: the answer shows the new secret
        once; the previous one is still accepted for 24 hours."""
        record, secret = inbound.set_up(db.session, g.partner)
        return _setup_body(record, secret)


@blp.route("/<token>/orders")
class InboundOrders(MethodView):
    @blp.response(201, OrderSchema, description="order.created: the order taken")
    @blp.alt_response(200, schema=OrderSchema, description="order.cancelled: the order, cancelled")
    @blp.alt_response(401, schema=ApiErrorSchema, description="Signature missing, wrong or too old")
    @blp.alt_response(404, schema=ApiErrorSchema, description="No such inbound URL, or no such order to cancel")
    @blp.alt_response(409, schema=ApiErrorSchema, description="Too late to cancel")
    @blp.alt_response(422, schema=ApiErrorSchema, description="The order cannot be taken")
    @blp.doc(security=[], requestBody={"required": True, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/InboundEnvelope"}}}}, parameters=[
        {"in": "header", "name": name, "required": True, "schema": {"type": "string"}}
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")])
    def post(self, token):
        """An event from your platform, signed per Standard Webhooks with your inbound
        secret: `{"type": "order.created", "data": <an order as for POST /orders>}` or
        `{"type": "order.cancelled", "data": {"reference": ..., "reason": ...}}`. The
        `webhook-id` makes it idempotent: a retry gets the first answer, never a second order."""
        record = inbound.by_token(db.session, token)
        if record is None:
            raise ApiError(404, "not_found", "no such inbound URL")
        try:
            payload = inbound.verify(record, request.get_data(), dict(request.headers))
        except inbound.SignatureRefused as exc:
            raise ApiError(401, "signature_refused", str(exc)) from None
        except inbound.PayloadRefused as exc:
            raise ApiError(422, "validation_failed", str(exc)) from None
        partner = db.session.get(Partner, record.partner_id)
        if partner is None or not partner.active:
            raise ApiError(404, "not_found", "no such inbound URL")
        g.partner = partner
        try:
            payload = InboundEnvelopeSchema().load(payload)
        except ma.ValidationError as exc:
            raise ApiError(422, "validation_failed", "the event is not valid: see details for each field",
                           details={"json": exc.messages}) from None
        webhook_id = request.headers["webhook-id"].strip()[:200]
        db.session.commit()  # the reads end here: no transaction is open while the geocoder works
        if payload["type"] == "order.created":
            order = _order(payload.get("data"))
            work = lambda: _created(partner, order)  # noqa: E731
        else:
            work = lambda: _cancelled(partner, payload.get("data"))  # noqa: E731
        return idempotent(partner.id, work, key=f"webhook:{webhook_id}")


def _order(data):
    """The order of an ``order.created`` event, its addresses placed (before any
    transaction: the geocoder may take seconds); or the ApiError that refuses it."""
    try:
        order = order_in(ORDER_IN.load(data if isinstance(data, dict) else {}))
    except ma.ValidationError as exc:
        return ApiError(422, "validation_failed", "the order is not valid: see details for each field",
                        details={"data": exc.messages})
    locate([order])
    return order


def _created(partner, order) -> tuple[dict, int]:
    if isinstance(order, ApiError):
        raise order
    try:
        created = create_order(db.session, partner, order, actor=f"inbound:{partner.id}")
    except IntakeError as exc:
        raise ApiError(422, "order_rejected", str(exc), details=exc.errors) from None
    return ORDER.dump(created_resource(created)), 201


def _cancelled(partner, data) -> tuple[dict, int]:
    data = data if isinstance(data, dict) else {}
    reference, reason = data.get("reference"), data.get("reason") or "cancelled by the partner's platform"
    if not isinstance(reference, str) or not reference.strip():
        raise ApiError(422, "validation_failed", "data.reference is required",
                       details={"data": {"reference": ["is required"]}})
    order = db.session.query(Order).filter_by(partner_id=partner.id, reference=reference.strip()).first()
    if order is None:
        raise ApiError(404, "not_found", f"no order {reference!r}")
    try:
        transition(db.session, order.shipment.id, "cancel", actor=f"inbound:{partner.id}", reason=str(reason)[:200])
    except TransitionError as exc:
        raise ApiError(409, "not_cancellable", str(exc)) from None
    return ORDER.dump(order_resource(db.session, partner.id, order.id)), 200
