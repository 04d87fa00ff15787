"""Message templates: the wording of each customer message per event, channel, language
and partner (a partner's brand and tone), written by staff as Jinja text and rendered in
a sandbox (no attribute of anything but the variables given, nothing undefined), falling
back to Waybill's own wording (translated) when there is none or it cannot be rendered.

The same sandbox renders campaign messages."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.crm.models import MessageTemplate

log = logging.getLogger("waybill.wording")

EVENTS = ("picked_up", "out_for_delivery", "delivered", "delivery_failed", "promise_changed")
CHANNELS = ("sms", "email")
LANGUAGES = ("vi", "en")
#: What each event's template may use (every event: the common ones).
COMMON = ("name", "shop", "tracking_number", "link")
VARIABLES = {
    "picked_up": COMMON + ("promised_day",),
    "out_for_delivery": COMMON + ("cod", "code"),
    "delivered": COMMON + ("feedback_link",),
    "delivery_failed": COMMON + ("reason",),
    "promise_changed": COMMON + ("promised_day", "reason"),
    "campaign": ("name", "unsubscribe_link"),
}
#: Sample values for previews and for checking a template before it is saved.
SAMPLE = {"name": "An", "shop": "Saigon Books", "tracking_number": "WB12345678901",
          "link": "https://track.example/track/WB12345678901", "promised_day": "5 tháng 12 2026",
          "cod": "250.000 ₫", "code": "482913", "feedback_link": "https://track.example/feedback/abc",
          "reason": "không có ai ở nhà", "unsubscribe_link": "https://track.example/unsubscribe/abc"}
#: The longest SMS sent (longer text is cut, with "...").
SMS_LIMIT = 300

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True)


class WordingError(ValueError):
    """A template that cannot be saved: the message says where it is wrong."""


def render(text: str, variables: dict) -> str:
    """``text`` rendered in the sandbox; raises WordingError (a syntax error, an unknown
    variable, an attribute the sandbox forbids)."""
    try:
        return _env.from_string(text).render(**variables)
    except TemplateError as exc:
        raise WordingError(f"{type(exc).__name__}: {exc}") from None


def check(event: str, channel: str, subject: str | None, body: str) -> tuple[str | None, str]:
    """The template rendered with the event's sample values; WordingError when it would
    not render for a real message."""
    if event not in VARIABLES:
        raise WordingError(f"event is one of {', '.join(VARIABLES)}")
    if channel not in CHANNELS:
        raise WordingError(f"channel is one of {', '.join(CHANNELS)}")
    if not (body or "").strip():
        raise WordingError("write the message")
    if channel == "email" and not (subject or "").strip():
        raise WordingError("an e-mail has a subject")
    sample = {name: SAMPLE[name] for name in VARIABLES[event]}
    return (render(subject, sample) if channel == "email" else None), render(body, sample)


def _key(event: str, channel: str, language: str, partner_id: int | None) -> str:
    return f"{event}:{channel}:{language}:{partner_id or 0}"


def save(session: Session, *, event: str, channel: str, language: str, partner_id: int | None,
         subject: str | None, body: str, user_id: int | None) -> MessageTemplate:
    """Write (or rewrite) a template after checking it renders. Flushes."""
    if language not in LANGUAGES:
        raise WordingError(f"language is one of {', '.join(LANGUAGES)}")
    check(event, channel, subject, body)
    key = _key(event, channel, language, partner_id)
    row = session.scalars(select(MessageTemplate).where(MessageTemplate.key == key)).first()
    if row is None:
        row = MessageTemplate(key=key, event=event, channel=channel, language=language, partner_id=partner_id)
        session.add(row)
    row.subject = (subject or "").strip()[:200] or None if channel == "email" else None
    row.body, row.active, row.updated_by, row.updated_at = body.strip()[:2000], True, user_id, clock.now()
    session.flush()
    return row


def remove(session: Session, row: MessageTemplate) -> None:
    """Back to the default wording (the row is kept, switched off)."""
    row.active = False
    row.updated_at = clock.now()
    session.flush()


@dataclass(frozen=True)
class Wordings:
    """The active templates, read once for a batch of messages."""

    by_key: dict[str, MessageTemplate]
    loaded_at: datetime

    def find(self, event: str, channel: str, language: str, partner_id: int | None) -> MessageTemplate | None:
        return (self.by_key.get(_key(event, channel, language, partner_id))
                or self.by_key.get(_key(event, channel, language, None)))

    def render(self, event: str, channel: str, language: str, partner_id: int | None,
               variables: dict) -> tuple[str | None, str] | None:
        """(subject, body) from the partner's template or the network's; None when there
        is none or it fails (the default wording is used; the failure is logged)."""
        row = self.find(event, channel, language, partner_id)
        if row is None:
            return None
        try:
            subject = render(row.subject, variables) if row.subject else None
            return subject, render(row.body, variables)
        except WordingError as exc:
            log.warning("template %s failed, the default wording goes: %s", row.key, exc)
            return None


def load(session: Session) -> Wordings:
    rows = session.scalars(select(MessageTemplate).where(MessageTemplate.active.is_(True)))
    return Wordings({row.key: row for row in rows}, clock.now())


def templates(session: Session, *, partner_id: int | None = None) -> list[MessageTemplate]:
    stmt = select(MessageTemplate).where(MessageTemplate.active.is_(True))
    if partner_id is not None:
        stmt = stmt.where(MessageTemplate.partner_id == partner_id)
    return list(session.scalars(stmt.order_by(MessageTemplate.key)))
