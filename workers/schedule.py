"""Periodic jobs, declared as a table, and the loop that enqueues them when due.

Every job is idempotent, so two schedulers running side by side do no harm."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import dramatiq

log = logging.getLogger("waybill.schedule")


@dataclass(frozen=True)
class Periodic:
    actor: str
    #: Seconds between runs.
    every: float


SCHEDULE = (
    Periodic("schedule_pickups", every=300),
    Periodic("dispatch_linehauls", every=1800),
    Periodic("watch_promises", every=900),
    Periodic("return_exhausted", every=600),
    Periodic("deliver_webhooks", every=1),
    Periodic("send_notifications", every=60),
    Periodic("watch_cases", every=300),
    Periodic("run_campaigns", every=60),
    Periodic("queue_reports", every=3600),
    Periodic("prune", every=3600),
)


class SchedulerThread(threading.Thread):
    def __init__(self, broker: dramatiq.Broker, schedule=SCHEDULE, *, tick: float = 1.0):
        super().__init__(name="scheduler", daemon=True)
        self.broker, self.schedule, self.tick = broker, schedule, tick
        self.stopping = threading.Event()

    def run(self) -> None:
        next_run = {job.actor: time.monotonic() for job in self.schedule}
        while not self.stopping.is_set():
            now = time.monotonic()
            for job in self.schedule:
                if now >= next_run[job.actor]:
                    try:
                        self.broker.get_actor(job.actor).send()
                    except Exception:
                        log.exception("could not enqueue %s", job.actor)
                    next_run[job.actor] = now + job.every
            self.stopping.wait(self.tick)

    def stop(self) -> None:
        self.stopping.set()
