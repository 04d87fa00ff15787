"""Idempotency keys: a partner's retry of a POST gets the first answer, not a second order."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.db import Base, UTCDateTime


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    #: Keys are per partner: two partners may use the same key without colliding.
    __table_args__ = (UniqueConstraint("partner_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    key: Mapped[str] = mapped_column(String(255))
    #: Method, path and SHA-256 of the body: the same key with another request is refused.
    request_hash: Mapped[str] = mapped_column(String(64))
    #: None while the first request is still running.
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
