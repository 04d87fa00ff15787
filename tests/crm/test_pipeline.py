"""The sales pipeline: a lead is checked as every path gives it, an offer is a draft
contract card with its quote, and a won lead is an account onboarded in one go — login,
key, pickup place and the offer as its contract — or nothing at all."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import clock
from app.auth.services import sign_in
from app.billing.models import RateCard
from app.crm import pipeline
from app.crm import services as crm
from app.crm.models import Contact, Lead, Partner, PickupLocation
from app.crm.pipeline import PipelineError
from app.orders.intake import AddressIn, locate_address


def _lead(session, **kw):
    fields = {"company": "Lotus Mart", "contact_name": "Phạm Minh Tú", "email": "Tu@Lotus.example",
              "phone": "0912 345 678", "monthly_parcels": 3000, "typical_grams": 800, "typical_cod": 200_000}
    return pipeline.add_lead(session, **{**fields, **kw})


@pytest.mark.parametrize("bad, message", [
    ({"company": " "}, "company's name"), ({"contact_name": ""}, "person to talk to"),
    ({"email": "nope"}, "not an e-mail"), ({"email": None, "phone": None}, "e-mail address or a phone"),
    ({"monthly_parcels": -1}, "parcels a month"), ({"service_level": "teleport"}, "service level"),
])
def test_a_lead_is_checked_as_every_path_gives_it(session, network, bad, message):
    with pytest.raises(PipelineError, match=message):
        _lead(session, **bad)


def test_an_offer_is_the_default_card_with_a_discount_and_a_quote_for_the_typical_parcel(session, network):
    lead = _lead(session)
    assert (lead.email, lead.phone, lead.stage) == ("tu@lotus.example", "+84912345678", "new")
    with pytest.raises(PipelineError, match="qualify the lead"):
        pipeline.propose(session, lead, discount_bp=1000, by=None)
    with pytest.raises(PipelineError, match="make an offer to propose"):
        pipeline.move(session, lead, "proposal", by=None)
    pipeline.move(session, lead, "qualified", by=None)
    offer = pipeline.propose(session, lead, discount_bp=1000, by=None)
    assert lead.stage == "proposal"
    assert offer.price.amount < offer.list_price.amount
    assert lead.value_amount == offer.price.amount * 3000
    default = session.scalars(select(RateCard).where(RateCard.partner_id.is_(None),
                                                     RateCard.service_level == "standard")).first()
    first_band = default.tariff["zones"][0]["bands"][0][1]
    assert lead.offer["tariff"]["zones"][0]["bands"][0][1] == round(first_band * 0.9)
    with pytest.raises(PipelineError, match="from 0 to 50"):
        pipeline.propose(session, lead, discount_bp=9000, by=None)
    pipeline.move(session, lead, "negotiation", by=None)
    pipeline.propose(session, lead, discount_bp=1500, by=None)  # a better offer while negotiating
    assert lead.stage == "negotiation" and lead.offer["discount_bp"] == 1500


def test_a_won_lead_is_an_account_with_a_login_a_key_a_pickup_place_and_its_contract(session, network):
    lead = _lead(session)
    with pytest.raises(PipelineError, match="make an offer before winning"):
        pipeline.win(session, lead, by=None)
    pipeline.move(session, lead, "qualified", by=None)
    pipeline.propose(session, lead, discount_bp=1200, by=None)
    pickup = locate_address(AddressIn(line1="45 Le Loi", district="District 1", city="Ho Chi Minh City",
                                      country="VN", postal_code=""))
    done = pipeline.win(session, lead, pickup=pickup, by=None)
    session.commit()
    partner = session.get(Partner, done.partner.id)
    assert (partner.name, partner.status, partner.active, lead.stage, lead.partner_id) == (
        "Lotus Mart", "onboarding", True, "won", partner.id)
    contact = session.scalars(select(Contact).where(Contact.partner_id == partner.id)).one()
    assert contact.email == "tu@lotus.example" and "invoices" in contact.subscriptions
    assert sign_in(session, "tu@lotus.example", done.password).partner_id == partner.id
    assert crm.partner_for_api_key(session, done.api_key).id == partner.id
    assert session.scalar(select(func.count()).select_from(PickupLocation)
                          .where(PickupLocation.partner_id == partner.id)) == 1
    contract = session.get(RateCard, done.contract.id)
    assert (contract.partner_id, contract.effective_from) == (partner.id, clock.today() + timedelta(days=1))
    assert contract.tariff == lead.offer["tariff"]
    with pytest.raises(PipelineError, match="the lead is won"):
        pipeline.win(session, lead, by=None)


def test_a_won_lead_whose_account_cannot_be_made_changes_nothing(session, network):
    lead = _lead(session, company=network["partners"][0]["name"])  # a partner of that name exists
    pipeline.move(session, lead, "qualified", by=None)
    pipeline.propose(session, lead, discount_bp=0, by=None)
    session.commit()
    with pytest.raises(PipelineError, match="already exists"):
        pipeline.win(session, lead, by=None)
    session.rollback()
    assert session.get(Lead, lead.id).stage == "proposal"


def test_the_board_and_the_funnel_count_leads_by_stage_and_month(session, network):
    a, b, c = _lead(session, company="A"), _lead(session, company="B"), _lead(session, company="C")
    for lead in (a, b):
        pipeline.move(session, lead, "qualified", by=None)
    pipeline.propose(session, a, discount_bp=500, by=None)
    pipeline.lose(session, c, "price", by=None)
    with pytest.raises(PipelineError, match="say why"):
        pipeline.lose(session, b, " ", by=None)
    board = pipeline.board(session)
    assert board["proposal"] == (1, a.value_amount) and board["qualified"][0] == 1 and board["lost"][0] == 1
    month, counts = pipeline.funnel(session)[0]
    assert month == clock.today().strftime("%Y-%m")
    assert (counts["new"], counts["qualified"], counts["proposal"], counts["lost"]) == (3, 2, 1, 1)
