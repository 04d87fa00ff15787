"""/api/v1/orders: take orders (idempotently) and read them back."""
from __future__ import annotations

import base64

import marshmallow as ma
from flask import current_app, g, jsonify, request
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.auth import Unauthorized, authenticate
from app.api.errors import ApiError
from app.api.idempotency import (Once, answer_again, idempotent, lock_id, replay, request_hash, request_key,
                                  take_order_once)
from app.api.schemas import (
    MAX_BULK_ORDERS,
    AddressChangeSchema,
    ApiErrorSchema,
    BulkOrdersSchema,
    BulkResultSchema,
    CancelSchema,
    CsvResultSchema,
    LabelsRequestSchema,
    OrderCreateSchema,
    OrderPageSchema,
    OrderQuerySchema,
    OrderSchema,
)
from app.db import MAX_ID, db
from app.orders import csv_import, labels
from app.orders.changes import ChangeRefused, change_dropoff_address
from app.orders.models import Order
from app.orders.intake import (
    AddressIn,
    ContactIn,
    IntakeError,
    OrderIn,
    ParcelIn,
    create_order,
    create_orders,
    locate,
    locate_address,
    prepare_order,
    reference_taken,
)
from app.orders.reads import created_resource, list_orders, order_resource, shipment_id_of
from app.orders.shipments import TransitionError, transition

#: Schemas made once: webargs and marshmallow would otherwise build them (and every nested
#: schema) again for each request, which costs more than the rest of the validation.
ORDER, ORDER_IN, BULK_RESULT = OrderSchema(), OrderCreateSchema(), BulkResultSchema()

blp = Blueprint("orders", __name__, url_prefix="/api/v1/orders",
                description="Orders a partner hands to Waybill, and their shipments")


def _take_once(partner, order: OrderIn, reference: str):
    """PostgreSQL's hot path: the order, its idempotency key and the stored answer in one
    statement on an autocommit connection (one round trip, one commit). None when the
    order is refused before writing: the general path then stores that answer."""
    key, digest = request_key(), request_hash()
    taken = reference_taken(reference.strip())
    refused = ApiError(422, "order_rejected", str(taken), details=taken.errors)
    once = Once(partner.id, key, digest, lock_id(partner.id, key), refused.body())
    try:
        ready = prepare_order(db.session, partner, order)
    except IntakeError:
        db.session.rollback()
        return None
    db.session.rollback()  # one connection per request: the session's goes back to the pool
    with db.reader.connect() as conn:
        result = take_order_once(conn, partner.id, ready, once, lambda created: ORDER.dump(created_resource(created)),
                                 actor=f"partner:{partner.id}")
    if result.outcome == "busy":
        raise ApiError(409, "request_in_progress", "a request with this Idempotency-Key is still running; "
                       "retry shortly", headers={"Retry-After": "1"})
    if result.outcome == "answered":
        return replay(*result.prior, digest=digest)
    if result.outcome == "raced":
        return answer_again(partner.id, key, digest)
    response = jsonify(result.body)
    response.status_code = 201 if result.outcome == "created" else 422
    return response


IDEMPOTENCY_HEADER = {"in": "header", "name": "Idempotency-Key", "required": True,
                      "schema": {"type": "string", "maxLength": 255},
                      "description": "A unique key per request (a UUID); a retry with the same key "
                                     "and body returns the first response"}


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


def make_cursor(last_id: int | None, kind: str = "o") -> str | None:
    return None if last_id is None else base64.urlsafe_b64encode(f"{kind}:{last_id}".encode()).decode()


def before_id(cursor: str | None, expected: str = "o") -> int | None:
    if not cursor:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == expected and value.isdigit() and 0 < int(value) <= MAX_ID:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ApiError(422, "validation_failed", "cursor is not one Waybill gave",
                   details={"query": {"cursor": ["not a cursor from a previous page"]}})


@blp.route("")
class Orders(MethodView):
    @blp.arguments(OrderQuerySchema(), location="query")
    @blp.response(200, OrderPageSchema())
    def get(self, query):
        """Your orders, newest first, a page at a time: pass `next_cursor` back as `cursor`."""
        with db.read_session() as session:
            page, last = list_orders(
                session, g.partner.id, status=query.get("status"), reference=query.get("reference"),
                created_since=query.get("created_since"), updated_since=query.get("updated_since"),
                before_id=before_id(query.get("cursor")), limit=query["limit"])
        return {"data": page, "next_cursor": make_cursor(last)}

    @blp.arguments(ORDER_IN)
    @blp.response(201, ORDER)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Idempotency-Key missing")
    @blp.alt_response(409, schema=ApiErrorSchema, description="The first request with this key is still running")
    @blp.alt_response(422, schema=ApiErrorSchema, description="Invalid order, or key reused with another body")
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    def post(self, data):
        """Take an order. Retries with the same Idempotency-Key return the first response
        with `Idempotent-Replayed: true`."""
        partner = g.partner
        order = order_in(data)
        locate([order])  # before any transaction: the geocoder may take seconds

        def work():
            try:
                created = create_order(db.session, partner, order, actor=f"partner:{partner.id}")
            except IntakeError as exc:
                raise ApiError(422, "order_rejected", str(exc), details=exc.errors) from None
            return ORDER.dump(created_resource(created)), 201

        if db.backend == "postgresql":
            answered = _take_once(partner, order, data["reference"])
            if answered is not None:
                return answered
        return idempotent(partner.id, work)


@blp.route("/bulk")
class BulkOrders(MethodView):
    @blp.arguments(BulkOrdersSchema())
    @blp.response(200, BULK_RESULT)
    @blp.alt_response(400, schema=ApiErrorSchema, description="Idempotency-Key missing")
    @blp.alt_response(409, schema=ApiErrorSchema, description="The first request with this key is still running")
    @blp.alt_response(422, schema=ApiErrorSchema, description="Not a list of 1 to 1,000 orders, or key reused")
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    def post(self, data):
        """Take up to 1,000 orders at once. Each is taken or refused on its own: one
        result per order, in the order sent; bad orders do not stop good ones."""
        partner = g.partner
        results, valid = _load_rows(data["orders"])
        locate([o for _, o in valid])  # before any transaction: the geocoder may take seconds

        def work():
            return BULK_RESULT.dump(_take_rows(partner, results, valid)), 200

        return idempotent(partner.id, work)


def _load_rows(rows: list[dict]) -> tuple[list[dict], list[tuple[int, OrderIn]]]:
    """Each row checked against the order schema: the results of those refused, and the others."""
    results: list[dict] = [{}] * len(rows)
    valid: list[tuple[int, OrderIn]] = []
    for i, row in enumerate(rows):
        try:
            valid.append((i, order_in(ORDER_IN.load(row))))
        except ma.ValidationError as exc:
            results[i] = {"index": i, "status": "rejected", "error": {
                "code": "validation_failed", "message": "the order is not valid: see details for each field",
                "details": exc.messages}}
    return results, valid


def _take_rows(partner, results: list[dict], valid: list[tuple[int, OrderIn]]) -> dict:
    results = list(results)
    taken = create_orders(db.session, partner, [o for _, o in valid], actor=f"partner:{partner.id}")
    for (i, _), outcome in zip(valid, taken):
        if isinstance(outcome, IntakeError):
            results[i] = {"index": i, "status": "rejected", "error": {
                "code": "order_rejected", "message": str(outcome), "details": outcome.errors}}
        else:
            results[i] = {"index": i, "status": "created", "order": created_resource(outcome)}
    created = sum(r["status"] == "created" for r in results)
    return {"created": created, "rejected": len(results) - created, "results": results}


CSV_BODY = {"required": True, "content": {"text/csv": {"schema": {"type": "string"}, "example": csv_import.template()}}}


@blp.route("/csv")
class CsvOrders(MethodView):
    @blp.response(200, CsvResultSchema())
    @blp.alt_response(400, schema=ApiErrorSchema, description="Idempotency-Key missing")
    @blp.alt_response(409, schema=ApiErrorSchema, description="The first request with this key is still running")
    @blp.alt_response(415, schema=ApiErrorSchema, description="The body is not text/csv")
    @blp.alt_response(422, schema=ApiErrorSchema, description="Not a CSV of orders (the message says why), or key reused")
    @blp.doc(parameters=[IDEMPOTENCY_HEADER], requestBody=CSV_BODY)
    def post(self):
        """Take the orders of a CSV file (UTF-8; one row per parcel, rows with the same
        `reference` one after another are one order; at most 1,000 orders). The columns
        are those of `GET /api/v1/orders/csv` (the template). One result per order, with
        the line and column of each problem."""
        partner = g.partner
        if request.mimetype not in ("text/csv", "text/plain"):
            raise ApiError(415, "unsupported_media_type", "send the file as the body with Content-Type: text/csv")
        try:
            text = request.get_data().decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(422, "invalid_csv", "the file is not UTF-8 text; save it as CSV UTF-8") from None

        try:
            parsed = csv_import.read_file(text, max_orders=MAX_BULK_ORDERS)
        except csv_import.CsvFileError as exc:
            parsed = exc

        def work():
            if isinstance(parsed, csv_import.CsvFileError):
                raise ApiError(422, "invalid_csv", str(parsed))
            rows = csv_import.take_parsed(db.session, partner, parsed, actor=f"partner:{partner.id}")
            return CsvResultSchema().dump(csv_result(rows)), 200

        return idempotent(partner.id, work)

    @blp.response(200, description="The CSV template: the header and one example order",
                  content_type="text/csv")
    def get(self):
        """The CSV template: every column Waybill reads and one example order."""
        return current_app.response_class(csv_import.template(), mimetype="text/csv",
                                          headers={"Content-Disposition": 'attachment; filename="waybill-orders.csv"'})


def csv_result(rows: list[csv_import.CsvRow]) -> dict:
    results = [{"line": r.line, "reference": r.reference,
                "status": "created" if r.created else "rejected",
                "order": created_resource(r.created) if r.created else None, "errors": r.errors}
               for r in rows]
    created = sum(1 for r in rows if r.created)
    return {"created": created, "rejected": len(results) - created, "results": results}


@blp.route("/<id:order_id>")
class OrderById(MethodView):
    @blp.response(200, OrderSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """One of your orders."""
        with db.read_session() as session:
            found = order_resource(session, g.partner.id, order_id)
        if found is None:
            raise ApiError(404, "not_found", f"no order {order_id}")
        return found


@blp.route("/<id:order_id>/cancel")
class CancelOrder(MethodView):
    @blp.arguments(CancelSchema())
    @blp.response(200, OrderSchema())
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
            raise ApiError(409, "not_cancellable", str(exc)) from None
        return order_resource(db.session, partner.id, order_id)


@blp.route("/<id:order_id>/address")
class ChangeAddress(MethodView):
    @blp.arguments(AddressChangeSchema())
    @blp.response(200, OrderSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="Too late to change the address")
    @blp.alt_response(422, schema=ApiErrorSchema, description="The new address cannot be placed or served")
    def post(self, data, order_id):
        """Change the drop-off address. Until the parcel leaves the shipping centre it may
        go anywhere the network reaches (the fee is priced again, with the rate card of the
        order's day); afterwards only to an address the same hub delivers."""
        partner = g.partner
        address = locate_address(AddressIn(**data["address"]))  # before any transaction: the geocoder may take seconds
        order = db.session.get(Order, order_id)
        if order is None or order.partner_id != partner.id:
            raise ApiError(404, "not_found", f"no order {order_id}")
        try:
            change_dropoff_address(db.session, partner, order, address, actor=f"partner:{partner.id}",
                                   reason=data["reason"])
        except IntakeError as exc:
            raise ApiError(422, "address_rejected", str(exc), details=exc.errors) from None
        except ChangeRefused as exc:
            raise ApiError(409, "address_not_changeable", str(exc)) from None
        return order_resource(db.session, partner.id, order_id)


PDF = {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}}


def _pdf(session, orders, filename: str):
    pages = sum(len(o.parcels) for o in orders)
    if pages > labels.MAX_PAGES:
        raise ApiError(422, "too_many_labels", f"these orders make {pages} label pages; at most "
                       f"{labels.MAX_PAGES} per request: ask for fewer orders at a time",
                       details={"pages": pages, "max_pages": labels.MAX_PAGES})
    config = current_app.config
    body = labels.render(session, orders, public_url=config["WAYBILL_PUBLIC_URL"],
                         font=config["WAYBILL_LABEL_FONT"])
    return current_app.response_class(body, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{filename}"'})


@blp.route("/<id:order_id>/label")
class Label(MethodView):
    @blp.doc(responses={"200": {"description": "A 4x6-inch PDF, one page per parcel", **PDF}})
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """The order's shipping label: a 4x6-inch PDF page per parcel, with a Code 128
        barcode of the tracking number, a QR code of the tracking page, the route, the
        recipient and the sender."""
        found = labels.orders_for_labels(db.session, g.partner.id, [order_id])
        if not found:
            raise ApiError(404, "not_found", f"no order {order_id}")
        return _pdf(db.session, found, f"label-{found[0].shipment.tracking_number}.pdf")


@blp.route("/labels")
class Labels(MethodView):
    @blp.arguments(LabelsRequestSchema())
    @blp.doc(responses={"200": {"description": "One PDF: a 4x6-inch page per parcel of every order", **PDF}})
    @blp.alt_response(404, schema=ApiErrorSchema, description="Some of the orders are not yours or do not exist")
    @blp.alt_response(422, schema=ApiErrorSchema, description="More than 500 label pages (too_many_labels)")
    def post(self, data):
        """The labels of up to 100 orders as one PDF, to print in one go."""
        wanted = list(dict.fromkeys(data["order_ids"]))
        found = labels.orders_for_labels(db.session, g.partner.id, wanted)
        missing = sorted(set(wanted) - {o.id for o in found})
        if missing:
            raise ApiError(404, "not_found", f"no orders {', '.join(map(str, missing))}",
                           details={"order_ids": missing})
        return _pdf(db.session, found, "labels.pdf")
