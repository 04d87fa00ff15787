"""Words for people: a count with its noun in the right number ("1 parcel", "3 parcels");
text without its accents."""
from __future__ import annotations

import unicodedata

#: Nouns whose plural is not the noun with an "s".
_IRREGULAR = {"delivery": "deliveries", "try": "tries", "address": "addresses", "box": "boxes"}


def plural(n: int, noun: str) -> str:
    """``noun`` as it goes after the number ``n``."""
    return noun if n == 1 else _IRREGULAR.get(noun, noun + "s")


def counted(n: int, noun: str) -> str:
    """``n`` and its noun: ``counted(1, "stop")`` is "1 stop", ``counted(2, "stop")`` "2 stops"."""
    return f"{n} {plural(n, noun)}"


def without_accents(text: str) -> str:
    """Vietnamese (or any Latin) text without its accents: "Quận 7" -> "Quan 7"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
