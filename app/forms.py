"""Reading ids, numbers and days from forms and query strings: out-of-range values are
None (or a 400 for a day), never an overflow in the database."""
from __future__ import annotations

from datetime import date

from flask import abort

from app.db import MAX_ID

#: Days the console accepts: a courier's records, not the calendar's whole range.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


def id_of(value) -> int | None:
    """A database id from a form or query value, or None."""
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if 0 < number <= MAX_ID else None


def day_of(value: str | None, *, default: date | None = None, strict: bool = True) -> date | None:
    """A YYYY-MM-DD day between 2000 and 2100; ``default`` when empty. A bad value is a
    400 (``strict``) or None."""
    if not value:
        return default
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        if strict:
            abort(400, description="date must be YYYY-MM-DD, between 2000 and 2100")
        return None
    return day
