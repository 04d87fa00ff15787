"""What an order would cost and when it would arrive: its addresses placed, its route
planned and rated. The quote, intake and an address change all call ``price``, so a
partner is charged what it was quoted."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app
from sqlalchemy.orm import Session

from app import clock
from app.billing.money import Money
from app.billing.rating import NoRate, Shipped, billable_grams, fuel_bp_on, rate, rate_card_for
from app.crm.models import Partner
from app.hubs.geocoding import AddressNotPlaced, Placed, make_geocoder, place_address
from app.hubs.routing import NotServiceable, km, load_network, plan_route
from app.orders.order_in import AddressIn, IntakeError, ParcelIn
from app.orders.promises import NoPromise, Promise, promise

@dataclass(frozen=True)
class Priced:
    """Where an order would go, what it would cost and when it would arrive."""

    places: dict
    plan: object
    grams: int
    rate: object
    #: When it would arrive, and why (``orders.promises``).
    promise: Promise

    @property
    def fee(self) -> Money:
        return self.rate.amount

    @property
    def promised_date(self) -> date:
        return self.promise.day


def price(session: Session, partner: Partner, pickup: AddressIn, dropoff: AddressIn,
          parcels: list[ParcelIn], service_level: str, *, now: datetime | None = None,
          cod_amount: int = 0) -> Priced:
    """Place both addresses, plan the route and rate it with the card in force for the
    partner (its contract's, else the default): what a quote shows and what the order is
    then charged. Raises IntakeError naming the field at fault."""
    now = now or clock.now()
    places = {}
    for side, a in (("pickup", pickup), ("dropoff", dropoff)):
        found = a.placed if a.placed is not None else _place(a)
        if isinstance(found, AddressNotPlaced):
            raise IntakeError([{"field": f"{side}.address", "message": str(found)}])
        places[side] = found
    dropoff_point = (places["dropoff"].lat, places["dropoff"].lon)
    try:
        plan = plan_route(load_network(session), (places["pickup"].lat, places["pickup"].lon), dropoff_point)
    except NotServiceable as exc:
        raise IntakeError([{"field": "dropoff.address", "message": str(exc)}]) from None
    tz = clock.network_zone()
    grams = billable_grams(parcels)
    day = now.astimezone(tz).date()
    try:
        card = rate_card_for(session, service_level, partner.currency, day, partner_id=partner.id)
    except NoRate as exc:
        raise IntakeError([{"field": "service_level", "message": str(exc)}]) from None
    shipped = Shipped(
        distance_km=plan.distance_km, grams=grams, cod_amount=cod_amount or 0,
        declared_value=sum(p.declared_value_amount or 0 for p in parcels
                           if p.declared_value_currency == card.currency),
        hub_pair=f"{plan.centre.code}>{plan.delivery_hub.code}",
        from_hub_km=km(plan.delivery_hub.point, dropoff_point))
    try:
        promised = promise(session, plan, service_level, now)
    except NoPromise as exc:
        raise IntakeError([{"field": "dropoff.address", "message": str(exc)}]) from None
    return Priced(places, plan, grams, rate(card, shipped, fuel_bp=fuel_bp_on(session, day)), promised)


def locate(orders) -> None:
    """Place every address of the orders, through the geocoder where it has no
    coordinates. The geocoder may be a network service (Nominatim, up to 10 s): surfaces
    call this before they open the transaction that takes the orders, so that none waits
    on it holding locks. What cannot be placed is kept, for intake to refuse."""
    for order in orders:
        locate_address(order.pickup.address)
        locate_address(order.dropoff.address)


def locate_address(a: AddressIn) -> AddressIn:
    """Place one address (see ``locate``); returns it."""
    if a.placed is None:
        a.placed = _place(a)
    return a


def _place(a: AddressIn) -> Placed | AddressNotPlaced:
    try:
        return place_address(_geocoder(), line1=a.line1, city=a.city, country=a.country,
                             district=a.district, postal_code=a.postal_code, lat=a.lat, lon=a.lon)
    except AddressNotPlaced as exc:
        return exc


_geocoders: dict = {}


def _geocoder():
    config = current_app.config
    key = (config["WAYBILL_GEOCODER"], config["NOMINATIM_URL"])
    if key not in _geocoders:
        _geocoders[key] = make_geocoder(config)
    return _geocoders[key]
