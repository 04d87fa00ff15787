"""Which shipments changed, told to every process as it happens, so that what a process
keeps of a shipment (its tracking answer) is dropped the moment it is out of date.

A shipment's ``version`` goes up with every change the ORM writes (an applied event, a
late scan, a promise moved). When a transaction that changed shipments commits, the
process that committed it publishes ``"<id>:<version> …"`` on a Redis channel, after the
commit and never inside it, and tells its own listeners at once. Each web process
subscribes (``Feed.listening``). What a listener may trust is bounded by the feed's state:

- a message can be lost (the committing process dies between commit and publish; Redis
  does not answer); whoever keeps answers on the strength of the feed re-reads them after
  a bound of seconds anyway;
- a subscription that breaks loses what was published meanwhile: once subscribed again
  the feed is in a new ``epoch`` (numbered for the life of the process), and an answer
  read under an older one is not trusted until read again.

Without Redis (the embedded mode) nothing is published or heard: ``listening()`` is None
and readers ask the database for the version, as they always could.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from typing import Callable, Iterable

import redis
from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from app.orders.models import Shipment

log = logging.getLogger("waybill.feed")

#: Followed by the Redis database's number: Redis' channels span its databases, and two
#: deployments on one Redis server (each on its database) must not hear each other.
CHANNEL = "waybill:shipments-changed"
#: After a failed publish this process does not try again for this long (a Redis that is
#: away must not cost every committing transaction a connect timeout).
PAUSE_AFTER_FAILURE = 5.0

Changes = dict[int, int]  # shipment id -> its version after the change


def parse(payload: bytes | str) -> Changes:
    text = payload.decode() if isinstance(payload, bytes) else payload
    changes: Changes = {}
    for pair in text.split():
        sid, _, version = pair.partition(":")
        changes[int(sid)] = max(int(version), changes.get(int(sid), 0))
    return changes


def payload_of(changes: Changes) -> str:
    return " ".join(f"{sid}:{version}" for sid, version in changes.items())


class Feed:
    """This process's end of the channel: publishes what it committed, hears what the
    others did, and passes both to the callbacks registered with ``on_change``."""

    def __init__(self) -> None:
        self.url: str | None = None
        self.channel = CHANNEL
        self._lock = threading.Lock()
        self._changed: list[Callable[[Changes], None]] = []
        self._publisher: redis.Redis | None = None
        self._paused_until = 0.0
        self._listener: _Listener | None = None
        self._pid: int | None = None

    def configure(self, redis_url: str | None) -> None:
        """The Redis to publish to and hear from; None: no feed (embedded mode)."""
        with self._lock:
            if redis_url == self.url:
                return
            self._stop_listener()
            self.url = redis_url
            self._publisher = (redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
                               if redis_url else None)
            if self._publisher is not None:
                self.channel = f"{CHANNEL}:{self._publisher.connection_pool.connection_kwargs.get('db', 0)}"
            self._paused_until = 0.0

    def on_change(self, changed: Callable[[Changes], None]) -> None:
        self._changed.append(changed)

    # -- publishing -----------------------------------------------------------------------

    def publish(self, changes: Changes) -> None:
        """Tell this process's callbacks at once, then the others through Redis. Called
        after the commit; a failure is logged, never raised (the change is committed)."""
        self._tell(changes)
        client = self._publisher
        if client is None or time.monotonic() < self._paused_until:
            return
        try:
            client.publish(self.channel, payload_of(changes))
        except redis.RedisError as exc:
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            log.warning("shipment changes not published (%s); readers re-read within their bound", exc)

    # -- listening ------------------------------------------------------------------------

    def listening(self) -> int | None:
        """The epoch of a subscription that holds now (starting one in this process if
        none runs), or None: nothing heard can be trusted."""
        if self.url is None:
            return None
        listener = self._listener
        if listener is None or self._pid != os.getpid():
            with self._lock:
                if self._listener is None or self._pid != os.getpid():  # a forked child starts its own
                    self._listener, self._pid = _Listener(self, self.url), os.getpid()
                    self._listener.start()
                listener = self._listener
        return listener.epoch if listener.subscribed.is_set() else None

    def state(self) -> str:
        """For /healthz and /metrics, starting nothing: "off" (no Redis), "idle" (nothing
        has asked in this process yet), "subscribed", or "down" (subscribing again)."""
        if self.url is None:
            return "off"
        listener = self._listener
        if listener is None or self._pid != os.getpid():
            return "idle"
        return "subscribed" if listener.subscribed.is_set() else "down"

    def _stop_listener(self) -> None:
        if self._listener is not None and self._pid == os.getpid():
            self._listener.stop()
        self._listener = None

    def stop(self) -> None:
        with self._lock:
            self._stop_listener()

    def _tell(self, changes: Changes) -> None:
        for call in self._changed:
            call(changes)


#: Epochs are numbered for the life of the process, across listeners and Redis URLs.
_epochs = itertools.count(1)


class _Listener(threading.Thread):
    """Subscribes, passes every message on, and on any break subscribes again (a new
    epoch: what was read under the old one is no longer trusted)."""

    def __init__(self, feed: Feed, url: str):
        super().__init__(name="shipment-feed", daemon=True)
        self.feed, self.url = feed, url
        self.epoch = 0  # none yet
        self.subscribed = threading.Event()
        self.stopping = threading.Event()
        self._pubsub = None

    def stop(self) -> None:
        self.stopping.set()
        self.subscribed.clear()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._listen()
            except (redis.RedisError, OSError, ValueError) as exc:
                if self.stopping.is_set():
                    break
                log.warning("shipment feed lost (%s); subscribing again", exc)
            finally:
                self.subscribed.clear()
            self.stopping.wait(1.0)

    def _listen(self) -> None:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=2, health_check_interval=5,
                                      socket_keepalive=True)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.feed.channel)
            while not self.stopping.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    # Whatever was read before this moment may have missed a change.
                    self.epoch = next(_epochs)
                    self.subscribed.set()
                elif message["type"] == "message":
                    self.feed._tell(parse(message["data"]))
        finally:
            pubsub.close()
            client.close()


FEED = Feed()


# -- what a transaction changed -----------------------------------------------------------

@event.listens_for(Shipment, "after_update")
def _noted(mapper, connection, target: Shipment) -> None:
    session = object_session(target)
    if session is not None:
        note_changed(session, [(target.id, target.version)])


class _Published:
    """What a transaction changed, published once it commits: one per transaction, in the
    session's after-commit calls (``Database.after_commit``), so a rollback forgets it."""

    def __init__(self):
        self.changes: Changes = {}

    def __call__(self) -> None:
        FEED.publish(self.changes)


def note_changed(session: Session, changes: Iterable[tuple[int, int]]) -> None:
    """These shipments changed in the session's transaction (their new versions): the
    ORM's updates note themselves; a statement the ORM did not see is noted here."""
    calls = session.info.setdefault("after_commit", [])
    pending = next((call for call in calls if isinstance(call, _Published)), None)
    if pending is None:
        pending = _Published()
        calls.append(pending)
    for sid, version in changes:
        pending.changes[sid] = max(version, pending.changes.get(sid, 0))
