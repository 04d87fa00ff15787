"""Signatures per the Standard Webhooks specification, made by its reference library:
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``, one signature per secret in force (two during a rotation)."""
from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secrets_in_force: list[str], message_id: str, sent_at: datetime, body: str) -> dict:
    signatures = " ".join(Webhook(s).sign(message_id, sent_at, body) for s in secrets_in_force)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
    }
