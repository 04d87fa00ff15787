"""The one clock of Waybill. Every service, view, actor and command reads the time here.

``now()`` is the present as an aware UTC datetime; ``today()`` is the network's calendar day
(the courier works in one zone, ``WAYBILL_TIMEZONE``, Asia/Ho_Chi_Minh by default). Tests
move the clock with time-machine, which moves ``datetime.now`` and ``time.time`` for the
whole process; reading it here, and only here, means a moved clock reaches every rule.
"""
from __future__ import annotations

import time as _time
from datetime import date, datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context

#: The zone used outside an application (scripts, pure tests).
DEFAULT_ZONE = "Asia/Ho_Chi_Minh"


def now() -> datetime:
    """The present, aware, in UTC."""
    return datetime.now(timezone.utc)


def timestamp() -> float:
    """Seconds since the epoch (what sessions and Retry-After headers count in)."""
    return _time.time()


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
