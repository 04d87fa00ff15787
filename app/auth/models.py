"""Users (staff, drivers, partners' people) and the append-only audit log."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.db import Base, UTCDateTime

#: Every role; the first six are staff and use the console.
ROLES = ("admin", "dispatcher", "hub_operator", "finance", "account_manager", "customer_service", "driver", "partner")
STAFF_ROLES = frozenset(ROLES[:6])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-case: sign-in ignores case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    #: argon2id hash (argon2-cffi), parameters inside.
    password_hash: Mapped[str] = mapped_column(String(200))
    #: A hub operator's hub: the work they see and act on.
    hub_id: Mapped[int | None] = mapped_column(ForeignKey("hubs.id"))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("drivers.id"))
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"))
    active: Mapped[bool] = mapped_column(default=True)
    #: "vi" or "en": the pages' language for this person (None: their browser's).
    language: Mapped[str | None] = mapped_column(String(5))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    # Flask-Login's protocol.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    #: The sign-in session of the current request (set by the loader): Flask-Login keeps
    #: its token, never the user's id, in the cookie.
    session_token = None  # not a column

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES


class UserSession(Base):
    """One sign-in: its cookie carries a random token whose hash is kept here. Signing out
    ends it; signing out everywhere, a password change or deactivation end all of the
    user's. An ended session is kept (who was signed in, from where, until when)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: SHA-256 of the cookie's token (the token itself is never stored).
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: "signed out", "signed out everywhere", "password changed", "deactivated".
    ended_reason: Mapped[str | None] = mapped_column(String(40))


class AuditEntry(Base):
    """Who did what to which object, when and from where. Rows are only ever added."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_object", "object_type", "object_id"),
                      #: Counting an address's failed sign-ins.
                      Index("ix_audit_log_action_ip", "action", "ip", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Kept as written at the time, so the entry reads the same if the user changes.
    user_email: Mapped[str | None] = mapped_column(String(254))
    #: Past tense: "signed_in", "shipment.held", "user.created", ...
    action: Mapped[str] = mapped_column(String(60))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(40))
    details: Mapped[dict | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(45))
