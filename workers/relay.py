"""The outbox relay: hands committed outbox rows to dramatiq, at least once.

A row is marked relayed in the transaction that claims it, and enqueued after that
commit, with no transaction open: a crash in between leaves it to the lease (the actors
are idempotent); a broker that refuses gets it released for the next turn. A row
relayed but not processed within the lease is sent again, so a Redis that lost its
queues, or a worker that died mid-job, loses nothing. On PostgreSQL several relays run
side by side: each claims its rows with ``FOR UPDATE SKIP LOCKED``."""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import dramatiq
from flask import Flask

from app import clock
from app.db import db
from app.outbox import claim_due, release
from workers.actors import TOPIC_ACTORS

log = logging.getLogger("waybill.relay")


#: Outbox rows per message: one transaction in the actor does them all.
MESSAGE_BATCH = 100


def relay_once(broker: dramatiq.Broker, *, lease: timedelta, limit: int = 500,
               batch: int = MESSAGE_BATCH) -> int:
    """Relay one batch of due rows, ``batch`` rows of a topic per message; returns how
    many rows were claimed.

    The rows are claimed and marked relayed in one commit, and only then handed to the
    broker, with no transaction open (the broker is a network service). A crash between
    the two leaves them to the lease; a broker that refuses gets them released at once."""
    session = db.session
    try:
        rows = claim_due(session, lease=lease, limit=limit)
        now = clock.now()
        by_topic: dict[str, list[int]] = {}
        for row in rows:
            if row.topic not in TOPIC_ACTORS:
                log.error("outbox row %s has unknown topic %r; left for an operator", row.id, row.topic)
                continue
            by_topic.setdefault(row.topic, []).append(row.id)
            row.relayed_at = now
            row.relay_count += 1
        session.commit()
    except BaseException:
        session.rollback()
        raise
    handed: set[int] = set()
    try:
        for topic, ids in by_topic.items():
            for i in range(0, len(ids), batch):
                chunk = ids[i:i + batch]
                broker.enqueue(TOPIC_ACTORS[topic].message(chunk))
                handed.update(chunk)
    finally:
        left = [i for ids in by_topic.values() for i in ids if i not in handed]
        if left:  # the broker refused: the rows go again at the next turn, not after the lease
            try:
                release(session, left)
                session.commit()
            except Exception:
                session.rollback()
                log.exception("could not release outbox rows %s; the lease will", left[:10])
    return len(rows)


class RelayThread(threading.Thread):
    """Relays in a loop until stopped; sleeps ``idle`` seconds when nothing was due."""

    def __init__(self, app: Flask, broker: dramatiq.Broker, *, idle: float = 0.2, limit: int = 500):
        super().__init__(name="outbox-relay", daemon=True)
        self.app, self.broker, self.idle, self.limit = app, broker, idle, limit
        self.stopping = threading.Event()
        self.turned_at = time.monotonic()

    def turning(self, within: float = 30.0) -> bool:
        """The loop went round within ``within`` seconds (its heartbeat's test)."""
        return self.is_alive() and time.monotonic() - self.turned_at < within

    def run(self) -> None:
        lease = timedelta(seconds=self.app.config["OUTBOX_LEASE_SECONDS"])
        with self.app.app_context():
            while not self.stopping.is_set():
                self.turned_at = time.monotonic()
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
