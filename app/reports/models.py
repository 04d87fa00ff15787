from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.db import Base, UTCDateTime


class SavedReport(Base):
    """A builder's report kept by name: staff's, or a partner's people's (then always read
    with that partner's filter)."""

    __tablename__ = "saved_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    #: The builder's fields (``builder.Spec.to_json``), checked again each time it is run.
    spec: Mapped[dict] = mapped_column(JSON)
    #: "fixed" (the spec's own dates) or "last_month" (the month before the day it is read).
    period: Mapped[str] = mapped_column(String(12), default="fixed")
    #: The partner whose people made it; None for staff's reports.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Seen by the owner's side (all staff, or all the partner's people), not the owner alone.
    shared: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class ReportSubscription(Base):
    """An address that gets a report by e-mail when each month ends."""

    __tablename__ = "report_subscriptions"
    __table_args__ = (UniqueConstraint("report", "subject_id", "email"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: "partner", "hub", "company" (the monthly reports) or "saved" (a saved report).
    report: Mapped[str] = mapped_column(String(10))
    #: The partner, hub or saved report it is of; 0 for the company's.
    subject_id: Mapped[int] = mapped_column()
    email: Mapped[str] = mapped_column(String(254))
    #: The language the e-mail and its files are written in.
    language: Mapped[str] = mapped_column(String(5), default="vi")
    #: The partner whose people made it (they see and end only theirs); None for staff's.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id"), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)


class ReportSending(Base):
    """One month's report owed to one subscription: written once (the pair is unique) with
    the outbox row that e-mails it; ``sent_at`` once the mail server took it."""

    __tablename__ = "report_sendings"
    __table_args__ = (UniqueConstraint("subscription_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("report_subscriptions.id", ondelete="CASCADE"))
    #: The month reported, YYYY-MM.
    period: Mapped[str] = mapped_column(String(7))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
