"""The office's calendar: business hours by weekday in the network's zone, closed on the
country's public holidays (the ``holidays`` package, Vietnam's by default). Service-level
clocks run on it: ``add`` finds when a number of business hours from a moment ends,
``between`` counts the business time between two moments.

``WAYBILL_BUSINESS_HOURS`` says the week, e.g. ``"Mon-Fri 08:00-17:30; Sat 08:00-12:00"``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from flask import current_app, has_app_context

from app import clock

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS = "Mon-Fri 08:00-17:30; Sat 08:00-12:00"
DEFAULT_COUNTRY = "VN"
#: A clock never looks further than this for the next open hour (a week with no hours).
HORIZON_DAYS = 800


class CalendarError(ValueError):
    pass


def parse_week(text: str) -> dict[int, tuple[time, time]]:
    """``"Mon-Fri 08:00-17:30; Sat 08:00-12:00"`` -> {weekday: (opens, closes)}."""
    week: dict[int, tuple[time, time]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        found = re.fullmatch(r"(\w{3})(?:-(\w{3}))?\s+(\d{1,2}):(\d\d)-(\d{1,2}):(\d\d)", part.lower())
        if not found or found[1] not in DAYS or (found[2] and found[2] not in DAYS):
            raise CalendarError(f"{part!r}: write days and hours as 'Mon-Fri 08:00-17:30'")
        first, last = DAYS.index(found[1]), DAYS.index(found[2] or found[1])
        opens, closes = time(int(found[3]), int(found[4])), time(int(found[5]), int(found[6]))
        if not opens < closes or first > last:
            raise CalendarError(f"{part!r}: the day must open before it closes, Monday first")
        for day in range(first, last + 1):
            week[day] = (opens, closes)
    if not week:
        raise CalendarError("the office must open on some day")
    return week


@lru_cache(maxsize=32)
def _holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year))


@dataclass(frozen=True)
class Calendar:
    week: tuple[tuple[int, time, time], ...]
    country: str
    zone: ZoneInfo

    @classmethod
    def of(cls, hours: str = DEFAULT_HOURS, country: str = DEFAULT_COUNTRY, zone: ZoneInfo | None = None) -> Calendar:
        week = parse_week(hours)
        return cls(tuple((d, *week[d]) for d in sorted(week)), country, zone or clock.zone_named(clock.DEFAULT_ZONE))

    def is_holiday(self, day: date) -> bool:
        return day in _holidays(self.country, day.year)

    def holiday_name(self, day: date) -> str | None:
        return holidays.country_holidays(self.country, years=day.year).get(day) if self.is_holiday(day) else None

    def hours_on(self, day: date) -> tuple[datetime, datetime] | None:
        """When the office is open on ``day`` (aware, local), or None if it is closed."""
        if self.is_holiday(day):
            return None
        for weekday, opens, closes in self.week:
            if weekday == day.weekday():
                return (datetime.combine(day, opens, self.zone), datetime.combine(day, closes, self.zone))
        return None

    def is_open(self, moment: datetime) -> bool:
        window = self.hours_on(moment.astimezone(self.zone).date())
        return window is not None and window[0] <= moment < window[1]

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of business time after ``start``."""
        left = duration
        day = start.astimezone(self.zone).date()
        for _ in range(HORIZON_DAYS):
            window = self.hours_on(day)
            if window is not None:
                begin = max(window[0], start)
                if begin < window[1]:
                    if begin + left <= window[1]:
                        return (begin + left).astimezone(start.tzinfo)
                    left -= window[1] - begin
            day += timedelta(days=1)
        raise CalendarError("the office is closed for longer than the calendar looks ahead")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from ``start`` to ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.between(end, start)
        total = timedelta(0)
        day, last = start.astimezone(self.zone).date(), end.astimezone(self.zone).date()
        while day <= last:
            window = self.hours_on(day)
            if window is not None:
                begin, finish = max(window[0], start), min(window[1], end)
                if begin < finish:
                    total += finish - begin
            day += timedelta(days=1)
        return total

    def next_open_day(self, day: date) -> date:
        """``day`` if the office opens on it, else the next day it does."""
        for _ in range(HORIZON_DAYS):
            if self.hours_on(day) is not None:
                return day
            day += timedelta(days=1)
        raise CalendarError("the office is closed for longer than the calendar looks ahead")


def office() -> Calendar:
    """The office's calendar from the application's configuration."""
    if not has_app_context():
        return Calendar.of()
    config = current_app.config
    return _office(config.get("WAYBILL_BUSINESS_HOURS", DEFAULT_HOURS), config.get("WAYBILL_COUNTRY", DEFAULT_COUNTRY),
                   config["WAYBILL_TIMEZONE"])


@lru_cache(maxsize=8)
def _office(hours: str, country: str, zone: str) -> Calendar:
    return Calendar.of(hours, country, clock.zone_named(zone))
