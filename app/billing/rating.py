"""Rating: the price of a delivery from the rate card. Quotes, order intake and an address
change call ``rate``; the quote is kept on the shipment and fee collection charges it, so
a partner is charged what it was quoted.

A rate card is a version: never edited, replaced by a newer one from a date. A partner's
contract card (``partner_id`` set) overrides the default card of its service level and
currency from its date. A card prices the freight by zone (distance bands, or a hub pair
named on the card) and by weight band on the billable weight (the greater of actual and
volumetric), with an amount per kg over the last band and an optional amount per km;
then the surcharges: fuel (a percentage of the freight, changed monthly, company-wide),
COD fee (a percentage of the COD with a minimum), remote area (a flat amount when the
drop-off is far from its delivering hub), insurance (a percentage of the declared value);
VAT at the card's rate on the sum. Every line says where it came from.

Rates are in basis points (1 % = 100) and amounts in minor units of the card's currency.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.billing.models import FuelSurcharge, RateCard
from app.billing.money import Money, round_minor

SERVICE_LEVELS = ("standard", "express", "same_day")
#: Divisor for volumetric weight: L x W x H in cm / 5000 = kg (the industry's usual factor).
VOLUMETRIC_DIVISOR_CM3_PER_KG = 5000

#: The lines a rate is made of: words and the income account each goes to.
LINES = {
    "freight": ("Freight", "4100"),
    "fuel": ("Fuel surcharge", "4300"),
    "cod_fee": ("COD fee", "4300"),
    "remote": ("Remote area", "4300"),
    "insurance": ("Insurance", "4300"),
    "return": ("Return to sender", "4200"),
    "failed_attempt": ("Failed delivery attempt", "4200"),
    "adjustment": ("Adjustment", "4100"),
}


class NoRate(LookupError):
    pass


class CardError(ValueError):
    """A card that cannot be used; the message says what is wrong with it."""


def billable_grams(parcels) -> int:
    """Sum over parcels of the greater of actual and volumetric weight, in grams."""
    total = 0
    for p in parcels:
        volumetric = (p.length_cm * p.width_cm * p.height_cm * 1000) // VOLUMETRIC_DIVISOR_CM3_PER_KG
        total += max(p.weight_grams, volumetric)
    return total


def bp(amount: int | Decimal, rate_bp: int) -> Decimal:
    """``rate_bp`` basis points of ``amount`` (unrounded)."""
    return Decimal(amount) * rate_bp / 10_000


@dataclass(frozen=True)
class Zone:
    code: str
    name: str
    #: The zone holds drop-offs up to this distance from the pickup; None: any farther.
    up_to_km: float | None
    #: (up to grams, amount) in rising order.
    bands: tuple[tuple[int, int], ...]
    #: Per kg above the last band (charged on the exact weight, rounded once).
    per_kg_over: int


@dataclass(frozen=True)
class Card:
    """A rate card as read: safe to keep between transactions."""

    id: int
    partner_id: int | None
    service_level: str
    currency: str
    effective_from: date
    name: str
    zones: tuple[Zone, ...]
    #: "CENTRE>HUB" -> zone code: a hub pair priced as a zone whatever the distance.
    hub_pairs: dict = field(default_factory=dict)
    per_km: int = 0
    return_amount: int = 0
    failed_attempt_amount: int = 0
    cod_fee_bp: int = 0
    cod_fee_min: int = 0
    remote_amount: int = 0
    remote_beyond_km: float | None = None
    insurance_bp: int = 0
    vat_bp: int = 0


def tariff_of(card: Card) -> dict:
    """The zones and hub pairs as stored (``rate_cards.tariff``)."""
    return {"zones": [{"code": z.code, "name": z.name, "up_to_km": z.up_to_km, "bands": [list(b) for b in z.bands],
                       "per_kg_over": z.per_kg_over} for z in card.zones],
            "hub_pairs": dict(card.hub_pairs), "per_km": card.per_km}


def check_tariff(tariff: dict) -> tuple[tuple[Zone, ...], dict, int]:
    """The zones, hub pairs and per-km amount of a stored tariff; CardError names what is
    wrong."""
    zones = []
    try:
        raw_zones = tariff["zones"]
        for i, z in enumerate(raw_zones):
            bands = tuple((int(g), int(a)) for g, a in z.get("bands", []))
            zone = Zone(str(z["code"]).strip(), str(z.get("name") or z["code"]).strip(),
                        None if z.get("up_to_km") in (None, "") else float(z["up_to_km"]), bands,
                        int(z.get("per_kg_over") or 0))
            if not zone.code:
                raise CardError(f"zone {i + 1}: give it a code")
            if any(a < 0 for _, a in bands) or zone.per_kg_over < 0:
                raise CardError(f"zone {zone.code}: amounts cannot be negative")
            if [g for g, _ in bands] != sorted({g for g, _ in bands}):
                raise CardError(f"zone {zone.code}: weight bands rise, each once")
            if not bands and not zone.per_kg_over:
                raise CardError(f"zone {zone.code}: give a price for some weight")
            zones.append(zone)
        hub_pairs = {str(k): str(v) for k, v in (tariff.get("hub_pairs") or {}).items()}
        per_km = int(tariff.get("per_km") or 0)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, CardError):
            raise
        raise CardError(f"the tariff is not well formed ({exc})") from None
    if not zones:
        raise CardError("a card has at least one zone")
    limits = [z.up_to_km for z in zones]
    if limits[-1] is not None or None in limits[:-1] or limits[:-1] != sorted(limits[:-1]):
        raise CardError("zones go outwards by distance, the last one with no limit")
    codes = {z.code for z in zones}
    if len(codes) != len(zones):
        raise CardError("each zone has its own code")
    unknown = set(hub_pairs.values()) - codes
    if unknown:
        raise CardError(f"hub pairs name no such zone: {', '.join(sorted(unknown))}")
    if per_km < 0:
        raise CardError("the amount per km cannot be negative")
    return tuple(zones), hub_pairs, per_km


def card_of(row) -> Card:
    zones, hub_pairs, per_km = check_tariff(row.tariff)
    return Card(row.id, row.partner_id, row.service_level, row.currency, row.effective_from, row.name, zones,
                hub_pairs, per_km, row.return_amount, row.failed_attempt_amount, row.cod_fee_bp, row.cod_fee_min,
                row.remote_amount, row.remote_beyond_km, row.insurance_bp, row.vat_bp)


_cards: dict[tuple, tuple[float, Card]] = {}
_fuel: dict[tuple, tuple[float, int]] = {}
#: Seconds a process keeps a card; new versions take effect from a later date, so a
#: minute is safe (the console that makes one forgets its own copies at once).
CARD_TTL = 60.0


def rate_card_for(session: Session, service_level: str, currency: str, on: date, *,
                  partner_id: int | None = None) -> Card:
    """The card in force on ``on``: the partner's contract card when it has one by then,
    else the default card (each the newest version effective by ``on``)."""
    key = (str(session.get_bind().url), partner_id, service_level, currency, on)
    hit = _cards.get(key)
    if hit and time.monotonic() - hit[0] < CARD_TTL:
        return hit[1]
    newest = (select(RateCard.__table__).where(RateCard.service_level == service_level, RateCard.currency == currency,
                                                RateCard.effective_from <= on)
              .order_by(RateCard.effective_from.desc(), RateCard.id.desc()).limit(1))
    row = None
    if partner_id is not None:
        row = session.execute(newest.where(RateCard.partner_id == partner_id)).first()
    if row is None:
        row = session.execute(newest.where(RateCard.partner_id.is_(None))).first()
    if row is None:
        raise NoRate(f"no {currency} rate card for {service_level} on {on.isoformat()}")
    card = card_of(row)
    _cards[key] = (time.monotonic(), card)
    return card


_by_id: dict[tuple, Card] = {}


def card_by_id(session: Session, card_id: int) -> Card:
    """A card version by its id (kept: a version never changes)."""
    key = (str(session.get_bind().url), card_id)
    if key not in _by_id:
        row = session.execute(select(RateCard.__table__).where(RateCard.id == card_id)).first()
        if row is None:
            raise NoRate(f"no rate card {card_id}")
        _by_id[key] = card_of(row)
    return _by_id[key]


def fuel_bp_on(session: Session, on: date) -> int:
    """The fuel surcharge in force on ``on`` (basis points of the freight; 0 when none)."""
    key = (str(session.get_bind().url), on)
    hit = _fuel.get(key)
    if hit and time.monotonic() - hit[0] < CARD_TTL:
        return hit[1]
    found = session.scalar(select(FuelSurcharge.rate_bp).where(FuelSurcharge.effective_from <= on)
                           .order_by(FuelSurcharge.effective_from.desc()).limit(1)) or 0
    _fuel[key] = (time.monotonic(), found)
    return found


def invalidate_rate_cards() -> None:
    _cards.clear()
    _fuel.clear()
    _by_id.clear()


@dataclass(frozen=True)
class Shipped:
    """What a card prices: the facts of one order."""

    distance_km: float
    grams: int
    cod_amount: int = 0
    declared_value: int = 0
    #: "CENTRE>HUB", the hubs it goes through.
    hub_pair: str | None = None
    #: Distance of the drop-off from its delivering hub.
    from_hub_km: float = 0.0


@dataclass(frozen=True)
class Rate:
    #: What the partner pays: the lines, plus VAT.
    amount: Money
    net: int
    vat: int
    rate_card_id: int
    #: As kept with the quote and the charge: card, zone, lines [code, amount], VAT.
    breakdown: dict


def zone_for(card: Card, shipped: Shipped) -> Zone:
    by_code = {z.code: z for z in card.zones}
    if shipped.hub_pair and shipped.hub_pair in card.hub_pairs:
        return by_code[card.hub_pairs[shipped.hub_pair]]
    return next(z for z in card.zones if z.up_to_km is None or shipped.distance_km <= z.up_to_km)


def _freight(card: Card, zone: Zone, shipped: Shipped) -> tuple[int, str]:
    band = next(((g, a) for g, a in zone.bands if shipped.grams <= g), None)
    if band is not None:
        amount, words = Decimal(band[1]), f"up to {band[0] / 1000:g} kg"
    else:
        top, price = zone.bands[-1] if zone.bands else (0, 0)
        over = Decimal(shipped.grams - top) / 1000
        amount = price + zone.per_kg_over * over
        words = f"{shipped.grams / 1000:g} kg" if not zone.bands else f"{top / 1000:g} kg + {over:g} kg"
    if card.per_km:
        amount += card.per_km * Decimal(str(shipped.distance_km))
        words += f", {shipped.distance_km:g} km"
    return round_minor(amount), f"zone {zone.code}, {words}"


def _total(card: Card, lines: list[list], extra: dict) -> Rate:
    net = sum(amount for _, amount in lines)
    vat = round_minor(bp(net, card.vat_bp))
    breakdown = {"card": card.id, "lines": lines, "net": net, "vat_bp": card.vat_bp, "vat": vat,
                 "total": net + vat, **extra}
    return Rate(Money(net + vat, card.currency), net, vat, card.id, breakdown)


def rate(card: Card, shipped: Shipped, *, fuel_bp: int = 0) -> Rate:
    """The delivery's price: freight by zone and weight, the surcharges, VAT."""
    zone = zone_for(card, shipped)
    freight, words = _freight(card, zone, shipped)
    lines = [["freight", freight]]
    if fuel_bp:
        lines.append(["fuel", round_minor(bp(freight, fuel_bp))])
    if shipped.cod_amount and (card.cod_fee_bp or card.cod_fee_min):
        lines.append(["cod_fee", max(card.cod_fee_min, round_minor(bp(shipped.cod_amount, card.cod_fee_bp)))])
    if card.remote_amount and card.remote_beyond_km is not None and shipped.from_hub_km > card.remote_beyond_km:
        lines.append(["remote", card.remote_amount])
    if shipped.declared_value and card.insurance_bp:
        lines.append(["insurance", round_minor(bp(shipped.declared_value, card.insurance_bp))])
    return _total(card, [line for line in lines if line[1]], {"zone": zone.code, "freight": words,
                                                              "fuel_bp": fuel_bp})


def return_rate(card: Card) -> Rate:
    return _total(card, [["return", card.return_amount]] if card.return_amount else [], {})


def failed_attempts_rate(card: Card, attempts: int) -> Rate:
    """The fee for ``attempts`` failed delivery attempts (on a shipment delivered or
    returned in the end)."""
    amount = card.failed_attempt_amount * attempts
    return _total(card, [["failed_attempt", amount]] if amount else [], {"attempts": attempts})


def lines_in_words(breakdown: dict) -> list[dict]:
    """A breakdown's lines for people and for the API: code, words, amount, account."""
    return [{"code": code, "words": LINES[code][0], "amount": amount, "account": LINES[code][1]}
            for code, amount in breakdown.get("lines", [])]


def simple_card(*, id: int = 0, service_level: str = "standard", currency: str = "VND", base: int,
                per_km: int = 0, per_kg: int = 0, **surcharges) -> Card:
    """A one-zone card priced base + per km + per kg (tests, and cards made before zones)."""
    zone = Zone("ALL", "Everywhere", None, ((0, base),), per_kg)
    return Card(id, None, service_level, currency, date(2000, 1, 1), "simple", (zone,), {}, per_km, **surcharges)
