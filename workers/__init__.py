"""Background work: the dramatiq broker, the actors, the outbox relay, periodic jobs.

``init_app(app)`` picks the broker (Redis when REDIS_URL is set, else an in-process one),
binds the actors to it, and registers the worker commands. ``dramatiq workers.main``
runs worker processes against Redis.
"""
from __future__ import annotations

import dramatiq
from flask import Flask

from workers.broker import make_broker


def init_app(app: Flask) -> dramatiq.Broker:
    broker = make_broker(app)
    dramatiq.set_broker(broker)
    from workers import actors, cli

    actors.bind(broker)
    app.extensions["dramatiq"] = broker
    cli.register_commands(app)
    return broker
