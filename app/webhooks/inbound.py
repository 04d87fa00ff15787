"""Inbound webhooks: a partner's platform posts orders to a URL of its own, signed per
Standard Webhooks with the partner's inbound secret. Verified with the reference library;
the webhook id is the idempotency key, so a platform's retries make one order."""
from __future__ import annotations

import json
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app import clock
from app.crm.models import Partner
from app.webhooks.models import InboundWebhook
from app.webhooks.services import ROTATION_OVERLAP
from app.webhooks.signing import new_secret


class SignatureRefused(Exception):
    """The request is not signed with the partner's inbound secret (or is too old)."""


class PayloadRefused(ValueError):
    """Signed, but not a JSON object."""


def set_up(session: Session, partner: Partner, *, now: datetime | None = None) -> tuple[InboundWebhook, str]:
    """The partner's inbound URL with a new secret (shown once). Called again, it rotates
    the secret: the old one is still accepted for 24 hours."""
    now = now or clock.now()
    record = inbound_of(session, partner.id)
    if record is None:
        record = InboundWebhook(partner_id=partner.id, token="in_" + secrets.token_urlsafe(18),
                                secret=new_secret())
        session.add(record)
    else:
        record.previous_secret, record.previous_secret_expires_at = record.secret, now + ROTATION_OVERLAP
        record.secret = new_secret()
    session.flush()
    return record, record.secret


def inbound_of(session: Session, partner_id: int) -> InboundWebhook | None:
    return session.scalars(select(InboundWebhook).where(InboundWebhook.partner_id == partner_id)).first()


def by_token(session: Session, token: str) -> InboundWebhook | None:
    return session.scalars(select(InboundWebhook).where(InboundWebhook.token == token)).first()


def verify(record: InboundWebhook, body: bytes, headers: dict, *, now: datetime | None = None) -> dict:
    """The JSON payload, once the signature is checked against every secret in force;
    raises SignatureRefused. Timestamps more than five minutes off are refused."""
    now = now or clock.now()
    in_force = [record.secret]
    if record.previous_secret and record.previous_secret_expires_at and record.previous_secret_expires_at > now:
        in_force.append(record.previous_secret)
    problem = "no secret"
    for secret in in_force:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError as exc:
            problem = str(exc)
            continue
        except ValueError:  # a signature header that is not "v1,<base64>"
            raise SignatureRefused("the webhook-signature header is malformed") from None
        try:
            payload = json.loads(body)
        except ValueError:
            raise PayloadRefused("the body is not JSON") from None
        if not isinstance(payload, dict):
            raise PayloadRefused("the body is not a JSON object")
        return payload
    raise SignatureRefused(f"signature refused: {problem.lower()}")
