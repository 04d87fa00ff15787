"""/api/v1/hubs, /api/v1/quotes and /api/v1/tracking: the network, prices, where a parcel is."""
from __future__ import annotations

import threading
from collections import OrderedDict

from flask import Response, current_app, g, request
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
from app.i18n import current_language
from app.orders.reads import tracking_resource, tracking_stamp

blp = Blueprint("network", __name__, url_prefix="/api/v1", description="The network and tracking")
blp.before_request(require_partner)


@blp.route("/hubs")
class Hubs(MethodView):
    @blp.response(200, HubSchema(many=True))
    def get(self):
        """The shipping centres and local hubs you can ship within, with their delivery radii."""
        return [{"code": h.code, "name": h.name, "kind": h.kind.value, "lat": h.lat, "lon": h.lon,
                 "delivery_radius_km": h.radius_km} for h in load_network(db.session)]


class Bodies:
    """Tracking answers as sent, per shipment and language, each with the version of the
    shipment it was read at: kept while the shipment's version stays (an applied event, a
    late scan, a promise moved each bump it, and so make it stale). Per process, bounded."""

    def __init__(self, size: int = 20_000):
        self.size, self._lock, self._kept = size, threading.Lock(), OrderedDict()

    def holds(self, key) -> bool:
        return key in self._kept

    def get(self, key, version: int) -> bytes | None:
        with self._lock:
            found = self._kept.get(key)
            if found is None or found[0] != version:
                return None
            self._kept.move_to_end(key)
            return found[1]

    def put(self, key, version: int, body: bytes) -> None:
        with self._lock:
            self._kept[key] = (version, body)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


TRACKING_BODIES = Bodies()
#: A reader asks again each time (the ETag makes an unchanged answer a 304 without a body).
TRACKING_CACHE_CONTROL = "private, no-cache"


def _tracked(status: int, etag: str, body: bytes = b"") -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = TRACKING_CACHE_CONTROL
    response.headers["Vary"] = "Accept-Language, Authorization"
    return response


@blp.route("/tracking/<tracking_number>")
class Tracking(MethodView):
    @blp.response(200, TrackingSchema(), headers={"ETag": {"description": "the answer's version: send it back "
                                                                          "as If-None-Match for a 304",
                                                           "schema": {"type": "string"}}})
    @blp.alt_response(304, description="Not changed since the ETag sent as If-None-Match")
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, tracking_number):
        """Public status, promised date and every event of one of your shipments. Answers
        carry an ETag: sent back as If-None-Match, an unchanged shipment answers 304."""
        number, language = tracking_number.strip().upper(), current_language()
        key = (g.partner.id, number, language)
        with db.read_session() as session:
            # Only a reader who can use the version asks for it first (one who sends an ETag,
            # or whose answer this process keeps); else the answer is read at once.
            if request.if_none_match or TRACKING_BODIES.holds(key):
                stamp = tracking_stamp(session, g.partner.id, number)
                if stamp is None:
                    raise ApiError(404, "not_found", f"no shipment {tracking_number}")
                etag = f"{stamp[0]}.{stamp[1]}.{language}"
                if request.if_none_match.contains(etag):
                    return _tracked(304, etag)
                body = TRACKING_BODIES.get(key, stamp[1])
                if body is not None:
                    return _tracked(200, etag, body)
            found = tracking_resource(session, g.partner.id, number, versioned=True)
            if found is None:
                raise ApiError(404, "not_found", f"no shipment {tracking_number}")
            resource, (shipment_id, version) = found
            body = current_app.json.response(TrackingSchema().dump(resource)).get_data()
            TRACKING_BODIES.put(key, version, body)
            etag = f"{shipment_id}.{version}.{language}"
        return _tracked(200, etag, body)


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
