"""Tracking numbers: "WB", ten random digits, and a Luhn check digit (e.g. WB19407559699).

The digits are drawn at random (``secrets``), so one number tells nothing about any other:
live numbers are spread thin over ten billion, and the public tracking page is rate
limited besides. The check digit catches any single mistyped digit and most swapped
neighbours at a scan station.
"""
from __future__ import annotations

import re
import secrets

from sqlalchemy import Connection, bindparam, select

from app.orders.models import Shipment

PREFIX = "WB"
DIGITS = 10
_PATTERN = re.compile(rf"^{PREFIX}\d{{{DIGITS + 1}}}$")


def luhn_digit(digits: str) -> str:
    """The Luhn check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def random_tracking_number() -> str:
    body = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
    return f"{PREFIX}{body}{luhn_digit(body)}"


def is_valid_tracking_number(value: str) -> bool:
    value = value.strip().upper()
    if not _PATTERN.match(value):
        return False
    body, check = value[len(PREFIX):-1], value[-1]
    return luhn_digit(body) == check


#: Built once: intake is the hottest path, and this runs for every batch.
_TAKEN = (select(Shipment.__table__.c.tracking_number)
          .where(Shipment.__table__.c.tracking_number.in_(bindparam("numbers", expanding=True))))


def allocate_tracking_numbers(conn: Connection, count: int) -> list[str]:
    """``count`` new numbers, none of them taken: drawn, checked against the shipments in
    one query (an index lookup each), and drawn again for the rare one already in use."""
    numbers: list[str] = []
    while len(numbers) < count:
        drawn = list({random_tracking_number() for _ in range(count - len(numbers))} - set(numbers))
        taken = set(conn.execute(_TAKEN, {"numbers": drawn}).scalars())
        numbers += [n for n in drawn if n not in taken]
    return numbers
