"""Money: integer minor units and an ISO 4217 currency. Rounding happens here only."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

#: Minor units per major unit for the currencies Waybill prices in (ISO 4217 exponents).
EXPONENTS = {"VND": 0, "JPY": 0, "KRW": 0, "IDR": 2, "THB": 2, "SGD": 2, "MYR": 2, "PHP": 2,
             "USD": 2, "EUR": 2, "GBP": 2, "AUD": 2}


class CurrencyError(ValueError):
    pass


def check_currency(code: str) -> str:
    if code not in EXPONENTS:
        raise CurrencyError(f"unsupported currency {code!r}; one of {', '.join(sorted(EXPONENTS))}")
    return code


def round_minor(value: Decimal) -> int:
    """Round an amount of minor units to a whole number, half away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def written(amount: int, currency: str) -> str:
    """An amount as the reader writes numbers ("1,250,000 VND"; "1.250.000 VND" in Vietnamese)."""
    from flask_babel import format_decimal

    exponent = EXPONENTS[currency]
    return f"{format_decimal(major(amount, currency), format='#,##0' + ('.' + '0' * exponent if exponent else ''))} {currency}"


def major(amount: int, currency: str) -> Decimal:
    """Minor units as the currency's major unit (an amount for a spreadsheet): 12550 USD -> 125.50."""
    return Decimal(amount).scaleb(-EXPONENTS[currency])


@dataclass(frozen=True)
class Money:
    amount: int
    currency: str

    def __post_init__(self):
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        check_currency(self.currency)

    def as_dict(self) -> dict:
        return {"amount": self.amount, "currency": self.currency}

    def __str__(self) -> str:
        exp = EXPONENTS[self.currency]
        major = Decimal(self.amount).scaleb(-exp)
        return f"{major:,.{exp}f} {self.currency}"
