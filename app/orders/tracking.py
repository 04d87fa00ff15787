"""Tracking numbers: "WB", ten digits, and a Luhn check digit (e.g. WB19407559699).

The ten digits are a bijective scramble of a serial number, so consecutive shipments do
not get consecutive numbers; the check digit catches any single mistyped digit and most
swapped neighbours at a scan station.
"""
from __future__ import annotations

import re
import threading

from sqlalchemy import Connection, bindparam, insert, text, update

from app.orders.models import Counter

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


_NEXT_BLOCK_PG = text("SELECT nextval('tracking_serial')")
#: On PostgreSQL each sequence value is a block of serials (hi/lo): a sequence never hands
#: a value out twice, even when the transaction that took it rolls back, so a process may
#: keep a block and spend it over many transactions without a round trip each.
BLOCK = 1000
_block_lock = threading.Lock()
_blocks: dict[str, list[int]] = {}
_counters = Counter.__table__
_BUMP_SQLITE = (update(_counters).where(_counters.c.name == "tracking_serial")
                .values(value=_counters.c.value + bindparam("n")).returning(_counters.c.value))


def next_serials(conn: Connection, count: int) -> list[int]:
    """Reserve ``count`` serial numbers: a sequence on PostgreSQL, a counter row on SQLite
    (whose writers are serialised anyway, so the row is no bottleneck there)."""
    if conn.dialect.name == "postgresql":
        return [_next_pg_serial(conn) for _ in range(count)]
    last = conn.execute(_BUMP_SQLITE, {"n": count}).scalar()
    if last is None:
        conn.execute(insert(_counters), {"name": "tracking_serial", "value": count})
        last = count
    return list(range(last - count + 1, last + 1))


def _next_pg_serial(conn: Connection) -> int:
    key = str(conn.engine.url)
    with _block_lock:
        block = _blocks.get(key)
        if not block or block[0] > block[1]:
            hi = conn.execute(_NEXT_BLOCK_PG).scalar_one()
            block = _blocks[key] = [hi * BLOCK, hi * BLOCK + BLOCK - 1]
        serial = block[0]
        block[0] += 1
    return serial


def forget_blocks() -> None:
    """Drop the blocks held (tests restart the sequence)."""
    with _block_lock:
        _blocks.clear()


def allocate_tracking_numbers(conn: Connection, count: int) -> list[str]:
    return [format_tracking_number(s) for s in next_serials(conn, count)]
