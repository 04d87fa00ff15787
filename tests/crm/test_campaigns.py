"""Campaigns: a segment of customers, queued in chunks, sent through a real (loopback)
SMS gateway: those who opted out or gave no consent get nothing and are counted; a
message is sent once however often its job comes; the unsubscribe link works."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app import clock
from app.crm import campaigns
from app.crm.models import CampaignMessage, Customer
from tests.auth.conftest import client, csrf_of, sign_in, users  # noqa: F401 (fixtures)
from tests.crm.test_sms_gateway import Gateway
from tests.factories import create, order_in


def _customers(session, partner, n, *, consent=True, language=None, prefix="C"):
    ids = []
    for i in range(n):
        order = order_in(f"{prefix}-{i}", email=None)
        order.dropoff.phone = f"0903 {hash(prefix) % 1000:03d} {i:03d}"
        order.dropoff.name = "Nguyễn Văn An"
        customer = session.get(Customer, create(session, partner, order).order.customer_id)
        customer.marketing_consent, customer.language = consent, language
        ids.append(customer.id)
    session.flush()
    return ids


@pytest.fixture
def gateway(app):
    made = Gateway()
    app.config.update(SMS_GATEWAY="http", SMS_GATEWAY_URL=made.url, SMS_GATEWAY_TOKEN="s3cret")
    app.extensions.pop("waybill.mailer", None)
    yield made
    made.close()


def test_a_segment_counts_who_it_matches_and_who_can_be_reached(session, partner):
    yes = _customers(session, partner, 3, language="vi", prefix="Y")
    _customers(session, partner, 2, consent=False, prefix="N")
    session.get(Customer, yes[0]).opted_out_at = clock.now()
    assert campaigns.audience(session, {}, "sms") == (5, 2)
    assert campaigns.audience(session, {"language": "vi"}, "sms") == (3, 2)
    assert campaigns.audience(session, {"inactive_days": 30}, "sms") == (0, 0)  # all ordered today
    assert campaigns.audience(session, {"min_shipments": 1, "days": 7}, "sms")[0] == 5
    with pytest.raises(campaigns.CampaignError, match="not colour"):
        campaigns.check_segment({"colour": "red"})


def test_a_campaign_goes_to_those_who_agreed_once_each_and_counts_the_others(app, session, partner, gateway):
    from workers.jobs import queue_campaigns, send_campaign_messages

    _customers(session, partner, 7, prefix="A")
    _customers(session, partner, 3, consent=False, prefix="B")
    campaign = campaigns.create(session, name="Tết", channel="sms", subject=None,
                                body="Chào {{ name }}! Giảm 20% phí giao Tết. Ngừng nhận: {{ unsubscribe_link }}",
                                segment={}, user_id=None)
    campaigns.schedule(session, campaign, clock.now())
    session.commit()
    campaign_id = campaign.id
    # Queued a chunk of four at a time: three commits, and no customer twice.
    original = campaigns.CHUNK
    campaigns.CHUNK = 4
    try:
        assert queue_campaigns() == [campaign_id]
    finally:
        campaigns.CHUNK = original
    assert campaigns.results(session, campaign_id) == {"pending": 7, "sent": 0, "failed": 0, "opted_out": 3,
                                                       "cancelled": 0}
    # A sender that died holding a claim: its messages wait for the hold to run out.
    with app.app_context():
        held = campaigns.claim(session, public_url="http://w", secret=app.config["SECRET_KEY"], limit=2)
        session.commit()
    assert len(held) == 2 and held[0].body.startswith("Chào An! Giảm 20%")
    assert send_campaign_messages() == (5, 0)
    assert send_campaign_messages() == (0, 0)  # the job again: nothing more
    with time_machine.travel(clock.now() + timedelta(minutes=5)):
        assert send_campaign_messages() == (2, 0)  # the dead sender's two, once their hold ran out
        assert send_campaign_messages() == (0, 0)
    assert len(gateway.messages) == 7 and len(gateway.requests) == 7
    session.expire_all()
    assert campaigns.results(session, campaign_id)["sent"] == 7
    assert session.get(campaigns.Campaign, campaign_id).status == "done"
    texts = [m["text"] for m in gateway.messages.values()]
    link = re.search(r"http://\S+(/unsubscribe/\S+)", texts[0])
    assert link, texts[0]


def test_the_unsubscribe_link_withdraws_consent(client, session, partner):
    with client.application.app_context():
        [customer_id] = _customers(session, partner, 1, prefix="U")
        session.commit()
        token = campaigns.unsubscribe_token(client.application.config["SECRET_KEY"], customer_id)
    page = client.get(f"/unsubscribe/{token}?lang=vi").get_data(as_text=True)
    assert "Ngừng nhận ưu đãi" in page
    client.post(f"/unsubscribe/{token}", data={"csrf_token": csrf_of(page)})
    with client.application.app_context():
        person = session.get(Customer, customer_id)
        assert person.marketing_consent is False and person.opted_out_at is None  # deliveries' messages still go
    assert client.get("/unsubscribe/not-a-token").status_code == 404


def test_an_account_manager_counts_an_audience_and_makes_and_schedules_a_campaign(client, users, session, partner):
    from app.auth.services import create_user

    with client.application.app_context():
        _customers(session, partner, 3, prefix="M")
        create_user(session, "am@test.example", role="account_manager", password="correct horse battery")
        session.commit()
    sign_in(client, "am@test.example")
    page = client.get("/console/crm/campaigns").get_data(as_text=True)
    form = {"name": "Mid-autumn", "channel": "sms", "body": "Chào {{ name }}! {{ unsubscribe_link }}",
            "min_shipments": "1", "days": "30", "csrf_token": csrf_of(page)}
    r = client.post("/console/crm/campaigns", data={**form, "min_shipments": "x", "action": "count"})
    assert r.status_code == 422 and "a whole number" in r.get_data(as_text=True)
    r = client.post("/console/crm/campaigns", data={**form, "action": "count"})
    assert "matches 3 customers; 3 of them" in r.get_data(as_text=True)
    r = client.post("/console/crm/campaigns", data={**form, "action": "create"})
    path = r.headers["Location"]
    page = client.get(path).get_data(as_text=True)
    assert 'id="campaign-status">draft' in page and "Chào An!" in page
    client.post(f"{path}/schedule", data={"at": clock.local().strftime("%Y-%m-%dT%H:%M"), "csrf_token": csrf_of(page)})
    assert 'id="campaign-status">scheduled' in client.get(path).get_data(as_text=True)
    with client.application.app_context():
        assert session.scalar(select(func.count()).select_from(CampaignMessage)) == 0  # nothing before it is due
