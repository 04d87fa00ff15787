"""/api/v1/hubs, /api/v1/quotes and /api/v1/tracking: the network, prices, where a parcel is."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app import clock
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
from app.orders.feed import FEED
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
    """Tracking answers as sent, per (partner, tracking number, language), each with the
    shipment's id and the version it was read at. Per process, bounded.

    An answer is *trusted* (sent without asking the database anything) while the feed of
    shipment changes has held since before it was read (same epoch) and for at most
    ``TRUSTED_FOR`` seconds; the feed drops it the moment its shipment changes. Otherwise it
    serves a reader who asked the database for the version and found it unchanged (which
    trusts it again)."""

    #: The bound on an answer kept on the strength of the feed alone (a change whose message
    #: was lost — its writer died between commit and publish — shows within it).
    TRUSTED_FOR = 30.0

    def __init__(self, size: int = 50_000):
        self.size, self._lock = size, threading.Lock()
        self._kept: OrderedDict[tuple, list] = OrderedDict()  # key -> [sid, version, body, epoch, at]
        self._keys: dict[int, set] = {}  # shipment id -> its keys
        self._latest: OrderedDict[int, int] = OrderedDict()  # shipment id -> newest version heard

    def holds(self, key) -> bool:
        return key in self._kept

    def trusted(self, key, epoch: int | None, now: float) -> tuple[int, int, bytes] | None:
        """(shipment id, version, body) sent without a read, or None."""
        if epoch is None:
            return None
        found = self._kept.get(key)
        if found is None or found[3] != epoch or now - found[4] > self.TRUSTED_FOR:
            return None
        return found[0], found[1], found[2]

    def get(self, key, version: int, *, epoch: int | None = None, at: float = 0.0) -> bytes | None:
        """The body kept at ``version`` (just read from the database, the read begun at
        ``at`` under ``epoch``), trusted again from then on."""
        with self._lock:
            found = self._kept.get(key)
            if found is None or found[1] != version:
                return None
            if self._latest.get(found[0], 0) <= version:
                found[3], found[4] = epoch, at
            self._kept.move_to_end(key)
            return found[2]

    def put(self, key, shipment_id: int, version: int, body: bytes, *, epoch: int | None = None,
            at: float = 0.0) -> None:
        """Keep an answer read at ``version``, the read begun at ``at`` under ``epoch``. A
        change heard meanwhile (a newer version) leaves it untrusted."""
        with self._lock:
            if self._latest.get(shipment_id, 0) > version:
                epoch = None
            self._kept[key] = [shipment_id, version, body, epoch, at]
            self._kept.move_to_end(key)
            self._keys.setdefault(shipment_id, set()).add(key)
            while len(self._kept) > self.size:
                old, (sid, *_) = self._kept.popitem(last=False)
                self._unindex(sid, old)

    def changed(self, changes: dict[int, int]) -> None:
        """The feed: these shipments are now at these versions."""
        with self._lock:
            for sid, version in changes.items():
                if version > self._latest.get(sid, 0):
                    self._latest[sid] = version
                self._latest.move_to_end(sid)
                for key in list(self._keys.get(sid, ())):
                    if self._kept[key][1] < version:
                        del self._kept[key]
                        self._unindex(sid, key)
            while len(self._latest) > 2 * self.size:
                self._latest.popitem(last=False)

    def _unindex(self, sid: int, key) -> None:
        keys = self._keys.get(sid)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._keys[sid]

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._keys.clear()
            self._latest.clear()


TRACKING_BODIES = Bodies()
FEED.on_change(TRACKING_BODIES.changed)
#: A reader asks again each time (the ETag makes an unchanged answer a 304 without a body).
TRACKING_CACHE_CONTROL = "private, no-cache"
_TRACKING_SCHEMA = TrackingSchema()


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
        # The promise is worded from the network's today ("delivered tomorrow"): an answer
        # is the day's as much as the version's.
        day = clock.today().isoformat()
        key = (g.partner.id, number, language, day)
        # Taken before anything is read: what is read from here on may be trusted under it.
        epoch, at = FEED.listening(), time.monotonic()
        kept = TRACKING_BODIES.trusted(key, epoch, at)
        if kept is not None:
            etag = f"{kept[0]}.{kept[1]}.{language}.{day}"
            return _tracked(304, etag) if request.if_none_match.contains(etag) else _tracked(200, etag, kept[2])
        with db.read_session() as session:
            # Only a reader who can use the version asks for it first (one who sends an ETag,
            # or whose answer this process keeps); else the answer is read at once.
            if request.if_none_match or TRACKING_BODIES.holds(key):
                stamp = tracking_stamp(session, g.partner.id, number)
                if stamp is None:
                    raise ApiError(404, "not_found", f"no shipment {tracking_number}")
                etag = f"{stamp[0]}.{stamp[1]}.{language}.{day}"
                body = TRACKING_BODIES.get(key, stamp[1], epoch=epoch, at=at)
                if request.if_none_match.contains(etag):
                    return _tracked(304, etag)
                if body is not None:
                    return _tracked(200, etag, body)
            found = tracking_resource(session, g.partner.id, number, versioned=True)
            if found is None:
                raise ApiError(404, "not_found", f"no shipment {tracking_number}")
            resource, (shipment_id, version) = found
            body = current_app.json.response(_TRACKING_SCHEMA.dump(resource)).get_data()
            TRACKING_BODIES.put(key, shipment_id, version, body, epoch=epoch, at=at)
            etag = f"{shipment_id}.{version}.{language}.{day}"
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
