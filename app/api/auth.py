"""API key authentication: ``Authorization: Bearer wbk_<prefix>_<secret>``."""
from __future__ import annotations

from flask import g, request

from app.crm.services import PartnerRef, partner_for_api_key
from app.db import db


class Unauthorized(Exception):
    pass


def authenticate() -> PartnerRef:
    """The partner whose active key is on the request; raises Unauthorized."""
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("send your API key as `Authorization: Bearer <key>`")
    partner = partner_for_api_key(db.session, key)
    # The key's read ends here: the request's own work opens its transaction when it is
    # ready to write (after, say, the geocoder has answered).
    db.session.rollback()
    if partner is None:
        raise Unauthorized("this API key is not valid, has been revoked, or its partner is inactive")
    g.partner = partner
    return partner
