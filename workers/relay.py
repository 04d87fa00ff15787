"""The outbox relay: hands committed outbox rows to dramatiq, at least once.

A row is marked relayed in the same transaction that claimed it, after the message is
enqueued: a crash before the commit re-sends it (the actors are idempotent). A row
relayed but not processed within the lease is sent again, so a Redis that lost its
queues, or a worker that died mid-job, loses nothing. On PostgreSQL several relays run
side by side: each claims its rows with ``FOR UPDATE SKIP LOCKED``."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import dramatiq
from flask import Flask

from app import clock
from app.db import db
from app.outbox import claim_due
from workers.actors import TOPIC_ACTORS

log = logging.getLogger("waybill.relay")


#: Outbox rows per message: one transaction in the actor does them all.
MESSAGE_BATCH = 100


def relay_once(broker: dramatiq.Broker, *, lease: timedelta, limit: int = 500,
               batch: int = MESSAGE_BATCH) -> int:
    """Relay one batch of due rows, ``batch`` rows of a topic per message; returns how
    many rows were claimed."""
    session = db.session
    try:
        rows = claim_due(session, lease=lease, limit=limit)
        now = clock.now()
        by_topic: dict[str, list] = {}
        for row in rows:
            if row.topic not in TOPIC_ACTORS:
                log.error("outbox row %s has unknown topic %r; left for an operator", row.id, row.topic)
                continue
            by_topic.setdefault(row.topic, []).append(row)
        for topic, topic_rows in by_topic.items():
            for i in range(0, len(topic_rows), batch):
                chunk = topic_rows[i:i + batch]
                broker.enqueue(TOPIC_ACTORS[topic].message([r.id for r in chunk]))
                for row in chunk:
                    row.relayed_at = now
                    row.relay_count += 1
        session.commit()
        return len(rows)
    except BaseException:
        session.rollback()
        raise


class RelayThread(threading.Thread):
    """Relays in a loop until stopped; sleeps ``idle`` seconds when nothing was due."""

    def __init__(self, app: Flask, broker: dramatiq.Broker, *, idle: float = 0.2, limit: int = 500):
        super().__init__(name="outbox-relay", daemon=True)
        self.app, self.broker, self.idle, self.limit = app, broker, idle, limit
        self.stopping = threading.Event()

    def run(self) -> None:
        lease = timedelta(seconds=self.app.config["OUTBOX_LEASE_SECONDS"])
        with self.app.app_context():
            while not self.stopping.is_set():
                try:
                    sent = relay_once(self.broker, lease=lease, limit=self.limit)
                except Exception:
                    log.exception("relay failed; retrying")
                    sent = 0
                finally:
                    db.session.remove()
                if sent < self.limit:
                    self.stopping.wait(self.idle)

    def stop(self) -> None:
        self.stopping.set()
