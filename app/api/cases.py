"""/api/v1/cases: a partner reports a problem (about one of its parcels or its account),
follows what customer service says and answers. The same service as the portal's and the
console's; another partner's case is a 404, and internal notes are never shown."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app.api.errors import ApiError
from app.api.orders import require_partner
from app.api.schemas import ApiErrorSchema, Strict
from app.crm import cases
from app.db import db
from app.orders import reads

blp = Blueprint("cases", __name__, url_prefix="/api/v1/cases", description="Cases: problems reported to customer service")
blp.before_request(require_partner)

PARTNER_TYPES = cases.PARTNER_TYPES


class CaseInSchema(Strict):
    type = fields.String(required=True, validate=validate.OneOf(PARTNER_TYPES))
    tracking_number = fields.String(load_default=None, validate=validate.Length(max=20),
                                    metadata={"description": "The parcel it is about, if any"})
    subject = fields.String(load_default="", validate=validate.Length(max=200))
    message = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class CaseMessageInSchema(Strict):
    message = fields.String(required=True, validate=validate.Length(min=1, max=4000))


class CaseMessageSchema(Strict):
    sent_by = fields.String(metadata={"description": "you or waybill"})
    author = fields.String()
    message = fields.String()
    at = fields.DateTime()


class CaseSchema(Strict):
    id = fields.Integer()
    type = fields.String()
    status = fields.String(metadata={"description": "new, open, waiting (on you), resolved or closed"})
    subject = fields.String()
    tracking_number = fields.String(allow_none=True)
    opened_at = fields.DateTime()
    first_response_due = fields.DateTime(metadata={"description": "When customer service answers by"})
    outcome = fields.String(allow_none=True)
    messages = fields.List(fields.Nested(CaseMessageSchema))


def _resource(case) -> dict:
    session = db.session
    return {
        "id": case.id, "type": case.type, "status": case.status, "subject": case.subject,
        "tracking_number": reads.tracking_number_of(session, case.shipment_id) if case.shipment_id else None,
        "opened_at": case.created_at, "first_response_due": case.first_response_due, "outcome": case.outcome,
        "messages": [{"sent_by": "you" if m.kind == "from_partner" else "waybill", "author": m.author_name,
                      "message": m.body, "at": m.created_at}
                     for m in cases.thread(session, case.id, public_only=True)
                     if m.kind in ("from_partner", "to_partner")],
    }


def _own(case_id: int):
    found = cases.case_of(db.session, case_id, partner_id=g.partner.id)
    if found is None:
        raise ApiError(404, "not_found", f"no case {case_id}")
    return found


@blp.route("")
class Cases(MethodView):
    @blp.response(200, CaseSchema(many=True))
    def get(self):
        """Your cases, the most urgent first (the last 200)."""
        return [_resource(c) for c in cases.find_cases(db.session, status=None, partner_id=g.partner.id)]

    @blp.arguments(CaseInSchema())
    @blp.response(201, CaseSchema())
    @blp.alt_response(422, schema=ApiErrorSchema, description="Not one of your parcels")
    def post(self, data):
        """Report a problem; customer service answers within the first-response target."""
        shipment_id = None
        if data["tracking_number"]:
            try:
                shipment_id = cases.shipment_for(db.session, data["tracking_number"], partner_id=g.partner.id)
            except cases.CaseError:
                raise ApiError(422, "validation_failed", "no parcel of yours has that tracking number",
                               details={"json": {"tracking_number": ["not one of your parcels"]}}) from None
        case = cases.open_case(db.session, data["type"], data["subject"], data["message"], opened_via="api",
                               shipment_id=shipment_id, partner_id=g.partner.id,
                               author_name=f"{g.partner.name} (API)")
        db.session.flush()
        return _resource(case)


@blp.route("/<id:case_id>")
class CaseById(MethodView):
    @blp.response(200, CaseSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, case_id):
        """One of your cases, with the messages between you and customer service."""
        return _resource(_own(case_id))


@blp.route("/<id:case_id>/messages")
class CaseMessages(MethodView):
    @blp.arguments(CaseMessageInSchema())
    @blp.response(201, CaseSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="The case is closed")
    def post(self, data, case_id):
        """Answer customer service: a case waiting on you opens again."""
        case = _own(case_id)
        try:
            cases.receive(db.session, case, data["message"], from_="from_partner", author_name=f"{g.partner.name} (API)")
        except cases.CaseError as exc:
            raise ApiError(409, "case_closed", str(exc)) from None
        return _resource(case)
