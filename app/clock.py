"""The one clock of Waybill. Every service, view, actor and command reads the time here.

``now()`` is the present as an aware UTC datetime; ``today()`` is the network's calendar day
(the courier works in one zone, ``WAYBILL_TIMEZONE``, Asia/Ho_Chi_Minh by default). Tests
move the clock with time-machine, which moves ``datetime.now`` and ``time.time`` for the
whole process; reading it here, and only here, means a moved clock reaches every rule.
The demo and ``simulate --last-month`` play a past month with ``at``, which sets the
process's clock to a past moment for the length of a block.
"""
from __future__ import annotations

import time as _time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

#: The zone used outside an application (scripts, pure tests).
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"


#: How far the process's clock is set back (``at``); zero but in a demo's past month.
_shift = timedelta(0)


def now() -> datetime:
    """The present, aware, in UTC."""
    return datetime.now(timezone.utc) + _shift


def timestamp() -> float:
    """Seconds since the epoch (what sessions and Retry-After headers count in)."""
    return _time.time() + _shift.total_seconds()


@contextmanager
def at(moment: datetime):
    """The clock reads ``moment`` (then runs on from it) until the block ends: how the demo
    plays a month that has passed. Process-wide; for commands, never for a server."""
    global _shift
    before = _shift
    _shift = moment - datetime.now(timezone.utc)
    try:
        yield
    finally:
        _shift = before


@lru_cache(maxsize=8)
def zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def network_zone() -> ZoneInfo:
    """The network's time zone: every local day, cut-off and time shown is in it."""
    name = current_app.config["WAYBILL_TIMEZONE"] if has_app_context() else DEFAULT_ZONE
    return zone_named(name)


def local(moment: datetime | None = None) -> datetime:
    """``moment`` (default: now) on the network's wall clock."""
    return (moment or now()).astimezone(network_zone())


def today() -> date:
    """The network's calendar day now."""
    return local().date()
