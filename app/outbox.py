"""The transactional outbox: work that must follow a committed change.

A service writes an ``OutboxMessage`` in the same transaction as the change. After the
commit the relay (``workers.relay``) hands it to dramatiq; the actor that does the work
marks it processed in its own transaction. A row relayed but not processed within the
lease is handed over again, so a lost broker or a crashed process loses nothing.
"""
from __future__ import annotations

from contextvars import ContextVar
from datetime import datetime, timedelta

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, and_, delete, func, or_, select, text, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from app import clock
from app.db import Base, UTCDateTime


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "id", sqlite_where=text("processed_at IS NULL"),
              postgresql_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What to do: the name of the job, e.g. "notify_customer", "collect_fees".
    topic: Mapped[str] = mapped_column(String(40))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    #: Last time the relay handed the row to the broker.
    relayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    relay_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Set by the actor in the transaction that did the work.
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The request (or job) that wrote it: the actor that does the work logs under it too.
    request_id: Mapped[str | None] = mapped_column(String(64))


#: The request or job being served: every log line carries it, every outbox row keeps it.
REQUEST_ID: ContextVar[str | None] = ContextVar("waybill_request_id", default=None)


def add_outbox(session: Session, topic: str, payload: dict, shipment_id: int | None = None) -> OutboxMessage:
    message = OutboxMessage(topic=topic, payload=payload, shipment_id=shipment_id, request_id=REQUEST_ID.get())
    session.add(message)
    return message


def claim_due(session: Session, *, lease: timedelta, limit: int) -> list[OutboxMessage]:
    """Lock and return rows to hand to the broker: never relayed, or relayed longer
    than ``lease`` ago without being processed. Other relays skip the locked rows."""
    now = clock.now()
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.processed_at.is_(None),
            or_(OutboxMessage.relayed_at.is_(None), OutboxMessage.relayed_at < now - lease),
        )
        .order_by(OutboxMessage.id)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    return list(session.scalars(stmt))


def lock_unprocessed(session: Session, message_ids: list[int]) -> list[OutboxMessage]:
    """The rows for an actor to work on, locked, in id order; those already done or gone
    are left out (a redelivered message waits for the first run, then finds them done)."""
    stmt = (
        select(OutboxMessage)
        .where(and_(OutboxMessage.id.in_(message_ids), OutboxMessage.processed_at.is_(None)))
        .order_by(OutboxMessage.id)
        .with_for_update(key_share=True)
    )
    return list(session.scalars(stmt))


def release(session: Session, message_ids: list[int]) -> None:
    """Rows claimed for relaying that the broker did not take: due again at once."""
    session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                                OutboxMessage.processed_at.is_(None))
                    .values(relayed_at=None, relay_count=OutboxMessage.relay_count - 1))


def mark_processed(session: Session, message_ids: list[int]) -> None:
    """Mark rows done (those not done yet; the first to finish wins)."""
    session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids),
                                                OutboxMessage.processed_at.is_(None))
                    .values(processed_at=clock.now()))


def count_unprocessed(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.processed_at.is_(None))
    )


def prune_processed(session: Session, *, before: datetime) -> int:
    """Delete rows processed before ``before``; returns how many."""
    return session.execute(delete(OutboxMessage).where(OutboxMessage.processed_at < before)).rowcount
