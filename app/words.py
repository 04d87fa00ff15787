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


#: The commonest Vietnamese family names (with and without accents): a name that starts
#: with one is written family name first ("Nguyễn Văn An": An is what people call him).
FAMILY_NAMES = frozenset(without_accents(n).lower() for n in (
    "Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô",
    "Dương", "Lý", "Đinh", "Đoàn", "Trương", "Lâm", "Mai", "Trịnh", "Đào", "Cao", "Lương", "Tô", "Tạ", "Hà",
    "Quách", "Thái", "Châu", "Lưu", "Vương", "Phùng", "Kiều", "Triệu", "Văn", "Tăng", "Thân", "La", "Đàm",
))


def given_name(full_name: str) -> str:
    """What a person is called by: the last word of a Vietnamese name written family name
    first ("Nguyễn Văn An" -> "An"), else the first word ("Lan Nguyen" -> "Lan")."""
    words = (full_name or "").split()
    if not words:
        return ""
    if len(words) > 1 and without_accents(words[0]).lower() in FAMILY_NAMES:
        return words[-1]
    return words[0]
