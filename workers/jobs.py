"""What each outbox topic does: thin calls into the services. Shared by the actors and
by ``run_pending`` (which the demo uses to finish its work without a worker)."""
from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from app.billing.fees import collect_fees
from app.crm.messaging import make_mailer, make_sms_gateway
from app.crm.notifications import notify_customer
from app.db import db, utcnow
from app.outbox import OutboxMessage, lock_unprocessed


def _carriers():
    ext = current_app.extensions
    if "waybill.mailer" not in ext:
        ext["waybill.mailer"] = make_mailer(current_app.config)
        ext["waybill.sms"] = make_sms_gateway(current_app.config)
    return ext["waybill.mailer"], ext["waybill.sms"]


def _notify(session: Session, payload: dict) -> None:
    mailer, sms = _carriers()
    notify_customer(session, payload["shipment_id"], payload["seq"], mailer=mailer, sms=sms,
                    public_url=current_app.config["WAYBILL_PUBLIC_URL"])


def _collect_fees(session: Session, payload: dict) -> None:
    collect_fees(session, payload["shipment_id"])


HANDLERS = {
    "notify_customer": _notify,
    "collect_fees": _collect_fees,
}


def run_outbox_job(message_id: int) -> bool:
    """Do the work of one outbox row and mark it processed, in one transaction.

    The row is locked first: a redelivered message waits for the first run, then finds
    the row processed and does nothing. Returns whether work was done."""
    session = db.session
    try:
        message = lock_unprocessed(session, message_id)
        if message is None:
            session.rollback()
            return False
        HANDLERS[message.topic](session, message.payload)
        message.processed_at = utcnow()
        session.commit()
        return True
    except BaseException:
        session.rollback()
        raise


def run_pending(limit: int = 100_000) -> int:
    """Run every unprocessed outbox job here and now, oldest first."""
    from sqlalchemy import select

    ids = list(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.processed_at.is_(None))
                                  .order_by(OutboxMessage.id).limit(limit)))
    db.session.rollback()
    return sum(run_outbox_job(i) for i in ids)
