"""Running the workers: in-process (embedded mode) or waiting on remote dramatiq workers."""
from __future__ import annotations

import time

import dramatiq
from dramatiq import Worker
from flask import Flask

from app.db import db
from app.heartbeats import Heartbeat
from app.outbox import count_unprocessed
from workers.broker import is_in_process
from workers.relay import RelayThread
from workers.schedule import SchedulerThread


class Runtime:
    """The relay, optionally the scheduler, and — with the in-process broker — a dramatiq
    worker consuming in this process. With Redis, ``dramatiq workers.main`` processes
    consume and this only relays."""

    def __init__(self, app: Flask, broker: dramatiq.Broker, *, scheduler: bool = True,
                 threads: int | None = None):
        self.app, self.broker = app, broker
        self.worker = (Worker(broker, worker_threads=threads or app.config["WORKER_THREADS"],
                              worker_timeout=100)
                       if is_in_process(broker) else None)
        self.relay = RelayThread(app, broker, idle=0.05)
        self.scheduler = SchedulerThread(broker) if scheduler else None
        url = app.config.get("REDIS_URL")
        self.heartbeat = Heartbeat(url, "relay", healthy=self.relay.turning) if url else None

    def start(self) -> "Runtime":
        if self.worker:
            self.worker.start()
        self.relay.start()
        if self.scheduler:
            self.scheduler.start()
        if self.heartbeat:
            self.heartbeat.start()
        return self

    def stop(self) -> None:
        for thread in (self.heartbeat, self.scheduler, self.relay):
            if thread:
                thread.stop()
                thread.join(timeout=10)
        if self.worker:
            self.worker.stop()

    def drain(self, timeout: float = 600) -> None:
        """Wait until every outbox row is processed."""
        deadline = time.monotonic() + timeout
        while True:
            with self.app.app_context():
                pending = count_unprocessed(db.session)
                db.session.remove()
            if pending == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{pending} outbox jobs still pending after {timeout:g}s; "
                                   "are the dramatiq workers running?")
            time.sleep(0.05)
