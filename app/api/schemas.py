"""Request and response schemas of the partner API (the contract in DESIGN.md)."""
from __future__ import annotations

from datetime import timezone

import marshmallow as ma
from marshmallow import validate

from app.billing.money import EXPONENTS
from app.billing.rating import SERVICE_LEVELS
from app.db import MAX_ID
from app.orders.lifecycle import PUBLIC_VOCABULARY


#: The largest amount a request may name (what the database columns hold).
MAX_AMOUNT = 10**15


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class MoneySchema(Strict):
    amount = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_AMOUNT),
                               metadata={"description": "Integer minor units (1 VND, 1 cent)"})
    currency = ma.fields.String(required=True, validate=validate.OneOf(sorted(EXPONENTS)),
                                metadata={"description": "ISO 4217 code"})


class AddressSchema(Strict):
    line1 = ma.fields.String(required=True, validate=validate.Length(min=1, max=255))
    line2 = ma.fields.String(load_default="", validate=validate.Length(max=255))
    district = ma.fields.String(load_default="", validate=validate.Length(max=120))
    city = ma.fields.String(required=True, validate=validate.Length(min=1, max=120))
    postal_code = ma.fields.String(load_default="", validate=validate.Length(max=20))
    country = ma.fields.String(required=True, validate=validate.Length(equal=2))
    lat = ma.fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90, 90))
    lon = ma.fields.Float(load_default=None, allow_none=True, validate=validate.Range(-180, 180))


class ContactSchema(Strict):
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = ma.fields.String(required=True, validate=validate.Length(min=6, max=32))
    email = ma.fields.Email(load_default=None, allow_none=True)
    address = ma.fields.Nested(AddressSchema, required=True)


class ParcelSchema(Strict):
    weight_grams = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1_000_000))
    length_cm = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))
    width_cm = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))
    height_cm = ma.fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=1000))
    declared_value = ma.fields.Nested(MoneySchema, load_default=None, allow_none=True)


class OrderCreateSchema(Strict):
    reference = ma.fields.String(required=True, validate=validate.Length(min=1, max=100),
                                 metadata={"description": "Your order number; unique per partner"})
    service_level = ma.fields.String(required=True, validate=validate.OneOf(SERVICE_LEVELS))
    pickup = ma.fields.Nested(ContactSchema, required=True)
    dropoff = ma.fields.Nested(ContactSchema, required=True)
    parcels = ma.fields.List(ma.fields.Nested(ParcelSchema), required=True,
                             validate=validate.Length(min=1, max=50))
    cod = ma.fields.Nested(MoneySchema, load_default=None, allow_none=True,
                           metadata={"description": "Cash to collect on delivery"})


class ChargeSchema(ma.Schema):
    kind = ma.fields.String(metadata={"description": "delivery_fee, return_fee or failed_attempt_fee"})
    amount = ma.fields.Nested(MoneySchema, metadata={"description": "VAT included"})
    vat = ma.fields.Nested(MoneySchema)
    lines = ma.fields.List(ma.fields.Dict(), metadata={"description": "code, description, amount (before VAT)"})
    invoice = ma.fields.String(allow_none=True, metadata={"description": "The invoice number, once invoiced"})
    charged_at = ma.fields.DateTime()


class PromiseSchema(ma.Schema):
    date = ma.fields.Date(metadata={"description": "The day delivery is promised"})
    reason = ma.fields.String(metadata={"description": "Why that day, in words, in the Accept-Language asked for "
                                                       "(English or Vietnamese): \"picked up today before 14:00, "
                                                       "line-haul to District 7 tonight, delivered Thursday\""})
    window = ma.fields.Dict(allow_none=True, metadata={"description": "The delivering hub's window that day "
                                                                       "({\"from\": \"09:00\", \"until\": \"12:00\"}), if it offers one"})
    first_date = ma.fields.Date(allow_none=True, metadata={"description": "The day first promised (at intake)"})
    revisions = ma.fields.Integer(metadata={"description": "How many times the promise moved after a slip "
                                                            "(each one a shipment.promise_changed webhook)"})


class OrderSchema(ma.Schema):
    id = ma.fields.Integer()
    reference = ma.fields.String()
    tracking_number = ma.fields.String()
    status = ma.fields.String(metadata={"description": "Public status: pre_transit, in_transit, "
                                                       "out_for_delivery, delivered, failed_attempt, "
                                                       "returned, cancelled, exception"})
    service_level = ma.fields.String()
    route = ma.fields.String(metadata={"description": "direct or linehaul"})
    promised_date = ma.fields.Date()
    promise = ma.fields.Nested(PromiseSchema)
    fee = ma.fields.Nested(MoneySchema)
    cod = ma.fields.Nested(MoneySchema, allow_none=True)
    charges = ma.fields.List(ma.fields.Nested(ChargeSchema), metadata={
        "description": "What the order was charged once delivered or returned (GET of one order only)"})
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class RowList(ma.fields.List):
    """A list whose rows are checked one by one by the view, so that a bad row is
    reported on its own instead of failing the whole request. Documented as the list
    of its inner schema."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list) or not all(isinstance(row, dict) for row in value):
            raise ma.ValidationError("must be a list of objects")
        for validator in self.validators:
            validator(value)
        return value


MAX_BULK_ORDERS = 1000


class BulkOrdersSchema(Strict):
    orders = RowList(ma.fields.Nested(OrderCreateSchema), required=True,
                     validate=validate.Length(min=1, max=MAX_BULK_ORDERS),
                     metadata={"description": f"Up to {MAX_BULK_ORDERS} orders"})


class RowErrorSchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "validation_failed or order_rejected"})
    message = ma.fields.String()
    details = ma.fields.Raw(allow_none=True)


class BulkRowSchema(ma.Schema):
    index = ma.fields.Integer(metadata={"description": "Position of the order in the request, from 0"})
    status = ma.fields.String(metadata={"description": "created or rejected"})
    order = ma.fields.Nested(OrderSchema, allow_none=True)
    error = ma.fields.Nested(RowErrorSchema, allow_none=True)


class BulkResultSchema(ma.Schema):
    created = ma.fields.Integer()
    rejected = ma.fields.Integer()
    results = ma.fields.List(ma.fields.Nested(BulkRowSchema))


class CsvErrorSchema(ma.Schema):
    line = ma.fields.Integer()
    column = ma.fields.String(allow_none=True, metadata={"description": "The CSV column at fault"})
    message = ma.fields.String()


class CsvRowSchema(ma.Schema):
    line = ma.fields.Integer(metadata={"description": "Line of the order's first row in the file (the header is line 1)"})
    reference = ma.fields.String(allow_none=True)
    status = ma.fields.String(metadata={"description": "created or rejected"})
    order = ma.fields.Nested(OrderSchema, allow_none=True)
    errors = ma.fields.List(ma.fields.Nested(CsvErrorSchema))


class CsvResultSchema(ma.Schema):
    created = ma.fields.Integer()
    rejected = ma.fields.Integer()
    results = ma.fields.List(ma.fields.Nested(CsvRowSchema))


class LabelsRequestSchema(Strict):
    order_ids = ma.fields.List(ma.fields.Integer(validate=validate.Range(min=1, max=MAX_ID)), required=True, validate=validate.Length(min=1, max=100),
                               metadata={"description": "Up to 100 of your orders; one page per parcel, in this order"})


class OrderQuerySchema(Strict):
    status = ma.fields.String(validate=validate.OneOf(PUBLIC_VOCABULARY))
    reference = ma.fields.String()
    created_since = ma.fields.AwareDateTime(default_timezone=timezone.utc)
    updated_since = ma.fields.AwareDateTime(default_timezone=timezone.utc)
    cursor = ma.fields.String(metadata={"description": "next_cursor of the previous page"})
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class OrderPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(OrderSchema))
    next_cursor = ma.fields.String(allow_none=True, metadata={"description": "null on the last page"})


class ApiErrorBody(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()
    details = ma.fields.Raw(allow_none=True)


class ApiErrorSchema(ma.Schema):
    error = ma.fields.Nested(ApiErrorBody)


class AddressChangeSchema(Strict):
    address = ma.fields.Nested(AddressSchema, required=True, metadata={"description": "The new drop-off address"})
    reason = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))


class CancelSchema(Strict):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))


class HubSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String(metadata={"description": "shipping_centre or local_hub"})
    lat = ma.fields.Float()
    lon = ma.fields.Float()
    delivery_radius_km = ma.fields.Float()


class TrackingEventSchema(ma.Schema):
    seq = ma.fields.Integer(metadata={"description": "Position in the shipment's history, from 1"})
    type = ma.fields.String(metadata={"description": "picked_up, arrived_at_hub, delivered, ..."})
    status = ma.fields.String(metadata={"description": "Public status after the event"})
    occurred_at = ma.fields.DateTime()
    recorded_at = ma.fields.DateTime()
    hub = ma.fields.String(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    late = ma.fields.Boolean(metadata={"description": "A scan that arrived after later ones: "
                                                     "kept in history, did not change the status"})


class TrackingSchema(ma.Schema):
    tracking_number = ma.fields.String()
    order_id = ma.fields.Integer()
    status = ma.fields.String()
    promised_date = ma.fields.Date()
    promise = ma.fields.Nested(PromiseSchema)
    events = ma.fields.List(ma.fields.Nested(TrackingEventSchema))


class PlaceField(ma.fields.Field):
    """An address, or a contact with its address (the order's own shape): a checkout can
    quote the very object it will then order. Loads as the address."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict) and "address" in value:
            return ContactSchema().load(value)["address"]
        return AddressSchema().load(value)

    def _serialize(self, value, attr, obj, **kwargs):
        return value


class QuoteRequestSchema(Strict):
    """A quote's question; the body of ``POST /orders`` is one too (its reference and
    cash on delivery are read, not required)."""

    service_level = ma.fields.String(required=True, validate=validate.OneOf(SERVICE_LEVELS))
    pickup = PlaceField(required=True, metadata={
        "description": "An address, or a contact with its address as in an order",
        "oneOf": [{"$ref": "#/components/schemas/Address"}, {"$ref": "#/components/schemas/Contact"}]})
    dropoff = PlaceField(required=True, metadata={
        "description": "An address, or a contact with its address as in an order",
        "oneOf": [{"$ref": "#/components/schemas/Address"}, {"$ref": "#/components/schemas/Contact"}]})
    parcels = ma.fields.List(ma.fields.Nested(ParcelSchema), required=True,
                             validate=validate.Length(min=1, max=50))
    reference = ma.fields.String(load_default=None, validate=validate.Length(min=1, max=100),
                                 metadata={"description": "Ignored: lets an order's body be quoted as it is"})
    cod = ma.fields.Nested(MoneySchema, load_default=None, allow_none=True,
                           metadata={"description": "Cash to collect on delivery, as in an order"})


class QuoteLineSchema(ma.Schema):
    code = ma.fields.String(metadata={"description": "freight, fuel, cod_fee, remote, insurance"})
    description = ma.fields.String()
    amount = ma.fields.Nested(MoneySchema)


class VatSchema(MoneySchema):
    rate_percent = ma.fields.Float()


class QuoteSchema(ma.Schema):
    service_level = ma.fields.String()
    fee = ma.fields.Nested(MoneySchema, metadata={"description": "What the order will be charged, VAT included"})
    net = ma.fields.Nested(MoneySchema, metadata={"description": "The lines' sum, before VAT"})
    vat = ma.fields.Nested(VatSchema)
    lines = ma.fields.List(ma.fields.Nested(QuoteLineSchema), metadata={
        "description": "Freight by zone and weight, then surcharges: fuel, COD fee, remote area, insurance"})
    zone = ma.fields.String(metadata={"description": "The rate card's zone the drop-off falls in"})
    promised_date = ma.fields.Date()
    promise = ma.fields.Nested(PromiseSchema)
    route = ma.fields.String()
    delivery_hub = ma.fields.String(metadata={"description": "Code of the hub that delivers"})
    distance_km = ma.fields.Float()
    billable_grams = ma.fields.Integer()


# -- webhooks --------------------------------------------------------------------------

def _event_types():
    from app.webhooks.services import EVENT_TYPES

    return EVENT_TYPES


class EndpointCreateSchema(Strict):
    url = ma.fields.String(required=True, validate=validate.Length(min=8, max=2000),
                           metadata={"description": "https URL that receives the events"})
    event_types = ma.fields.List(ma.fields.String(validate=validate.OneOf(_event_types())), load_default=list,
                                 metadata={"description": "Types to send; empty or left out: every type"})
    description = ma.fields.String(load_default="", validate=validate.Length(max=200))


class EndpointUpdateSchema(Strict):
    url = ma.fields.String(validate=validate.Length(min=8, max=2000))
    event_types = ma.fields.List(ma.fields.String(validate=validate.OneOf(_event_types())))
    description = ma.fields.String(validate=validate.Length(max=200))
    enabled = ma.fields.Boolean(metadata={"description": "true enables a disabled endpoint again"})


class EndpointSchema(ma.Schema):
    id = ma.fields.Integer()
    url = ma.fields.String()
    description = ma.fields.String()
    event_types = ma.fields.List(ma.fields.String())
    enabled = ma.fields.Boolean()
    disabled_reason = ma.fields.String(allow_none=True)
    disabled_at = ma.fields.DateTime(allow_none=True)
    failing_since = ma.fields.DateTime(allow_none=True, metadata={
        "description": "First failed attempt since the last success; null while healthy"})
    previous_secret_expires_at = ma.fields.DateTime(allow_none=True, metadata={
        "description": "Until then deliveries carry a second signature, made with the secret before the last rotation"})
    created_at = ma.fields.DateTime()


class EndpointCreatedSchema(EndpointSchema):
    secret = ma.fields.String(metadata={"description": "The signing secret, shown this once"})


class SecretSchema(ma.Schema):
    secret = ma.fields.String(metadata={"description": "The new signing secret, shown this once"})
    previous_secret_expires_at = ma.fields.DateTime()


class ReplaySchema(Strict):
    event_id = ma.fields.String(metadata={"description": "One event to send again (evt_...)"})
    since = ma.fields.AwareDateTime(default_timezone=timezone.utc)
    until = ma.fields.AwareDateTime(default_timezone=timezone.utc)


class ReplayResultSchema(ma.Schema):
    deliveries = ma.fields.Integer(metadata={"description": "How many deliveries were queued"})


class AttemptSchema(ma.Schema):
    number = ma.fields.Integer()
    attempted_at = ma.fields.DateTime()
    status_code = ma.fields.Integer(allow_none=True, metadata={"description": "null when no HTTP answer came"})
    duration_ms = ma.fields.Integer()
    error = ma.fields.String(allow_none=True)
    response_excerpt = ma.fields.String(allow_none=True)


class DeliverySchema(ma.Schema):
    id = ma.fields.Integer()
    event_id = ma.fields.String(attribute="message_id")
    event_type = ma.fields.String()
    status = ma.fields.String(metadata={"description": "pending, succeeded, failed or cancelled"})
    origin = ma.fields.String(metadata={"description": "event, replay or test"})
    attempt_count = ma.fields.Integer(attribute="attempts")
    next_attempt_at = ma.fields.DateTime(allow_none=True)
    last_status_code = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()
    finished_at = ma.fields.DateTime(allow_none=True)
    attempts = ma.fields.List(ma.fields.Nested(AttemptSchema), attribute="log")
    payload = ma.fields.Dict(metadata={"description": "The event as sent"})


class DeliveryQuerySchema(Strict):
    status = ma.fields.String(validate=validate.OneOf(("pending", "succeeded", "failed", "cancelled")))
    cursor = ma.fields.String(metadata={"description": "next_cursor of the previous page"})
    limit = ma.fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class DeliveryPageSchema(ma.Schema):
    data = ma.fields.List(ma.fields.Nested(DeliverySchema))
    next_cursor = ma.fields.String(allow_none=True)


class EventTypesSchema(ma.Schema):
    data = ma.fields.List(ma.fields.String())


class InboundEnvelopeSchema(ma.Schema):
    """Checked after the signature (the view reads the raw body); this documents it."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True, validate=validate.OneOf(("order.created", "order.cancelled")))
    timestamp = ma.fields.String(metadata={"description": "When your platform made the event (not checked)"})
    data = ma.fields.Dict(required=True, metadata={
        "description": "order.created: an order as for POST /api/v1/orders; order.cancelled: {reference, reason}"})


class InboundSetupSchema(ma.Schema):
    url = ma.fields.String(metadata={"description": "Where your platform posts events"})
    secret = ma.fields.String(allow_none=True, metadata={"description": "Shown once, when set up or rotated"})
    previous_secret_expires_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class ApiKeySchema(ma.Schema):
    prefix = ma.fields.String(metadata={"description": "The key's visible start (wbk_xxxxxxxx)"})
    created_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)


class ApiKeyCreatedSchema(ApiKeySchema):
    key = ma.fields.String(metadata={"description": "The whole key, shown this once"})


# -- finance ---------------------------------------------------------------------------

class InvoiceLineSchema(ma.Schema):
    code = ma.fields.String()
    description = ma.fields.String()
    shipments = ma.fields.Integer()
    amount = ma.fields.Nested(MoneySchema, metadata={"description": "Before VAT"})


class InvoiceSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String(metadata={"description": "INV-YYYY-NNNNNN, or CN-... for a credit note"})
    kind = ma.fields.String(metadata={"description": "invoice or credit_note"})
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    issued_on = ma.fields.Date()
    due_on = ma.fields.Date()
    net = ma.fields.Nested(MoneySchema)
    vat = ma.fields.Nested(MoneySchema)
    total = ma.fields.Nested(MoneySchema)
    paid = ma.fields.Nested(MoneySchema, allow_none=True, metadata={"description": "Paid or credited so far"})
    status = ma.fields.String(metadata={"description": "issued, overdue, partially_paid or paid"})
    corrects = ma.fields.Integer(allow_none=True, metadata={"description": "A credit note: the invoice it corrects"})
    reason = ma.fields.String(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(InvoiceLineSchema))


class NettedSchema(ma.Schema):
    number = ma.fields.String()
    amount = ma.fields.Nested(MoneySchema)


class RemittanceSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.String(metadata={"description": "REM-YYYY-NNNNNN"})
    delivered_until = ma.fields.Date(metadata={"description": "COD of deliveries made up to this day"})
    shipments = ma.fields.Integer()
    cod = ma.fields.Nested(MoneySchema)
    netted = ma.fields.Nested(MoneySchema, metadata={"description": "Your open invoices netted from it"})
    payout = ma.fields.Nested(MoneySchema, metadata={"description": "What was (or will be) transferred"})
    status = ma.fields.String(metadata={"description": "approved, then paid once the bank confirms"})
    paid_at = ma.fields.DateTime(allow_none=True)
    bank_reference = ma.fields.String(allow_none=True)
    netted_invoices = ma.fields.List(ma.fields.Nested(NettedSchema))


class StatementLineSchema(ma.Schema):
    date = ma.fields.Date()
    what = ma.fields.String()
    reference = ma.fields.String()
    amount = ma.fields.Nested(MoneySchema)
    balance = ma.fields.Nested(MoneySchema)


class StatementSchema(ma.Schema):
    from_ = ma.fields.Date(data_key="from")
    to = ma.fields.Date()
    currency = ma.fields.String()
    opening = ma.fields.Nested(MoneySchema)
    lines = ma.fields.List(ma.fields.Nested(StatementLineSchema))
    closing = ma.fields.Nested(MoneySchema)
