"""Rating: zones and weight bands, the surcharges, VAT; versions from a date, contracts
over the default card; a partner is charged what it was quoted, whatever changes later."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from app import clock
from app.billing import cards, fees
from app.billing.models import Charge
from app.billing.rating import (
    CardError,
    Shipped,
    check_tariff,
    failed_attempts_rate,
    rate,
    rate_card_for,
    return_rate,
    simple_card,
)
from app.demo import RATES, SURCHARGES
from tests.factories import carry_to_door, create, order_in

TARIFF, RETURN = RATES["standard"]


def _draft(**changes) -> cards.Draft:
    base = dict(partner_id=None, service_level="standard", currency="VND",
                effective_from=clock.today() + timedelta(days=1), name="Standard 2027", tariff=TARIFF,
                surcharges={**SURCHARGES, "return_amount": RETURN})
    base.update(changes)
    return cards.Draft(**base)


def test_freight_comes_from_the_zone_and_the_weight_band():
    card = cards.check(_draft())
    # Zone A (up to 5 km): 500 g -> 16,000; 1.2 kg -> the 2 kg band, 22,000.
    assert rate(card, Shipped(3.0, 500)).breakdown["lines"][0] == ["freight", 16_000]
    assert rate(card, Shipped(3.0, 1_200)).breakdown["lines"][0] == ["freight", 22_000]
    # Zone C (beyond 15 km), 4.5 kg: the 3 kg band (42,000) and 1.5 kg at 6,000 a kg.
    far = rate(card, Shipped(22.0, 4_500))
    assert far.breakdown["zone"] == "C" and far.breakdown["lines"][0] == ["freight", 51_000]
    # VAT 8 % on the lines, rounded once.
    assert far.vat == 4_080 and far.amount.amount == 55_080


def test_the_surcharges_each_say_what_they_are():
    card = cards.check(_draft())
    r = rate(card, Shipped(8.0, 900, cod_amount=2_000_000, declared_value=1_000_000, from_hub_km=9.0), fuel_bp=1_250)
    lines = dict(r.breakdown["lines"])
    assert lines == {"freight": 23_000, "fuel": 2_875, "cod_fee": 16_000, "remote": 10_000, "insurance": 5_000}
    small = rate(card, Shipped(8.0, 900, cod_amount=100_000))
    assert dict(small.breakdown["lines"])["cod_fee"] == 5_000  # 0.8 % of 100,000 is under the minimum
    assert r.net == sum(lines.values()) and r.amount.amount == r.net + r.vat


def test_a_hub_pair_named_on_the_card_is_priced_as_its_zone():
    tariff = {**TARIFF, "hub_pairs": {"SGN-C>SGN-TD": "A"}}
    card = cards.check(_draft(tariff=tariff))
    assert rate(card, Shipped(12.0, 500, hub_pair="SGN-C>SGN-TD")).breakdown["zone"] == "A"
    assert rate(card, Shipped(12.0, 500, hub_pair="SGN-C>SGN-D7")).breakdown["zone"] == "B"


def test_returns_and_failed_attempts_carry_vat():
    card = cards.check(_draft())
    assert return_rate(card).amount.amount == 12_960
    assert failed_attempts_rate(card, 2).amount.amount == 10_800
    assert failed_attempts_rate(card, 0).amount.amount == 0


@pytest.mark.parametrize("tariff, why", [
    ({"zones": []}, "at least one zone"),
    ({"zones": [{"code": "A", "up_to_km": 5, "bands": [[500, 1]]}]}, "the last one with no limit"),
    ({"zones": [{"code": "A", "up_to_km": None, "bands": [[1000, 1], [500, 2]]}]}, "rise"),
    ({"zones": [{"code": "A", "up_to_km": None, "bands": [[500, -1]]}]}, "negative"),
    ({"zones": [{"code": "A", "up_to_km": None, "bands": []}]}, "some weight"),
    ({"zones": [{"code": "A", "up_to_km": None, "bands": [[500, 1]]}], "hub_pairs": {"X>Y": "Q"}}, "no such zone"),
    ({"zones": [{"code": "B", "up_to_km": 9, "bands": [[500, 1]]}, {"code": "A", "up_to_km": 3, "bands": [[500, 1]]},
                {"code": "C", "up_to_km": None, "bands": [[500, 1]]}]}, "outwards"),
    ({"zones": "A"}, "not well formed"),
])
def test_a_card_that_cannot_price_is_refused_with_the_reason(tariff, why):
    with pytest.raises(CardError, match=why):
        check_tariff(tariff)


def test_surcharges_are_checked():
    with pytest.raises(CardError, match="at most 100 %"):
        cards.check(_draft(surcharges={**SURCHARGES, "return_amount": 0, "vat_bp": 12_000}))
    with pytest.raises(CardError, match="not negative"):
        cards.check(_draft(surcharges={**SURCHARGES, "return_amount": -1}))


@given(st.floats(0, 60), st.integers(1, 30_000), st.integers(0, 10**8), st.integers(0, 10**8), st.integers(0, 3000))
def test_any_parcel_prices_to_whole_minor_units_that_add_up(km, grams, cod, declared, fuel):
    card = cards.check(_draft())
    r = rate(card, Shipped(km, grams, cod_amount=cod, declared_value=declared), fuel_bp=fuel)
    assert all(isinstance(a, int) and a > 0 for _, a in r.breakdown["lines"])
    assert r.amount.amount == r.net + r.vat == r.breakdown["total"]


def test_the_linear_card_of_before_prices_as_it_did():
    """Cards made before zones are one zone: base for the first gram, per kg and per km."""
    card = simple_card(base=18_000, per_km=1_200, per_kg=2_500)
    assert rate(card, Shipped(7.5, 1_200)).amount.amount == round(18_000 + 1_200 * 7.5 + 2_500 * 1.2)


def _next_day(day):
    return datetime.combine(day + timedelta(days=1), time(9), clock.network_zone())


def test_a_new_version_and_a_contract_take_effect_from_their_day(session, partner, day):
    default = rate_card_for(session, "standard", "VND", day, partner_id=partner.id)
    with pytest.raises(CardError, match="tomorrow at the earliest"):
        cards.save(session, _draft(effective_from=day), user_id=None)
    cheaper = {"zones": [{**z, "bands": [[g, a - 2_000] for g, a in z["bands"]]} for z in TARIFF["zones"]],
               "hub_pairs": {}, "per_km": 0}
    contract = cards.save(session, _draft(partner_id=partner.id, tariff=cheaper, name="Saigon Books 2027"),
                          user_id=None)
    session.commit()
    with pytest.raises(CardError, match="exists already"):
        cards.save(session, _draft(partner_id=partner.id, tariff=cheaper), user_id=None)
    session.rollback()
    # Today the partner is quoted the default card; tomorrow its contract.
    assert rate_card_for(session, "standard", "VND", day, partner_id=partner.id).id == default.id
    tomorrow = day + timedelta(days=1)
    assert rate_card_for(session, "standard", "VND", tomorrow, partner_id=partner.id).id == contract.id
    assert rate_card_for(session, "standard", "VND", tomorrow).id == default.id  # others keep the default


def test_a_partner_is_charged_what_it_was_quoted_after_the_card_changes(session, partner, day):
    """An order taken today is charged today's quote when it is delivered after a dearer
    version and a fuel surcharge took effect; an order taken then is quoted the new ones."""
    from app.billing.rating import invalidate_rate_cards

    shipment = create(session, partner, order_in("RT-1", cod=250_000))
    session.commit()
    quoted = shipment.quoted_fee_amount
    dearer = {"zones": [{**z, "bands": [[g, a + 10_000] for g, a in z["bands"]]} for z in TARIFF["zones"]],
              "hub_pairs": {}, "per_km": 0}
    cards.save(session, _draft(tariff=dearer, name="Standard, dearer"), user_id=None)
    cards.set_fuel(session, day + timedelta(days=1), 1_000, user_id=None)
    session.commit()
    with time_machine.travel(_next_day(day), tick=False):
        invalidate_rate_cards()
        carry_to_door(session, shipment, cod=250_000)
        fees.collect_fees(session, [shipment.id])
        session.commit()
        charge = session.scalars(select(Charge).where(Charge.shipment_id == shipment.id)).one()
        assert charge.amount == quoted and "fuel" not in dict(charge.breakdown["lines"])
        later = create(session, partner, order_in("RT-2", cod=250_000))
        assert dict(later.quote["lines"])["fuel"] > 0 and later.quoted_fee_amount > quoted
        session.rollback()
