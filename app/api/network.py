"""/api/v1/hubs, /api/v1/quotes and /api/v1/tracking: the network, prices, where a parcel is."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.errors import ApiError
from app.api.orders import parcel_in as _parcel
from app.api.orders import require_partner
from app.api.schemas import (
    ApiErrorSchema,
    HubSchema,
    QuoteRequestSchema,
    QuoteSchema,
    TrackingSchema,
)
from app.billing.rating import lines_in_words
from app.db import db
from app.hubs.routing import load_network
from app.orders.intake import AddressIn, IntakeError, price
from app.orders.promise_words import described
from app.orders.reads import tracking_resource

blp = Blueprint("network", __name__, url_prefix="/api/v1", description="The network and tracking")
blp.before_request(require_partner)


@blp.route("/hubs")
class Hubs(MethodView):
    @blp.response(200, HubSchema(many=True))
    def get(self):
        """The shipping centres and local hubs you can ship within, with their delivery radii."""
        return [{"code": h.code, "name": h.name, "kind": h.kind.value, "lat": h.lat, "lon": h.lon,
                 "delivery_radius_km": h.radius_km} for h in load_network(db.session)]


@blp.route("/tracking/<tracking_number>")
class Tracking(MethodView):
    @blp.response(200, TrackingSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, tracking_number):
        """Public status, promised date and every event of one of your shipments."""
        with db.read_session() as session:
            found = tracking_resource(session, g.partner.id, tracking_number)
        if found is None:
            raise ApiError(404, "not_found", f"no shipment {tracking_number}")
        return found


@blp.route("/quotes")
class Quotes(MethodView):
    @blp.arguments(QuoteRequestSchema())
    @blp.response(200, QuoteSchema())
    @blp.alt_response(422, schema=ApiErrorSchema, description="The network cannot take it")
    def post(self, data):
        """Price and promised date of a prospective order: the same rate the order will be
        charged when it is placed today."""
        try:
            priced = price(db.session, g.partner, AddressIn(**data["pickup"]), AddressIn(**data["dropoff"]),
                           [_parcel(p) for p in data["parcels"]], data["service_level"],
                           cod_amount=(data.get("cod") or {}).get("amount") or 0)
        except IntakeError as exc:
            raise ApiError(422, "not_serviceable", str(exc), details=exc.errors) from None
        rated = priced.rate
        return {"service_level": data["service_level"], "fee": priced.fee.as_dict(),
                "net": {"amount": rated.net, "currency": priced.fee.currency},
                "vat": {"amount": rated.vat, "currency": priced.fee.currency, "rate_percent": rated.breakdown["vat_bp"] / 100},
                "lines": [{"code": line["code"], "description": line["words"],
                           "amount": {"amount": line["amount"], "currency": priced.fee.currency}}
                          for line in lines_in_words(rated.breakdown)],
                "zone": rated.breakdown.get("zone"),
                "promised_date": priced.promised_date, "promise": described(priced.promised_date, priced.promise.basis),
                "route": priced.plan.kind,
                "delivery_hub": priced.plan.delivery_hub.code, "distance_km": priced.plan.distance_km,
                "billable_grams": priced.grams}
