"""What each outbox topic does: thin calls into the services, a batch of rows at a time.
Shared by the actors and by ``run_pending`` (which the demo uses without a worker)."""
from __future__ import annotations

import logging
import time
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app import clock
from app.billing.fees import collect_fees
from app.crm import notifications
from app.crm.messaging import SmsRefused, make_mailer, make_sms_gateway
from app.db import db
from app.outbox import REQUEST_ID, OutboxMessage, lock_unprocessed, mark_processed
from app.webhooks import services as webhooks

log = logging.getLogger("waybill.jobs")


class JobFailed(Exception):
    """Some rows of a batch failed; they stay unprocessed and the message is retried."""


def _carriers():
    ext = current_app.extensions
    if "waybill.mailer" not in ext:
        ext["waybill.mailer"] = make_mailer(current_app.config)
        ext["waybill.sms"] = make_sms_gateway(current_app.config)
    return ext["waybill.mailer"], ext["waybill.sms"]


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


def _endpoint_disabled_notice(session: Session, row: OutboxMessage):
    """The email telling a partner that one of its webhook endpoints was disabled, as a
    call to make with no transaction open (None when there is nobody to tell)."""
    notice = webhooks.disabled_notice(session, row.payload["endpoint_id"])
    if notice is None:
        log.warning("webhook endpoint %s disabled; partner has no contact email", row.payload["endpoint_id"])
        return None
    mailer, _ = _carriers()
    to, subject, body = notice
    # The same Message-ID in every try: the row is marked done only after the send.
    message_id = f"<outbox-{row.id}@waybill.local>"
    return lambda: mailer.send(to, subject, body, message_id=message_id)


#: Outbox topic -> handler(session, rows) returning the rows that failed. Handlers only
#: write to the database; their rows are done in the transaction that runs them.
def _partner_events(session: Session, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """Events about a partner's account (an invoice issued, a remittance paid) to its
    subscribed webhook endpoints."""
    for row in rows:
        webhooks.notify_partner(session, row.payload["partner_id"], row.payload["type"], row.payload["id"],
                                row.payload["data"])
    return []


def _open_cases(session: Session, rows: list[OutboxMessage]) -> list[OutboxMessage]:
    """Cases that events call for (a parcel lost or damaged, a third failed attempt)."""
    from app.crm import cases

    cases.open_for_events(session, [(r.payload["shipment_id"], r.payload["seq"]) for r in rows])
    return []


HANDLERS = {
    "collect_fees": _collect_fees,
    "webhook": _fan_out_webhooks,
    "partner_event": _partner_events,
    "open_case": _open_cases,
}


def _document_email(kind: str, key: str):
    """The sender of a finance document's e-mail (an invoice or credit note, a remittance
    statement) to the partner's billing address, its PDF and CSV attached: drawn in the
    row's transaction, sent after it with the row's own Message-ID."""
    def prepare(session: Session, row: OutboxMessage):
        from app.billing import invoices, remittances
        from app.billing.documents import Company

        email_for = {"invoice": invoices.email_for, "remittance": remittances.email_for}[kind]
        found = email_for(session, row.payload[key], company=Company.from_config(current_app.config),
                          font=current_app.config.get("WAYBILL_LABEL_FONT"))
        if found is None:
            log.warning("%s %s: the partner has no billing e-mail", kind, row.payload[key])
            return None
        mailer, _ = _carriers()
        to, subject, body, attachments = found
        message_id = f"<outbox-{row.id}@waybill.local>"
        return lambda: mailer.send(to, subject, body, message_id=message_id, attachments=attachments)
    return prepare


def _case_email(session: Session, row: OutboxMessage):
    """An e-mail of a case's thread to the customer or the partner."""
    from app.crm import cases

    found = cases.email_for(session, row.payload["message_id"], public_url=current_app.config["WAYBILL_PUBLIC_URL"])
    if found is None:
        return None
    mailer, _ = _carriers()
    to, subject, body = found
    message_id = f"<outbox-{row.id}@waybill.local>"
    return lambda: mailer.send(to, subject, body, message_id=message_id)


def _case_warning(session: Session, row: OutboxMessage):
    """An e-mail to a case's owner: one of its SLA targets is near or past."""
    from app.auth.models import User
    from app.crm import cases

    case = cases.case_of(session, row.payload["case_id"])
    owner = session.get(User, case.owner_id) if case is not None and case.owner_id else None
    if owner is None or not owner.active:
        return None
    mailer, _ = _carriers()
    subject, body = cases.warning_text(case, row.payload["target"], public_url=current_app.config["WAYBILL_PUBLIC_URL"])
    message_id = f"<outbox-{row.id}@waybill.local>"
    return lambda: mailer.send(owner.email, subject, body, message_id=message_id)


def _task_reminder(session: Session, row: OutboxMessage):
    """An e-mail to a task's owner: its moment has come."""
    from app.auth.models import User
    from app.crm import accounts
    from app.crm.models import Activity

    task = session.get(Activity, row.payload["activity_id"])
    owner = session.get(User, task.owner_id) if task is not None and task.owner_id else None
    if owner is None or not owner.active or task.done_at is not None:
        return None
    mailer, _ = _carriers()
    subject, body = accounts.reminder_text(task, public_url=current_app.config["WAYBILL_PUBLIC_URL"])
    message_id = f"<outbox-{row.id}@waybill.local>"
    return lambda: mailer.send(owner.email, subject, body, message_id=message_id)


def _report_email(session: Session, row: OutboxMessage):
    """A month's report to a subscriber, its PDF and XLSX attached."""
    from app.billing.documents import Company
    from app.reports import schedules

    found = schedules.email_for(session, row.payload["sending_id"], company=Company.from_config(current_app.config),
                                font=current_app.config.get("WAYBILL_LABEL_FONT"),
                                public_url=current_app.config["WAYBILL_PUBLIC_URL"])
    if found is None:
        return None
    mailer, _ = _carriers()
    to, subject, body, attachments = found
    message_id = f"<outbox-{row.id}@waybill.local>"
    return lambda: mailer.send(to, subject, body, message_id=message_id, attachments=attachments)


#: Outbox topic -> prepare(session, row) returning the network call to make, or None.
#: The call is made after the commit, and the row marked done in a commit of its own.
SENDERS = {
    "task_reminder": _task_reminder,
    "endpoint_disabled": _endpoint_disabled_notice,
    "invoice_email": _document_email("invoice", "invoice_id"),
    "remittance_email": _document_email("remittance", "remittance_id"),
    "case_email": _case_email,
    "case_warning": _case_warning,
    "report_email": _report_email,
}


def _mark_invoice_emailed(session: Session, payload: dict) -> None:
    from app.billing import invoices

    invoices.mark_emailed(session, payload["invoice_id"])


def _mark_case_email_sent(session: Session, payload: dict) -> None:
    from app.crm import cases

    cases.mark_sent(session, payload["message_id"])


def _mark_report_sent(session: Session, payload: dict) -> None:
    from app.reports import schedules

    schedules.mark_sent(session, payload["sending_id"])


#: What a sent row's topic records, in the commit that marks it done.
SENT = {"invoice_email": _mark_invoice_emailed, "case_email": _mark_case_email_sent,
        "report_email": _mark_report_sent}


def _plan_notifications(session: Session, rows: list[OutboxMessage]):
    """The customer messages the rows' events are owed, written and claimed in the
    rows' transaction (the rows are then done: the messages carry the rest); returns the
    rows that failed and the messages to send after the commit."""
    by_key = {(r.payload["shipment_id"], r.payload["seq"]): r for r in rows}
    claimed, failures = notifications.plan_and_claim(session, list(by_key),
                                                     public_url=current_app.config["WAYBILL_PUBLIC_URL"])
    for key, exc in failures:
        log.warning("notification for shipment %s event %s failed: %s", key[0], key[1], exc)
    return [by_key[key] for key, _ in failures], claimed


def run_outbox_jobs(message_ids: list[int]) -> int:
    """``_run_outbox_jobs`` under the request ids of the rows (reset after)."""
    token = REQUEST_ID.set(None)
    try:
        return _run_outbox_jobs(message_ids)
    finally:
        REQUEST_ID.reset(token)


def _run_outbox_jobs(message_ids: list[int]) -> int:
    """Do the work of outbox rows and mark the done ones processed.

    Rows are locked first, so a redelivered message waits for the first run and then
    finds them done. Database work is one transaction for the batch; customer messages
    are planned and claimed in it (their rows then carry the work) and sent after its
    commit. Other network work is prepared in it, made after its commit with no
    transaction open, and each row marked done in a commit of its own. Rows that failed
    stay unprocessed and JobFailed is raised after the commits, so that dramatiq retries
    them (and only them). Returns how many rows there were."""
    session = db.session
    calls, claimed = [], []
    with committed(session):
        rows = lock_unprocessed(session, message_ids)
        # The requests that wrote these rows: what this work logs under.
        REQUEST_ID.set(",".join(sorted({r.request_id for r in rows if r.request_id}))[:200] or None)
        if rows:
            log.info("outbox rows %s: %s", ",".join(str(r.id) for r in rows[:20]),
                     ",".join(sorted({r.topic for r in rows})))
        failed: list[OutboxMessage] = []
        for topic in {r.topic for r in rows if r.topic in HANDLERS}:
            failed += HANDLERS[topic](session, [r for r in rows if r.topic == topic])
        to_notify = [r for r in rows if r.topic == "notify_customer"]
        if to_notify:
            not_planned, claimed = _plan_notifications(session, to_notify)
            failed += not_planned
        now = clock.now()
        for row in rows:
            if row.topic in SENDERS:
                calls.append((row.id, SENDERS[row.topic](session, row)))
            elif row not in failed:
                row.processed_at = now
    if claimed:
        send_claimed(claimed)
    for row_id, call in calls:
        try:
            if call is not None:
                call()
        except Exception:
            log.exception("outbox row %s failed", row_id)
            failed.append(next(r for r in rows if r.id == row_id))
            continue
        with committed(session):
            mark_processed(session, [row_id])
            row = next(r for r in rows if r.id == row_id)
            if row.topic in SENT and call is not None:
                SENT[row.topic](session, row.payload)
    if failed:
        raise JobFailed(f"{len(failed)} of {len(rows)} outbox rows failed")
    return len(rows)


#: Seconds of sending after which what was sent is recorded at once: a sender killed
#: mid-batch sends again (with the same ids) only what went out in the last moment.
RECORD_WITHIN = 0.05


def send_notifications(*, limit: int = 500) -> tuple[int, int]:
    """Send the customer messages that are due (retries, and those a sender died
    holding), a claim at a time; stops when none are due or after ``limit``; the
    periodic sweep takes the rest. Returns (sent, failed)."""
    session = db.session
    sent = failed = 0
    while sent + failed < limit:
        with committed(session):
            batch = notifications.claim_due(session)
        if not batch:
            break
        done, refused = send_claimed(batch)
        sent, failed = sent + done, failed + refused
    return sent, failed


def send_claimed(messages: list) -> tuple[int, int]:
    """Hand messages this sender holds to their carriers, with no transaction open, and
    commit the proofs: at the end, or at once when sending has taken more than
    RECORD_WITHIN (then the hold of those still to send starts again). So a fast carrier
    costs one commit for the lot and a slow one a commit per message. A refused commit is
    tried again (the proofs are held in memory meanwhile). Returns (sent, failed)."""
    mailer, sms = _carriers()
    session = db.session
    proofs: list[tuple[int, str, object]] = []
    sent = failed = 0
    started = time.monotonic()
    for position, message in enumerate(messages):
        try:
            provider = notifications.send(message, mailer=mailer, sms=sms)
        except Exception as exc:
            log.warning("%s %s to %s failed: %s", message.channel, message.id, message.recipient, exc)
            error, permanent = f"{type(exc).__name__}: {exc}", isinstance(exc, SmsRefused)
            record_with_retries(session, lambda: notifications.record_failure(session, message.id, error,
                                                                              permanent=permanent))
            failed += 1
        else:
            proofs.append((message.id, provider, clock.now()))
            sent += 1
        if time.monotonic() - started > RECORD_WITHIN:
            rest = [m.id for m in messages[position + 1:]]

            def record_and_hold():
                notifications.record_sent(session, proofs)
                notifications.hold_on(session, rest)

            record_with_retries(session, record_and_hold)
            proofs, started = [], time.monotonic()
    record_with_retries(session, lambda: notifications.record_sent(session, proofs))
    return sent, failed


#: Waits before trying again to record what was sent, while the database is away.
RECORD_RETRY_WAITS = (0.2, 0.5, 1, 2, 4, 8)


def record_with_retries(session: Session, write):
    """Commit the record of something the network already did (and whatever ``write``
    adds). The proof is only in memory until then, so a refused commit (a restarting
    database, a deadlock) is tried again rather than left to the hold running out,
    which would send it a second time. Returns what ``write`` returned."""
    for wait in (*RECORD_RETRY_WAITS, None):
        try:
            with committed(session):
                return write()
        except OperationalError:
            if wait is None:
                raise
            log.warning("recording what was sent failed; trying again in %ss", wait, exc_info=True)
            time.sleep(wait)


@contextmanager
def committed(session: Session):
    """One transaction: commit at the end, roll back on any error."""
    try:
        yield
        session.commit()
    except BaseException:
        session.rollback()
        raise


def run_pending(limit: int = 100_000, batch: int = 100) -> int:
    """Run every unprocessed outbox job here and now, oldest first, and send the
    messages they planned."""
    ids = list(db.session.scalars(select(OutboxMessage.id).where(OutboxMessage.processed_at.is_(None))
                                  .order_by(OutboxMessage.id).limit(limit)))
    db.session.rollback()
    done = sum(run_outbox_jobs(ids[i:i + batch]) for i in range(0, len(ids), batch))
    send_notifications(limit=limit)
    return done


def queue_campaigns() -> list[int]:
    """Queue the campaigns whose moment has come, a chunk of customers per commit.
    Returns the ids of those queued."""
    from app.crm import campaigns

    session = db.session
    with committed(session):
        started = campaigns.start_due(session)
    queuing = started + [c.id for c in campaigns.campaigns(session) if c.status == "queuing" and c.id not in started]
    session.rollback()
    for campaign_id in queuing:
        while True:
            with committed(session):
                if not campaigns.queue_chunk(session, campaign_id):
                    break
    return queuing


def send_campaign_messages(*, limit: int = 2_000) -> tuple[int, int]:
    """Send pending campaign messages, a claim at a time, with no transaction open while
    sending; each outcome in a commit of its own. Returns (sent, failed)."""
    from app.crm import campaigns

    session = db.session
    mailer, sms = _carriers()
    config = current_app.config
    sent = failed = 0
    while sent + failed < limit:
        with committed(session):
            batch = campaigns.claim(session, public_url=config["WAYBILL_PUBLIC_URL"], secret=config["SECRET_KEY"])
        if not batch:
            break
        done = []
        for message in batch:
            try:
                if message.channel == "email":
                    mailer.send(message.recipient, message.subject or "", message.body, message_id=message.message_id)
                else:
                    sms.send(message.recipient, message.body, reference=message.message_id)
            except Exception as exc:  # one refused message must not stop the campaign
                error, permanent = f"{type(exc).__name__}: {exc}", isinstance(exc, SmsRefused)
                record_with_retries(session, lambda: campaigns.record_failure(session, message.id, error,
                                                                              permanent=permanent))
                failed += 1
                continue
            done.append(message.id)
            sent += 1
        record_with_retries(session, lambda: campaigns.record_sent(session, done))
    with committed(session):
        campaigns.finish_sent(session)
    return sent, failed
