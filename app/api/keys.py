"""/api/v1/api-keys: a partner makes and revokes its own keys (to rotate without downtime:
make a new key, deploy it, revoke the old one)."""
from __future__ import annotations

from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint

from app.api.errors import ApiError
from app.api.orders import require_partner
from app.api.schemas import ApiErrorSchema, ApiKeyCreatedSchema, ApiKeySchema
from app.crm import services as crm
from app.db import db

blp = Blueprint("keys", __name__, url_prefix="/api/v1/api-keys", description="Your API keys")
blp.before_request(require_partner)
MAX_ACTIVE_KEYS = 5


@blp.route("")
class Keys(MethodView):
    @blp.response(200, ApiKeySchema(many=True))
    def get(self):
        """Your keys: prefixes and dates (keys themselves are not kept)."""
        return crm.api_keys_of(db.session, g.partner.id)

    @blp.response(201, ApiKeyCreatedSchema())
    @blp.alt_response(409, schema=ApiErrorSchema, description="Already as many active keys as allowed")
    def post(self):
        """Another key; the answer shows it this once."""
        active = [k for k in crm.api_keys_of(db.session, g.partner.id) if k.revoked_at is None]
        if len(active) >= MAX_ACTIVE_KEYS:
            raise ApiError(409, "too_many_keys", f"at most {MAX_ACTIVE_KEYS} active keys: revoke one first")
        record, key = crm.issue_api_key(db.session, g.partner)
        return {"prefix": record.prefix, "created_at": record.created_at, "revoked_at": None, "key": key}


@blp.route("/<prefix>/revoke")
class Revoke(MethodView):
    @blp.response(200, ApiKeySchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def post(self, prefix):
        """Revoke one of your keys (the one making this request too, if you name it):
        refused everywhere within 5 seconds."""
        try:
            record = crm.revoke_api_key(db.session, prefix, partner_id=g.partner.id)
        except LookupError:
            raise ApiError(404, "not_found", f"no API key {prefix}") from None
        return record
