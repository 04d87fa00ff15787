"""Each background process says it is alive: a key in Redis per process, written every few
seconds while the process does its work and left to expire when it stops.

The relay beats while its loop turns; a dramatiq worker process beats while its worker
threads live. ``/healthz``, ``/metrics`` and ``flask health --process`` read the keys: a
supervisor or an orchestrator's health check asks whether a process of a kind is alive
(on this host), an alert counts them."""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Callable

import redis

from app import clock

log = logging.getLogger("waybill.heartbeats")

PREFIX = "waybill:alive:"
#: The keys that beat, so that reading them scans no keyspace (the expired are dropped as read).
INDEX = "waybill:alive"
#: A process beats every BEAT seconds; a key not renewed for TTL seconds has expired.
BEAT = 5.0
TTL = 15
KINDS = ("relay", "worker")


def key_of(kind: str, host: str | None = None, pid: int | None = None) -> str:
    return f"{PREFIX}{kind}:{host or socket.gethostname()}:{pid or os.getpid()}"


class Heartbeat(threading.Thread):
    """Beats for this process every ``BEAT`` seconds while ``healthy()`` holds; a Redis that
    is away (or emptied) is written to again at the next beat."""

    def __init__(self, redis_url: str, kind: str, healthy: Callable[[], bool] = lambda: True):
        super().__init__(name=f"heartbeat-{kind}", daemon=True)
        self.client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.kind, self.healthy = kind, healthy
        self.key = key_of(kind)
        self.stopping = threading.Event()

    def beat(self) -> bool:
        if not self.healthy():
            return False
        try:
            self.client.pipeline().set(self.key, f"{clock.timestamp():.0f}", ex=TTL).sadd(INDEX, self.key).execute()
            return True
        except redis.RedisError as exc:
            log.warning("heartbeat not written: %s", exc)
            return False

    def run(self) -> None:
        while not self.stopping.is_set():
            self.beat()
            self.stopping.wait(BEAT)

    def stop(self) -> None:
        """Stop beating and take the key away (after the last beat, not before it)."""
        self.stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=5)
        try:
            self.client.pipeline().delete(self.key).srem(INDEX, self.key).execute()
        except redis.RedisError:
            pass  # it expires


def alive(client: redis.Redis, *, host: str | None = None) -> dict[str, list[str]]:
    """The processes that beat within the last TTL seconds, by kind, each as "host:pid";
    only this host's when ``host`` is given."""
    found: dict[str, list[str]] = {kind: [] for kind in KINDS}
    keys = sorted(client.smembers(INDEX))
    beats = client.mget(keys) if keys else []
    expired = [key for key, beat in zip(keys, beats) if beat is None]
    if expired:
        client.srem(INDEX, *expired)
    for key, beat in zip(keys, beats):
        if beat is None:
            continue
        kind, _, where = key.decode().removeprefix(PREFIX).partition(":")
        if host is None or where.rpartition(":")[0] == host:
            found.setdefault(kind, []).append(where)
    return {kind: sorted(places) for kind, places in found.items()}
