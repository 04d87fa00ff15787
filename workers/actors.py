"""dramatiq actors: each takes ids, calls a service, commits, and is idempotent.

Queues are named by workload. Actors are declared on the broker set by
``workers.init_app``; ``bind`` moves them to a new one (tests switch brokers)."""
from __future__ import annotations

from datetime import timedelta

import dramatiq
from flask import current_app

from app import clock
from app.db import db
from app.crm import accounts, cases
from app.delivery import services as delivery
from app.hubs import services as hubs
from app.orders import event_partitions, promises
from app.api.idempotency import prune_idempotency_keys
from app.outbox import prune_processed
from app.reports import schedules
from app.webhooks import services as webhooks
from workers.jobs import queue_campaigns as queue_due_campaigns
from workers.jobs import run_outbox_jobs, send_campaign_messages
from workers.jobs import send_notifications as send_due_notifications

RETRIES = {"max_retries": 20, "min_backoff": 1_000, "max_backoff": 600_000}


@dramatiq.actor(queue_name="notifications", **RETRIES)
def notify_customer(outbox_ids: list[int]) -> None:
    """Write the messages customers are owed about delivery milestones, and send them."""
    run_outbox_jobs(outbox_ids)


@dramatiq.actor(queue_name="notifications", max_retries=3)
def send_notifications() -> None:
    """Send the customer messages that are due (new ones, retries, and those whose
    sender died holding them)."""
    send_due_notifications()


@dramatiq.actor(queue_name="fees", **RETRIES)
def collect_fees(outbox_ids: list[int]) -> None:
    """Charge partners for delivered and returned shipments, and close them."""
    run_outbox_jobs(outbox_ids)


@dramatiq.actor(queue_name="webhooks", **RETRIES)
def fan_out_webhooks(outbox_ids: list[int]) -> None:
    """Make a delivery of each shipment event for each endpoint that wants it; then
    have them sent."""
    run_outbox_jobs(outbox_ids)
    deliver_webhooks.send()


@dramatiq.actor(queue_name="webhooks", **RETRIES)
def tell_endpoint_disabled(outbox_ids: list[int]) -> None:
    """Write to partners whose webhook endpoint was disabled."""
    run_outbox_jobs(outbox_ids)


@dramatiq.actor(queue_name="finance", **RETRIES)
def finance_documents(outbox_ids: list[int]) -> None:
    """E-mail invoices, credit notes and remittance statements to partners."""
    run_outbox_jobs(outbox_ids)


@dramatiq.actor(queue_name="webhooks", **RETRIES)
def partner_events(outbox_ids: list[int]) -> None:
    """Events about a partner's account (an invoice issued, a remittance paid) to its
    webhook endpoints; then have them sent."""
    run_outbox_jobs(outbox_ids)
    deliver_webhooks.send()


@dramatiq.actor(queue_name="cases", **RETRIES)
def case_work(outbox_ids: list[int]) -> None:
    """Open the cases events call for; e-mail the threads' messages and the SLA warnings."""
    run_outbox_jobs(outbox_ids)


@dramatiq.actor(queue_name="reports", **RETRIES, time_limit=30 * 60 * 1000)
def report_work(outbox_ids: list[int]) -> None:
    """E-mail the month's reports to their subscribers."""
    run_outbox_jobs(outbox_ids)


@dramatiq.actor(queue_name="reports", max_retries=3)
def queue_reports() -> None:
    """When a month has ended, owe each subscriber its report (once)."""
    _commit_or_rollback(lambda: schedules.queue_due(db.session))


@dramatiq.actor(queue_name="cases", max_retries=3)
def watch_cases() -> None:
    """Open a case for each parcel late by some days; warn owners of SLA targets near;
    remind owners of tasks that fall due."""
    days = current_app.config["WAYBILL_LATE_CASE_DAYS"]
    _commit_or_rollback(lambda: cases.open_for_late(db.session, days=days))
    _commit_or_rollback(lambda: cases.due_warnings(db.session))
    _commit_or_rollback(lambda: accounts.remind_due_tasks(db.session))


@dramatiq.actor(queue_name="campaigns", max_retries=3, time_limit=30 * 60 * 1000)
def run_campaigns() -> None:
    """Queue the campaigns whose moment has come, then have their messages sent by as many
    senders as there are workers free."""
    queued = queue_due_campaigns()
    for _ in range(4 if queued else 1):
        send_campaigns.send()


@dramatiq.actor(queue_name="campaigns", max_retries=3, time_limit=30 * 60 * 1000)
def send_campaigns() -> None:
    """Send campaign messages (a few thousand a run); another run is asked for while any remain."""
    sent, failed = send_campaign_messages()
    if sent + failed:
        send_campaigns.send()


@dramatiq.actor(queue_name="webhooks", max_retries=3)
def deliver_webhooks() -> None:
    """Lease the due webhook deliveries as lanes (one shipment's events to one endpoint)
    and share them among the senders."""
    lanes = _commit_or_rollback(lambda: webhooks.claim_due(db.session))
    for i in range(0, len(lanes), webhooks.LANES_PER_MESSAGE):
        send_webhooks.send(lanes[i:i + webhooks.LANES_PER_MESSAGE])


@dramatiq.actor(queue_name="webhook_sends", max_retries=3, time_limit=30 * 60 * 1000)
def send_webhooks(lanes: list) -> None:
    """Send lanes side by side, each in order (a crash leaves the rest to the lease)."""
    if lanes and isinstance(lanes[0], int):  # a message from before lanes: one lane
        lanes = [lanes]
    config = current_app.config
    try:
        webhooks.send_lanes(lanes, allow_private=config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"],
                            disable_after=timedelta(days=config["WAYBILL_WEBHOOK_DISABLE_AFTER_DAYS"]))
    finally:
        db.session.rollback()


def _commit_or_rollback(fn):
    try:
        result = fn()
        db.session.commit()
        return result
    except BaseException:
        db.session.rollback()
        raise


@dramatiq.actor(queue_name="advance", max_retries=3)
def schedule_pickups() -> None:
    """Batch the day's new orders of each retailer into pickup runs."""
    _commit_or_rollback(lambda: delivery.schedule_pickups(db.session, clock.today()))


@dramatiq.actor(queue_name="advance", max_retries=3)
def dispatch_linehauls() -> None:
    """Send the parcels waiting at each centre on a trip to their local hub."""
    _commit_or_rollback(lambda: hubs.dispatch_linehauls(db.session))


@dramatiq.actor(queue_name="advance", max_retries=3)
def watch_promises() -> None:
    """Move the promise of each line-haul parcel still at its centre after its line-haul left."""
    _commit_or_rollback(lambda: promises.missed_linehauls(db.session))


@dramatiq.actor(queue_name="advance", max_retries=3)
def return_exhausted() -> None:
    """Return to sender the shipments whose delivery attempts ran out."""
    _commit_or_rollback(lambda: delivery.return_exhausted(db.session))


#: Days processed outbox rows are kept for inspection.
OUTBOX_RETENTION_DAYS = 7
#: Days finished webhook deliveries stay readable in the delivery log.
WEBHOOK_LOG_DAYS = 30
#: Hours an Idempotency-Key is kept (the contract promises at least 24).
IDEMPOTENCY_KEY_HOURS = 48


@dramatiq.actor(queue_name="maintenance", max_retries=3)
def prune() -> None:
    """Delete what has served its time: processed outbox rows, old webhook deliveries,
    expired idempotency keys; on PostgreSQL, make the months ahead of shipment events and
    drop those past WAYBILL_EVENT_RETENTION_MONTHS (a transaction of its own, short)."""
    now = clock.now()

    def work():
        prune_processed(db.session, before=now - timedelta(days=OUTBOX_RETENTION_DAYS))
        webhooks.prune(db.session, before=now - timedelta(days=WEBHOOK_LOG_DAYS))
        prune_idempotency_keys(db.session, before=now - timedelta(hours=IDEMPOTENCY_KEY_HOURS))

    _commit_or_rollback(work)
    keep = current_app.config["WAYBILL_EVENT_RETENTION_MONTHS"]
    _commit_or_rollback(lambda: event_partitions.maintain(db.session.connection(), event_partitions.utc_today(),
                                                          keep_months=keep))


#: Outbox topic -> the actor that does it.
TOPIC_ACTORS = {"notify_customer": notify_customer, "collect_fees": collect_fees,
                "webhook": fan_out_webhooks, "endpoint_disabled": tell_endpoint_disabled,
                "invoice_email": finance_documents, "remittance_email": finance_documents,
                "partner_event": partner_events, "open_case": case_work, "case_email": case_work,
                "case_warning": case_work, "task_reminder": case_work, "report_email": report_work}
ALL = (notify_customer, send_notifications, collect_fees, fan_out_webhooks, tell_endpoint_disabled, deliver_webhooks,
       send_webhooks, schedule_pickups, dispatch_linehauls, return_exhausted, prune, finance_documents,
       partner_events, case_work, watch_cases, run_campaigns, send_campaigns, watch_promises, report_work,
       queue_reports)


def bind(broker: dramatiq.Broker) -> None:
    for actor in ALL:
        actor.broker = broker
        broker.declare_actor(actor)
