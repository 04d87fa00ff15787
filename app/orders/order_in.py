"""What intake takes: an order as a partner sends it (whatever the surface: JSON, CSV,
console form, phone), the one set of rules its fields must meet, and the error that
names each field at fault."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.billing.money import CurrencyError, check_currency
from app.billing.rating import SERVICE_LEVELS
from app.hubs.geocoding import AddressNotPlaced, Placed

MAX_PARCELS = 50


@dataclass
class AddressIn:
    line1: str
    city: str
    country: str
    line2: str = ""
    district: str = ""
    postal_code: str = ""
    lat: float | None = None
    lon: float | None = None
    #: Where ``locate`` put it (or why it could not), before any transaction was open.
    placed: Placed | AddressNotPlaced | None = field(default=None, compare=False, repr=False)


@dataclass
class ContactIn:
    name: str
    phone: str
    address: AddressIn
    email: str | None = None


@dataclass
class ParcelIn:
    weight_grams: int
    length_cm: int
    width_cm: int
    height_cm: int
    declared_value_amount: int = 0
    declared_value_currency: str | None = None


@dataclass
class OrderIn:
    reference: str
    service_level: str
    pickup: ContactIn
    dropoff: ContactIn
    parcels: list[ParcelIn] = field(default_factory=list)
    cod_amount: int = 0
    cod_currency: str | None = None


def reference_taken(reference: str) -> "IntakeError":
    return IntakeError([{"field": "reference", "message": f"{reference!r} is already an order"}])


class IntakeError(ValueError):
    """The order cannot be taken; ``errors`` lists each problem with the field it is in."""

    def __init__(self, errors: list[dict]):
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


#: Field limits every surface shares (JSON, CSV, console, phone): the database's columns.
LIMITS = {"reference": 100, "name": 200, "phone": 32, "email": 254, "line1": 255, "line2": 255,
          "district": 120, "city": 120, "postal_code": 20}
MAX_GRAMS, MAX_CM = 1_000_000, 1000
#: The largest amount of money an order may name, in minor units.
MAX_AMOUNT = 10**15
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _text_problem(value) -> str | None:
    """What makes a string unstorable: not a string, a NUL, or a lone surrogate."""
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be text"
    if "\x00" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid text (a lone surrogate)"
    return None


def _whole(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check(order: OrderIn, currency: str) -> list[dict]:
    """Every rule an order's fields must meet, whatever surface it came through; an error
    per field at fault. ``currency``: the one cash on delivery is collected in."""
    errors = []

    def bad(field_name, message):
        errors.append({"field": field_name, "message": message})

    def text(field_name, value, limit, *, required=False):
        problem = _text_problem(value)
        if problem:
            bad(field_name, problem)
        elif required and not (value or "").strip():
            bad(field_name, "is required")
        elif value and len(value) > limit:
            bad(field_name, f"is longer than {limit} characters")

    text("reference", order.reference, LIMITS["reference"], required=True)
    if order.service_level not in SERVICE_LEVELS:
        bad("service_level", f"must be one of {', '.join(SERVICE_LEVELS)}")
    for side in ("pickup", "dropoff"):
        contact: ContactIn = getattr(order, side)
        a = contact.address
        text(f"{side}.name", contact.name, LIMITS["name"], required=True)
        text(f"{side}.phone", contact.phone, LIMITS["phone"], required=True)
        text(f"{side}.email", contact.email, LIMITS["email"])
        if contact.email and not _text_problem(contact.email) and not _EMAIL.match(contact.email):
            bad(f"{side}.email", "is not an email address")
        for name in ("line1", "line2", "district", "city", "postal_code"):
            text(f"{side}.address.{name}", getattr(a, name), LIMITS[name], required=name in ("line1", "city"))
        if _text_problem(a.country) or len(a.country or "") != 2:
            bad(f"{side}.address.country", "must be an ISO 3166 two-letter code")
        for name, limit in (("lat", 90), ("lon", 180)):
            value = getattr(a, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not -limit <= value <= limit):
                bad(f"{side}.address.{name}", f"must be a number from -{limit} to {limit}")
    if not order.parcels:
        bad("parcels", "at least one parcel is required")
    if len(order.parcels) > MAX_PARCELS:
        bad("parcels", f"at most {MAX_PARCELS} parcels per order")
    for i, p in enumerate(order.parcels[:MAX_PARCELS]):
        if not _whole(p.weight_grams, 1, MAX_GRAMS):
            bad(f"parcels[{i}].weight_grams", f"must be a whole number from 1 to {MAX_GRAMS:,}")
        for name in ("length_cm", "width_cm", "height_cm"):
            if not _whole(getattr(p, name), 1, MAX_CM):
                bad(f"parcels[{i}].{name}", f"must be a whole number from 1 to {MAX_CM}")
        if not _whole(p.declared_value_amount, 0, MAX_AMOUNT):
            bad(f"parcels[{i}].declared_value.amount", "must be a whole number of minor units, not negative")
        elif p.declared_value_amount:
            try:
                check_currency(p.declared_value_currency or "")
            except CurrencyError as exc:
                bad(f"parcels[{i}].declared_value.currency", str(exc))
    if not _whole(order.cod_amount, 0, MAX_AMOUNT):
        bad("cod.amount", "must be a whole number of minor units, not negative")
    elif order.cod_amount and order.cod_currency != currency:
        bad("cod.currency", f"cash on delivery is collected in {currency}"
            + (f", not {order.cod_currency}" if order.cod_currency else ""))
    return errors
