"""The office's calendar: business hours by weekday, closed on Vietnam's public holidays;
the SLA clocks count on it. Pure: no database, no application."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.workdays import Calendar, CalendarError, parse_week

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
OFFICE = Calendar.of("Mon-Fri 08:00-17:30; Sat 08:00-12:00", "VN", HCM)


def at(*args) -> datetime:
    return datetime(*args, tzinfo=HCM)


def test_the_week_is_read_from_words_and_bad_words_are_refused():
    week = parse_week("Mon-Fri 08:00-17:30; Sat 08:00-12:00")
    assert sorted(week) == [0, 1, 2, 3, 4, 5] and week[5][1].hour == 12
    for bad in ("Mon-Fri 8-17", "Fri-Mon 08:00-17:00", "Mon 17:00-08:00", "Xyz 08:00-17:00", ""):
        with pytest.raises(CalendarError):
            parse_week(bad)


def test_holidays_and_sundays_are_closed_and_saturday_is_a_morning():
    assert OFFICE.hours_on(date(2026, 9, 2)) is None  # National Day
    assert OFFICE.holiday_name(date(2026, 9, 2)) == "National Day"
    assert OFFICE.hours_on(date(2026, 9, 6)) is None  # a Sunday
    opens, closes = OFFICE.hours_on(date(2026, 9, 5))  # a Saturday
    assert (opens.hour, closes.hour) == (8, 12)
    assert OFFICE.next_open_day(date(2026, 9, 1)) == date(2026, 9, 3)  # 1-2 Sep: National Day holidays


def test_business_time_skips_nights_weekends_and_tet():
    # Friday 13 Feb 2026, 16:00: 1.5 h that day, Saturday's 4 h, then Tết closes the week.
    start = at(2026, 2, 13, 16, 0)
    assert OFFICE.add(start, timedelta(hours=1)) == at(2026, 2, 13, 17, 0)
    assert OFFICE.add(start, timedelta(hours=4)) == at(2026, 2, 14, 10, 30)
    # 16-20 Feb are the Lunar New Year holidays: the next open hour is Saturday 21st.
    assert OFFICE.add(start, timedelta(hours=6)) == at(2026, 2, 21, 8, 30)
    assert OFFICE.between(start, at(2026, 2, 21, 8, 30)) == timedelta(hours=6)


def test_a_clock_started_out_of_hours_starts_at_the_next_opening():
    assert OFFICE.add(at(2026, 9, 7, 22, 0), timedelta(hours=2)) == at(2026, 9, 8, 10, 0)
    assert OFFICE.between(at(2026, 9, 6, 9, 0), at(2026, 9, 6, 18, 0)) == timedelta(0)  # a Sunday


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 1)),
       st.integers(min_value=0, max_value=60 * 80))
def test_between_undoes_add(start, minutes):
    start = start.replace(tzinfo=HCM)
    end = OFFICE.add(start, timedelta(minutes=minutes))
    assert end >= start
    assert OFFICE.between(start, end) == timedelta(minutes=minutes)
    assert OFFICE.between(end, start) == -timedelta(minutes=minutes)
