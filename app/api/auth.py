"""API key authentication: ``Authorization: Bearer wbk_<prefix>_<secret>``."""
from __future__ import annotations

import hmac

from flask import g, request
from sqlalchemy import select

from app.crm.models import ApiKey, Partner
from app.crm.services import hash_api_key
from app.db import db


class Unauthorized(Exception):
    pass


def authenticate() -> Partner:
    """The partner whose active key is on the request; raises Unauthorized."""
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("send your API key as `Authorization: Bearer <key>`")
    prefix = "_".join(key.split("_")[:2])
    record = db.session.scalars(select(ApiKey).where(ApiKey.prefix == prefix)).first()
    if (record is None or record.revoked_at is not None
            or not hmac.compare_digest(record.key_hash, hash_api_key(key))):
        raise Unauthorized("this API key is not valid or has been revoked")
    partner = db.session.get(Partner, record.partner_id)
    if partner is None or not partner.active:
        raise Unauthorized("this partner account is not active")
    g.partner = partner
    return partner
