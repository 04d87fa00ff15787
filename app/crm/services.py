"""CRM services: partners and their API keys, pickup locations, customers."""
from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.billing.money import check_currency
from app.crm.models import ApiKey, Customer, Partner, PickupLocation

#: Visible start of every API key, so a leaked key is recognisable in logs and scanners.
API_KEY_PREFIX = "wbk_"


class InvalidPhone(ValueError):
    pass


def normalise_phone(phone: str, country: str = "VN") -> str:
    """Digits with a leading + ("0903 123 456" in VN -> "+84903123456")."""
    raw = phone.strip()
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+"):
        number = "+" + digits
    elif raw.startswith("00"):
        number = "+" + digits[2:]
    elif digits.startswith("0") and country in CALLING_CODES:
        number = "+" + CALLING_CODES[country] + digits[1:]
    else:
        number = "+" + digits
    if not 8 <= len(number) - 1 <= 15:
        raise InvalidPhone(f"{phone!r} is not a phone number")
    return number


#: Country calling codes for numbers written in national form (leading 0).
CALLING_CODES = {"VN": "84", "TH": "66", "ID": "62", "MY": "60", "PH": "63", "SG": "65", "GB": "44"}


def create_partner(session: Session, name: str, *, currency: str) -> Partner:
    name = name.strip()
    if not name:
        raise ValueError("a partner needs a name")
    if session.scalars(select(Partner).where(Partner.name == name)).first():
        raise ValueError(f"a partner named {name!r} already exists")
    partner = Partner(name=name, currency=check_currency(currency))
    session.add(partner)
    session.flush()
    return partner


def hash_api_key(key: str) -> str:
    # Keys are 32 random bytes: a fast hash is enough, unlike for passwords.
    return hashlib.sha256(key.encode()).hexdigest()


def issue_api_key(session: Session, partner: Partner) -> tuple[ApiKey, str]:
    """A new key for the partner; the key itself is returned once and never stored."""
    prefix = API_KEY_PREFIX + secrets.token_hex(4)
    key = f"{prefix}_{secrets.token_urlsafe(32)}"
    record = ApiKey(partner_id=partner.id, prefix=prefix, key_hash=hash_api_key(key))
    session.add(record)
    session.flush()
    return record, key


def find_pickup_location(session: Session, partner_id: int, address_key: str) -> PickupLocation | None:
    return session.scalars(select(PickupLocation).where(
        PickupLocation.partner_id == partner_id, PickupLocation.address_key == address_key)).first()


def add_pickup_location(session: Session, partner_id: int, *, name: str, phone: str,
                        address, address_key: str) -> PickupLocation:
    location = PickupLocation(partner_id=partner_id, name=name, phone=phone,
                              address=address, address_key=address_key)
    session.add(location)
    return location


def find_or_create_customer(session: Session, *, name: str, phone: str, email: str | None) -> Customer:
    """The customer with this phone number; name and email are taken from the newest order."""
    customer = session.scalars(select(Customer).where(Customer.phone == phone)).first()
    if customer is None:
        customer = Customer(phone=phone, name=name, email=email)
        session.add(customer)
    else:
        if name and customer.name != name:
            customer.name = name
        if email and customer.email != email:
            customer.email = email
    return customer
