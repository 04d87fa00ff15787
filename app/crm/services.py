"""CRM services: partners and their API keys, pickup locations, customers."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from sqlalchemy import Connection, bindparam, event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app import clock
from app.billing.money import check_currency
from app.crm.models import ApiKey, Customer, Partner, PickupLocation

#: Visible start of every API key, so a leaked key is recognisable in logs and scanners.
API_KEY_PREFIX = "wbk_"


class InvalidPhone(ValueError):
    pass


def normalise_phone(phone: str, country: str = "VN") -> str:
    """E.164 (``phonenumbers``): "0903 123 456" in VN -> "+84903123456"; a number written
    with + or 00 keeps its own country. Raises InvalidPhone for what cannot be a number."""
    return _e164(phone or "", country or "VN")


@lru_cache(maxsize=65_536)
def _e164(phone: str, country: str) -> str:
    # Parsing costs ~14 µs; a shop's own number comes with every one of its orders.
    raw = phone.strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        number = phonenumbers.parse(raw, country.upper())
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"{phone!r} is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhone(f"{phone!r} is not a phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


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


@dataclass(frozen=True)
class PartnerRef:
    """What a request needs of the partner whose key it carries; safe to share between
    threads and requests (unlike an ORM object)."""

    id: int
    name: str
    currency: str


#: SHA-256 of a key -> (the partner, monotonic time the answer expires). A revoked key or
#: a deactivated partner is refused by every process within KEY_CACHE_SECONDS; by the
#: process that revoked it at once.
KEY_CACHE_SECONDS = 5.0
_keys: dict[str, tuple[PartnerRef | None, float]] = {}
_FIND_KEY = (select(ApiKey.key_hash, ApiKey.revoked_at, Partner.id, Partner.name, Partner.currency, Partner.active)
             .join(Partner, Partner.id == ApiKey.partner_id).where(ApiKey.prefix == bindparam("prefix")))


def partner_for_api_key(session: Session, key: str) -> PartnerRef | None:
    """The active partner whose unrevoked key this is; None for anything else."""
    digest = hash_api_key(key)
    now = time.monotonic()
    cached = _keys.get(digest)
    if cached is not None and cached[1] > now:
        return cached[0]
    prefix = "_".join(key.split("_")[:2])
    row = session.execute(_FIND_KEY, {"prefix": prefix}).first()
    found = None
    if (row is not None and row.revoked_at is None and row.active
            and hmac.compare_digest(row.key_hash, digest)):
        found = PartnerRef(row.id, row.name, row.currency)
    if len(_keys) > 10_000:  # unknown keys sent in bulk must not grow it without end
        _keys.clear()
    _keys[digest] = (found, now + KEY_CACHE_SECONDS)
    return found


def forget_api_keys() -> None:
    _keys.clear()


def all_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).order_by(Partner.name)))


def active_partners(session: Session) -> list[Partner]:
    return list(session.scalars(select(Partner).where(Partner.active.is_(True)).order_by(Partner.id)))


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


def revoke_api_key(session: Session, prefix: str, *, partner_id: int | None = None) -> ApiKey:
    """Revoke a key by its prefix (of this partner's keys when ``partner_id`` is given);
    requests with it are refused from the commit on. Raises LookupError."""
    stmt = select(ApiKey).where(ApiKey.prefix == prefix)
    if partner_id is not None:
        stmt = stmt.where(ApiKey.partner_id == partner_id)
    record = session.scalars(stmt).first()
    if record is None:
        raise LookupError(f"no API key {prefix}")
    if record.revoked_at is None:
        record.revoked_at = clock.now()
    forget_api_keys()
    return record


def find_partner(session: Session, name_or_id: str) -> Partner:
    """A partner by its id or its exact name; raises LookupError."""
    stmt = select(Partner).where(Partner.name == name_or_id.strip())
    if name_or_id.strip().isdigit():
        stmt = select(Partner).where(Partner.id == int(name_or_id))
    found = session.scalars(stmt).first()
    if found is None:
        raise LookupError(f"no partner {name_or_id!r}")
    return found


def api_keys_of(session: Session, partner_id: int) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).where(ApiKey.partner_id == partner_id).order_by(ApiKey.id)))


_locations, _customers = PickupLocation.__table__, Customer.__table__
_FIND_LOCATION = select(_locations.c.id).where(_locations.c.partner_id == bindparam("partner_id"),
                                                _locations.c.address_key == bindparam("address_key"))


def _location_upsert(insert_):
    # Two first orders from a new place at once: the second gets the first one's row.
    stmt = insert_(_locations)
    return stmt.on_conflict_do_update(
        index_elements=[_locations.c.partner_id, _locations.c.address_key],
        set_={"address_key": stmt.excluded.address_key},
    ).returning(_locations.c.id)


def customer_upsert_sql(select_sql: str) -> str:
    """The upsert of ``upsert_customers`` as SQL, for PostgreSQL statements that take an
    order in one round trip: inserts the (phone, name, email, notify_email, notify_sms,
    created_at) rows ``select_sql`` yields, with the same rule on a known phone (the
    newest name, the email unless none was given). Returns id, phone."""
    return ("INSERT INTO customers (phone, name, email, notify_email, notify_sms, created_at) "
            f"{select_sql} ON CONFLICT (phone) DO UPDATE "
            "SET name = excluded.name, email = coalesce(excluded.email, customers.email) RETURNING id, phone")


def _customer_upsert(insert_):
    stmt = insert_(_customers)
    return stmt.on_conflict_do_update(
        index_elements=[_customers.c.phone],
        set_={"name": stmt.excluded.name,
              "email": func.coalesce(stmt.excluded.email, _customers.c.email)},
    ).returning(_customers.c.id)


_UPSERT_CUSTOMER = {"postgresql": _customer_upsert(pg_insert), "sqlite": _customer_upsert(sqlite_insert)}
_UPSERT_CUSTOMERS = {name: stmt.returning(_customers.c.phone) for name, stmt in _UPSERT_CUSTOMER.items()}
_UPSERT_LOCATION = {"postgresql": _location_upsert(pg_insert), "sqlite": _location_upsert(sqlite_insert)}


#: (database, partner, address key) -> pickup location id. Locations are never deleted or
#: re-keyed, so a committed id stays right; any rollback clears the lot, in case it undid
#: a location found within its own transaction.
_location_ids: dict[tuple, int] = {}


@event.listens_for(Session, "after_rollback")
def forget_pickup_locations(session=None) -> None:
    _location_ids.clear()


def find_pickup_location_id(conn: Connection, partner_id: int, address_key: str) -> int | None:
    key = (str(conn.engine.url), partner_id, address_key)
    found = _location_ids.get(key)
    if found is None:
        found = conn.execute(_FIND_LOCATION, {"partner_id": partner_id, "address_key": address_key}).scalar()
        if found is not None:
            _location_ids[key] = found
    return found


def add_pickup_location_id(conn: Connection, partner_id: int, *, name: str, phone: str,
                           address_id: int, address_key: str) -> int:
    return conn.execute(_UPSERT_LOCATION[conn.dialect.name], {
        "partner_id": partner_id, "name": name, "phone": phone, "address_id": address_id,
        "address_key": address_key, "created_at": clock.now()}).scalar_one()


def upsert_customers(conn: Connection, customers: list[dict]) -> dict[str, int]:
    """Upsert many customers (dicts of phone, name, email) in one statement; returns
    phone -> id. The last entry for a phone wins, as the newest order would."""
    rows = {c["phone"]: {**c, "notify_email": True, "notify_sms": True, "created_at": clock.now()}
            for c in customers}
    if len(rows) == 1:
        [row] = rows.values()
        return {row["phone"]: conn.execute(_UPSERT_CUSTOMER[conn.dialect.name], row).scalar_one()}
    result = conn.execute(_UPSERT_CUSTOMERS[conn.dialect.name], list(rows.values()))
    return {phone: id_ for id_, phone in result}




def set_pickup_window(session: Session, location_id: int, ready_from, ready_until) -> PickupLocation:
    """When a retailer's parcels are ready to collect, local time. Raises ValueError."""
    place = session.get(PickupLocation, location_id)
    if place is None:
        raise ValueError(f"no pickup location {location_id}")
    if not ready_from < ready_until:
        raise ValueError("the window must start before it ends")
    place.ready_from, place.ready_until = ready_from, ready_until
    session.flush()
    return place


def pickup_locations_of(session: Session, partner_id: int) -> list[PickupLocation]:
    return list(session.scalars(select(PickupLocation).where(PickupLocation.partner_id == partner_id)
                                .order_by(PickupLocation.name, PickupLocation.id)))
