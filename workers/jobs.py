"""What each outbox topic does: thin calls into the services, a batch of rows at a time.
Shared by the actors and by ``run_pending`` (which the demo uses without a worker)."""
from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.billing.fees import collect_fees
from app.crm.messaging import make_mailer, make_sms_gateway
from app.crm.notifications import notify_customers
from app.db import db
from app.crm.models import Partner
from app.outbox import OutboxMessage, lock_unprocessed
from app.webhooks import services as webhooks
from app.webhooks.models import WebhookEndpoint

log = logging.getLogger("waybill.jobs")


class JobFailed(Exception):
    """Some rows of a batch failed; they stay unprocessed and the message is retried."""


def _carriers():
    ext = current_app.extensions
    if "waybill.mailer" not in ext:
        ext["waybill.mailer"] = make_mailer(current_app.config)
        ext["waybill.sms"] = make_sms_gateway(current_app.config)
    return ext["waybill.mailer"], ext["waybill.sms"]


def _notify(session: Session, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    mailer, sms = _carriers()
    by_key = {(r.payload["shipment_id"], r.payload["seq"]): r for r in rows}
    _, failures = notify_customers(session, list(by_key), mailer=mailer, sms=sms,
                                   public_url=current_app.config["WAYBILL_PUBLIC_URL"])
    for key, exc in failures:
        log.warning("notification for shipment %s event %s failed: %s", key[0], key[1], exc)
    return [by_key[key] for key, _ in failures]


def _collect_fees(session: Session, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    try:
        with session.begin_nested():
            collect_fees(session, [r.payload["shipment_id"] for r in rows])
        return []
    except Exception:
        if len(rows) == 1:
            log.exception("fees for shipment %s failed", rows[0].payload["shipment_id"])
            return rows
    # Something in the batch failed: one savepoint per shipment finds which.
    return [row for row in rows if _collect_fees(session, [row])]


def _fan_out_webhooks(session: Session, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    webhooks.fan_out(session, [(r.payload["shipment_id"], r.payload["seq"]) for r in rows])
    return []


def _tell_endpoint_disabled(session: Session, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """Write to the partner that one of its webhook endpoints was disabled, and why."""
    mailer, _ = _carriers()
    for row in rows:
        endpoint = session.get(WebhookEndpoint, row.payload["endpoint_id"])
        partner = session.get(Partner, endpoint.partner_id) if endpoint else None
        if partner is None or not partner.contact_email:
            log.warning("webhook endpoint %s disabled; partner has no contact email", row.payload["endpoint_id"])
            continue
        mailer.send(partner.contact_email, "Waybill: a webhook endpoint was disabled",
                    f"Your webhook endpoint {endpoint.url} (id {endpoint.id}) was disabled: "
                    f"{endpoint.disabled_reason}.\n\nEvents since then were not sent to it. Enable it "
                    f"again with PATCH /api/v1/webhook-endpoints/{endpoint.id} and replay what it "
                    f"missed with POST /api/v1/webhook-endpoints/{endpoint.id}/replay.\n")
    return []


#: Outbox topic -> handler(session, rows) returning the rows that failed.
HANDLERS = {
    "notify_customer": _notify,
    "collect_fees": _collect_fees,
    "webhook": _fan_out_webhooks,
    "endpoint_disabled": _tell_endpoint_disabled,
}


def run_outbox_jobs(message_ids: list[int]) -> int:
    """Do the work of outbox rows and mark the done ones processed, in one transaction.

    Rows are locked first, so a redelivered message waits for the first run and then
    finds them done. Rows that failed stay unprocessed and JobFailed is raised after the
    commit, so that dramatiq retries them (and only them). Returns how many were done."""
    session = db.session
    try:
        rows = lock_unprocessed(session, message_ids)
        failed: list[OutboxMessage] = []
        for topic in {r.topic for r in rows}:
            failed += HANDLERS[topic](session, [r for r in rows if r.topic == topic])
        now = clock.now()
        for row in rows:
            if row not in failed:
                row.processed_at = now
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if failed:
        raise JobFailed(f"{len(failed)} of {len(rows)} outbox rows failed: {[r.id for r in failed]}")
    return len(rows)


def run_pending(limit: int = 100_000, batch: int = 100) -> int:
    """Run every unprocessed outbox job here and now, oldest first."""
    ids = list(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.processed_at.is_(None))
                                  .order_by(OutboxMessage.id).limit(limit)))
    db.session.rollback()
    return sum(run_outbox_jobs(ids[i:i + batch]) for i in range(0, len(ids), batch))
