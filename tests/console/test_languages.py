"""The console in Vietnamese: every page a member of staff opens (each list, and an object
of each kind: a shipment, a case, an account, a lead, an invoice, a remittance...) is read
in English and in Vietnamese, and no heading, column, label, button or badge reads the
same in both but for the names, codes and numbers that are the same in every language."""
from __future__ import annotations

import random
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from tests.auth.conftest import client, sign_in  # noqa: F401 (fixture)

#: Words the same in both languages: abbreviations and the names of things.
SAME = {"COD", "VAT", "SLA", "PDF", "CSV", "SMS", "API", "E-mail", "e-mail", "Beancount", "Jinja", "#", "km", "kg"}
#: Data, not words: an amount ("0 VND"), a code ("VND", "VAT %"), a person and their phone, a
#: partner and its currency.
DATA = re.compile(r"^[-−]?[\d.,]+ [A-Z]{3}$|^[A-Z]{2,4}( %)?$|^[^<>]+ \+\d{8,15}$|^[A-Z][\w ]+ [A-Z]{3}$")
#: The parts of a page that are the console's own words.
PARTS = re.compile(r"<(h1|h2|h3|th|label|button|legend|summary|a class=\"current\"|span class=\"badge[^\"]*\")[^>]*>(.*?)</",
                   re.S)
TAG = re.compile(r"<[^>]+>")


@pytest.fixture
def world(app, session, backend):
    """The demo network with a day of orders, last month played, invoiced and remitted, leads,
    a case and a campaign: an object of every kind the console shows."""
    if backend != "sqlite":
        pytest.skip("the words are the same on every database; read once, on SQLite")
    from app import demo
    from app.billing import invoices, ledger, remittances
    from app.crm import campaigns, cases
    from app.orders.models import Shipment
    from app.simulation import Simulation
    from workers.jobs import run_pending

    demo.seed_network(session)
    logins = {u["role"]: u for u in demo.seed_users(session)}
    session.commit()
    period = ledger.period_of(clock.today().replace(day=1) - timedelta(days=1))
    demo.seed_month(Simulation(session, drain=run_pending, rng=random.Random(3), only=set()), period, 12)
    demo.seed_orders(Simulation(session, drain=run_pending, rng=random.Random(5)), 20)
    demo.seed_leads(session)
    invoices.run(session, period, user_id=None)
    remittances.run(session)
    from app.billing.models import CashHandover
    counted = session.scalars(select(CashHandover).where(CashHandover.received_at.is_not(None))).first()
    remittances.deposit(session, counted.hub_id, counted.currency, bank_reference="VCB-1", user_id=None)
    shipment = session.scalars(select(Shipment).order_by(Shipment.id)).first()
    cases.open_case(session, "damaged", "Crushed box", "The box was crushed", shipment_id=shipment.id, opened_via="staff")
    campaigns.create(session, name="Tết offer", channel="sms", subject=None, body="Chào {{ name }}", segment={}, user_id=None)
    session.commit()
    return {"logins": logins, "period": period}


def _words(page: str) -> set[str]:
    found = set()
    for _, inner in PARTS.findall(page):
        text = " ".join(TAG.sub(" ", inner).split())
        if text and re.search(r"[A-Za-z]{3}", text):
            found.add(text)
    return found


def _pages(app, session, period) -> list[str]:
    """Every console page that shows HTML: those without an argument, and one of each object."""
    from app.billing.models import CashDeposit, Invoice, JournalEntry, RateCard, Remittance
    from app.crm.models import Campaign, Case, Customer, Lead, Partner
    from app.hubs.models import Hub, LinehaulTrip
    from app.orders.models import Shipment

    first = {"shipment_id": Shipment, "case_id": Case, "partner_id": Partner, "lead_id": Lead, "customer_id": Customer,
             "invoice_id": Invoice, "remittance_id": Remittance, "campaign_id": Campaign, "entry_id": JournalEntry,
             "card_id": RateCard, "deposit_id": CashDeposit, "hub_id": Hub, "trip_id": LinehaulTrip}
    ids = {name: session.scalars(select(model.id).order_by(model.id)).first() for name, model in first.items()}
    ids["period"] = period
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console") or "GET" not in rule.methods or rule.rule.endswith((".pdf", ".csv")):
            continue
        if "fmt" in rule.arguments or "name" in rule.arguments:
            continue  # the books' exports and photos: files, not pages
        if any(ids.get(arg) is None for arg in rule.arguments):
            continue
        values = {arg: ids[arg] for arg in rule.arguments}
        if "trip_id" in values:  # a trip is received at the hub it goes to
            values["hub_id"] = session.get(LinehaulTrip, values["trip_id"]).to_hub_id
        urls.append(rule.build(values, append_unknown=False)[1])
    return sorted(set(urls))


def test_every_console_page_speaks_vietnamese(app, session, world, client):  # noqa: F811
    sign_in(client, world["logins"]["admin"]["email"], world["logins"]["admin"]["password"])
    urls = _pages(app, session, world["period"])
    assert len(urls) >= 40, urls
    untranslated = {}
    for url in urls:
        english = client.get(url, query_string={"lang": "en"}, follow_redirects=True)
        vietnamese = client.get(url, query_string={"lang": "vi"}, follow_redirects=True)
        assert english.status_code == vietnamese.status_code == 200, url
        if not vietnamese.mimetype == "text/html":
            continue
        page = vietnamese.get_data(as_text=True)
        assert 'lang="vi"' in page, url
        same = {w for w in _words(english.get_data(as_text=True)) & _words(page) if w not in SAME and not DATA.match(w)}
        if same:
            untranslated[url] = sorted(same)
    assert untranslated == {}
