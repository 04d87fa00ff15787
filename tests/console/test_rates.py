"""Finance edits rate cards and contracts in the console: a new version filled in from the
one in force, previewed on a parcel, saved from a later day (audited); bad input is
named and the form kept; the fuel surcharge by month."""
from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from app import clock
from app.auth.models import AuditEntry
from app.billing.models import FuelSurcharge, RateCard
from app.billing.rating import rate_card_for
from tests.auth.conftest import csrf_of, sign_in
from tests.console.test_finance import _finance


def _fields(page: str) -> dict:
    """The form as the browser would send it: every input's value, the selected options."""
    fields = {m.group(1): m.group(2) for m in re.finditer(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)}
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.DOTALL):
        chosen = re.search(r'<option value="([^"]*)"\s+selected', body) or re.search(r'<option value="([^"]*)"', body)
        fields[name] = chosen.group(1)
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"(?:[^>"]|"[^"]*")*>(.*?)</textarea>', page, re.DOTALL):
        fields[name] = body
    return fields


def test_finance_writes_a_contract_previews_it_and_saves_it(client, users, session, partner, day):
    _finance(client, session)
    listing = client.get("/console/finance/rates").get_data(as_text=True)
    default = session.scalars(select(RateCard).where(RateCard.service_level == "standard")).one()
    assert f'id="card-{default.id}"' in listing and "every partner (default)" in listing

    form_page = client.get(f"/console/finance/rates/new?partner={partner.id}&from={default.id}").get_data(as_text=True)
    fields = _fields(form_page)
    assert fields["partner_id"] == str(partner.id) and fields["price_0_0"] == "16000"
    assert fields["effective_from"] == (day + timedelta(days=1)).isoformat()

    # Cheaper zone A for this partner: preview first (nothing saved).
    fields.update(price_0_0="14000", price_0_1="16000", preview_km="3", preview_kg="0.4",
                  preview_cod="300000", action="preview", note="won in the Q1 negotiation")
    page = client.post("/console/finance/rates/new", data=fields).get_data(as_text=True)
    assert 'id="preview-lines"' in page and "zone A, up to 0.5 kg" in page
    # 14,000 freight + 5,000 COD fee (0.8 % of 300,000 is 2,400: the minimum) + 8 % VAT.
    assert re.search(r'id="preview-total">20,520 VND<', page)
    assert session.scalar(select(RateCard.id).where(RateCard.partner_id == partner.id)) is None

    fields["action"] = "save"
    saved = client.post("/console/finance/rates/new", data=fields, follow_redirects=True).get_data(as_text=True)
    assert "takes effect on" in saved and "14,000 VND" in saved
    contract = session.scalars(select(RateCard).where(RateCard.partner_id == partner.id)).one()
    assert contract.note == "won in the Q1 negotiation" and contract.created_by is not None
    tomorrow = day + timedelta(days=1)
    assert rate_card_for(session, "standard", "VND", tomorrow, partner_id=partner.id).id == contract.id
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "rate_card.created")).one()
    assert audit.object_id == str(contract.id) and audit.details["partner_id"] == partner.id


def test_a_bad_card_is_refused_with_the_field_and_the_form_kept(client, users, session):
    _finance(client, session)
    default = session.scalars(select(RateCard).where(RateCard.service_level == "express")).one()
    fields = _fields(client.get(f"/console/finance/rates/new?from={default.id}").get_data(as_text=True))
    fields.update(price_1_2="lots", action="save", note="typo here")
    page = client.post("/console/finance/rates/new", data=fields).get_data(as_text=True)
    assert "Not saved: zone B, up to 2 kg: a whole number, not &#39;lots&#39;" in page
    assert 'value="typo here"' in page  # what was typed is still there
    fields.update(price_1_2="30000", effective_from=clock.today().isoformat())
    page = client.post("/console/finance/rates/new", data=fields).get_data(as_text=True)
    assert "tomorrow at the earliest" in page
    assert session.scalar(select(RateCard.id).where(RateCard.service_level == "express",
                                                    RateCard.id != default.id)) is None


def test_the_fuel_surcharge_is_set_from_a_later_day(client, users, session, day):
    _finance(client, session)
    page = client.get("/console/finance/rates").get_data(as_text=True)
    tomorrow = (day + timedelta(days=1)).isoformat()
    r = client.post("/console/finance/rates/fuel", data={"effective_from": tomorrow, "percent": "12.5",
                                                        "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Fuel surcharge 12.5 % from" in r.get_data(as_text=True)
    assert session.get(FuelSurcharge, day + timedelta(days=1)).rate_bp == 1_250
    r = client.post("/console/finance/rates/fuel", data={"effective_from": day.isoformat(), "percent": "5",
                                                        "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Not saved: the fuel surcharge changes from tomorrow" in r.get_data(as_text=True)


def test_rate_cards_are_finances(client, users):
    sign_in(client, "disp@test.example")
    assert client.get("/console/finance/rates").status_code == 403
    assert client.post("/console/finance/rates/new", data={}).status_code in (400, 403)
