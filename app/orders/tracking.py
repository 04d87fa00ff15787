"""Tracking numbers: "WB", ten digits, and a Luhn check digit (e.g. WB19407559699).

The ten digits are a bijective scramble of a serial number, so consecutive shipments do
not get consecutive numbers; the check digit catches any single mistyped digit and most
swapped neighbours at a scan station.
"""
from __future__ import annotations

import re

from sqlalchemy import text, update
from sqlalchemy.orm import Session

PREFIX = "WB"
DIGITS = 10
_MODULUS = 10**DIGITS
#: Coprime with 10, so serial -> digits is a bijection modulo 10**10.
_MULTIPLIER = 7_919_357_213
_OFFSET = 4_021_398_756
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


def format_tracking_number(serial: int) -> str:
    if not 0 < serial < _MODULUS:
        raise ValueError("serial out of range")
    body = f"{(serial * _MULTIPLIER + _OFFSET) % _MODULUS:0{DIGITS}d}"
    return f"{PREFIX}{body}{luhn_digit(body)}"


def is_valid_tracking_number(value: str) -> bool:
    value = value.strip().upper()
    if not _PATTERN.match(value):
        return False
    body, check = value[len(PREFIX):-1], value[-1]
    return luhn_digit(body) == check


def next_serials(session: Session, count: int) -> list[int]:
    """Reserve ``count`` serial numbers: a sequence on PostgreSQL, a counter row on SQLite
    (whose writers are serialised anyway)."""
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text("SELECT nextval('tracking_serial') FROM generate_series(1, :n)"), {"n": count}
        )
        return [r[0] for r in rows]
    from app.orders.models import Counter

    result = session.execute(
        update(Counter).where(Counter.name == "tracking_serial")
        .values(value=Counter.value + count).returning(Counter.value)
    ).scalar()
    if result is None:
        session.add(Counter(name="tracking_serial", value=count))
        session.flush()
        result = count
    return list(range(result - count + 1, result + 1))


def allocate_tracking_numbers(session: Session, count: int) -> list[str]:
    return [format_tracking_number(s) for s in next_serials(session, count)]
