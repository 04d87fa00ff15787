"""Broker set-up: dramatiq's RedisBroker when REDIS_URL is set, else a StubBroker that the
in-process worker consumes (the embedded default). Either way every message runs inside
the Flask app context, with a fresh database session."""
from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware
from flask import Flask

from app.db import db
from app.heartbeats import Heartbeat


class AppContext(Middleware):
    """Runs each message inside the app context and drops the session afterwards."""

    def __init__(self, app: Flask):
        self.app = app
        self._contexts = {}

    def before_process_message(self, broker, message):
        ctx = self.app.app_context()
        ctx.push()
        self._contexts[message.message_id] = ctx

    def _pop(self, message):
        db.session.remove()
        ctx = self._contexts.pop(message.message_id, None)
        if ctx is not None:
            ctx.pop()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._pop(message)

    def after_skip_message(self, broker, message):
        self._pop(message)


class ProcessHeartbeat(Middleware):
    """A worker process beats (``app.heartbeats``) while all its worker threads live."""

    def __init__(self, redis_url: str):
        self.redis_url = redis_url
        self.heartbeat: Heartbeat | None = None

    def after_worker_boot(self, broker, worker):
        def healthy() -> bool:
            return bool(worker.workers) and all(thread.is_alive() for thread in worker.workers)

        self.heartbeat = Heartbeat(self.redis_url, "worker", healthy=healthy)
        self.heartbeat.start()

    def before_worker_shutdown(self, broker, worker):
        if self.heartbeat:
            self.heartbeat.stop()


def make_broker(app: Flask) -> dramatiq.Broker:
    url = app.config.get("REDIS_URL")
    broker = RedisBroker(url=url) if url else StubBroker()
    broker.add_middleware(AppContext(app))
    if url:
        broker.add_middleware(ProcessHeartbeat(url))
    return broker


def is_in_process(broker: dramatiq.Broker) -> bool:
    return isinstance(broker, StubBroker)
