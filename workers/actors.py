"""dramatiq actors: each takes ids, calls a service, commits, and is idempotent.

Queues are named by workload. Actors are declared on the broker set by
``workers.init_app``; ``bind`` moves them to a new one (tests switch brokers)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dramatiq
from flask import current_app

from app.db import db
from app.delivery import services as delivery
from app.hubs import services as hubs
from app.outbox import prune_processed
from workers.jobs import run_outbox_jobs

RETRIES = {"max_retries": 20, "min_backoff": 1_000, "max_backoff": 600_000}


@dramatiq.actor(queue_name="notifications", **RETRIES)
def notify_customer(outbox_ids: list[int]) -> None:
    """Email and text customers about delivery milestones."""
    run_outbox_jobs(outbox_ids)


@dramatiq.actor(queue_name="fees", **RETRIES)
def collect_fees(outbox_ids: list[int]) -> None:
    """Charge partners for delivered and returned shipments, and close them."""
    run_outbox_jobs(outbox_ids)


def _local_today():
    return datetime.now(timezone.utc).astimezone(ZoneInfo(current_app.config["WAYBILL_TIMEZONE"])).date()


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
    _commit_or_rollback(lambda: delivery.schedule_pickups(db.session, _local_today()))


@dramatiq.actor(queue_name="advance", max_retries=3)
def dispatch_linehauls() -> None:
    """Send the parcels waiting at each centre on a trip to their local hub."""
    _commit_or_rollback(lambda: hubs.dispatch_linehauls(db.session))


@dramatiq.actor(queue_name="advance", max_retries=3)
def return_exhausted() -> None:
    """Return to sender the shipments whose delivery attempts ran out."""
    _commit_or_rollback(lambda: delivery.return_exhausted(db.session))


#: Days processed outbox rows are kept for inspection.
OUTBOX_RETENTION_DAYS = 7


@dramatiq.actor(queue_name="maintenance", max_retries=3)
def prune_outbox() -> None:
    cutoff = datetime.now(timezone.utc) - timedelta(days=OUTBOX_RETENTION_DAYS)
    _commit_or_rollback(lambda: prune_processed(db.session, before=cutoff))


#: Outbox topic -> the actor that does it.
TOPIC_ACTORS = {"notify_customer": notify_customer, "collect_fees": collect_fees}
ALL = (notify_customer, collect_fees, schedule_pickups, dispatch_linehauls, return_exhausted,
       prune_outbox)


def bind(broker: dramatiq.Broker) -> None:
    for actor in ALL:
        actor.broker = broker
        broker.declare_actor(actor)
