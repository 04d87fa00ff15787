"""The account and case pages: an account manager sees an account whole and changes it;
customer service works a case from report to a compensation finance can see; nobody
else reaches them."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.auth.models import AuditEntry
from app.auth.services import create_user
from app.billing import fees
from app.billing.models import Charge
from app.crm import cases
from app.crm import services as crm
from app.crm.models import Case, Contact
from app.outbox import OutboxMessage
from tests.auth.conftest import PASSWORD, csrf_of, sign_in
from tests.factories import deliver_direct


def _as(client, session, role, email):
    with client.application.app_context():
        create_user(session, email, role=role, password=PASSWORD, name=role.replace("_", " ").title())
        session.commit()
    sign_in(client, email)


def test_an_account_manager_sees_the_account_whole_and_pauses_it(client, users, session, partner):
    with client.application.app_context():
        shipment = deliver_direct(session, partner, "ACC-1")
        fees.collect_fees(session, [shipment.id])
        cases.open_case(session, "late", "Slow week", "Three parcels late", opened_via="staff",
                        shipment_id=shipment.id)
        _, key = crm.issue_api_key(session, partner)
        session.commit()
        partner_id = partner.id
    _as(client, session, "account_manager", "am@test.example")
    page = client.get(f"/console/crm/accounts/{partner_id}").get_data(as_text=True)
    assert 'id="weeks"' in page and "Slow week" in page and 'id="balance"' in page
    week_row = re.search(r'<tr><td>(\d\d \w\w\w \d{4})</td><td class="num">(\d+)</td><td class="num">(\d+)</td>', page)
    assert week_row and (week_row[2], week_row[3]) == ("1", "1")  # this week: one created, one delivered
    assert "shipments" in page and "Revenue since" in page

    r = client.post(f"/console/crm/accounts/{partner_id}/status", data={"status": "paused", "csrf_token": csrf_of(page)},
                    follow_redirects=True)
    assert "is paused: its API keys are refused" in r.get_data(as_text=True)
    with client.application.app_context():
        assert crm.partner_for_api_key(session, key) is None
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "partner")).all()[-1] == \
        "partner.status_changed"
    r = client.post(f"/console/crm/accounts/{partner_id}/status", data={"status": "prospect",
                                                                         "csrf_token": csrf_of(page)},
                    follow_redirects=True)
    assert "Not changed: an account that is paused cannot become prospect" in r.get_data(as_text=True)


def test_contacts_are_checked_and_get_what_their_roles_get(client, users, session, partner):
    _as(client, session, "account_manager", "am@test.example")
    path = f"/console/crm/accounts/{partner.id}"
    token = csrf_of(client.get(path).get_data(as_text=True))
    r = client.post(f"{path}/contacts", data={"name": "Hoa", "email": "not-an-address", "roles": ["billing"],
                                              "default_subscriptions": "on", "csrf_token": token},
                    follow_redirects=True)
    assert "Not added: &#39;not-an-address&#39; is not an e-mail address" in r.get_data(as_text=True)
    r = client.post(f"{path}/contacts", data={"name": "Hoa", "email": "Hoa@Shop.example", "phone": "0903 555 111",
                                              "roles": ["billing", "escalation"], "default_subscriptions": "on",
                                              "csrf_token": token}, follow_redirects=True)
    assert "Hoa added." in r.get_data(as_text=True)
    contact = session.scalars(select(Contact).where(Contact.name == "Hoa")).one()
    assert (contact.email, contact.phone) == ("hoa@shop.example", "+84903555111")
    assert contact.subscriptions == ["cases", "invoices", "remittances"]
    # A case's e-mail to the partner goes to whoever gets cases.
    with client.application.app_context():
        case = cases.open_case(session, "feedback", "", "hi", opened_via="staff", partner_id=partner.id)
        # (the demo account's escalation contact gets them too)
        assert "hoa@shop.example" in cases.recipient_for(session, case, "to_partner").split(", ")
        session.rollback()


def test_a_task_logged_on_an_account_waits_in_its_owners_list_until_done(client, users, session, partner):
    _as(client, session, "account_manager", "am@test.example")
    path = f"/console/crm/accounts/{partner.id}"
    token = csrf_of(client.get(path).get_data(as_text=True))
    r = client.post(f"{path}/activities", data={"kind": "task", "summary": "Send the new rate card", "csrf_token": token},
                    follow_redirects=True)
    assert "Not logged: a task has a due date" in r.get_data(as_text=True)
    client.post(f"{path}/activities", data={"kind": "task", "summary": "Send the new rate card",
                                            "due_day": "2030-01-02", "due_time": "10:00", "csrf_token": token})
    client.post(f"{path}/activities", data={"kind": "call", "summary": "Talked about Tết volumes",
                                            "csrf_token": token})
    page = client.get(path).get_data(as_text=True)
    assert "Talked about Tết volumes" in page and "Send the new rate card — due 02 Jan 10:00" in page
    assert "logged by" not in page  # an activity is on the timeline once, not again as a change
    home = client.get("/console/crm/accounts").get_data(as_text=True)
    task_id = re.search(r'/console/crm/activities/(\d+)/done', home)[1]
    r = client.post(f"/console/crm/activities/{task_id}/done",
                    data={"csrf_token": token, "back": "/console/crm/accounts"}, follow_redirects=True)
    assert "Done: Send the new rate card" in r.get_data(as_text=True)
    page = client.get("/console/crm/accounts").get_data(as_text=True)
    assert "Send the new rate card" not in page and "Nothing due." in page


def test_customer_service_works_a_damaged_parcel_case_to_a_compensation(client, users, session, partner):
    with client.application.app_context():
        shipment = deliver_direct(session, partner, "CS-1", email="lan@example.com")
        fees.collect_fees(session, [shipment.id])
        session.commit()
        tracking_number, shipment_id = shipment.tracking_number, shipment.id
    _as(client, session, "customer_service", "care@test.example")
    page = client.get("/console/crm/cases").get_data(as_text=True)
    r = client.post("/console/crm/cases", data={"type": "damaged", "tracking_number": "NOPE", "body": "crushed",
                                                "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Not opened: no parcel NOPE" in r.get_data(as_text=True)
    r = client.post("/console/crm/cases", data={"type": "damaged", "tracking_number": tracking_number.lower(),
                                                "subject": "Box crushed", "body": "The customer sent a photo",
                                                "csrf_token": csrf_of(page)})
    case_id = int(r.headers["Location"].rsplit("/", 1)[1])
    page = client.get(f"/console/crm/cases/{case_id}").get_data(as_text=True)
    assert re.search(r'class="countdown">\d+ h \d\d min left<', page)  # high priority: 2 business hours at most
    assert "lan@example.com" in page

    client.post(f"/console/crm/cases/{case_id}/reply", data={"kind": "to_customer", "body": "Sorry! We refund the fee.",
                                                             "csrf_token": csrf_of(page)})
    assert session.scalars(select(OutboxMessage.topic).where(OutboxMessage.topic == "case_email")).all() == [
        "case_email"]
    r = client.post(f"/console/crm/cases/{case_id}/resolve", data={"outcome": "compensation", "amount": "10,000",
                                                                   "note": "fee refunded", "csrf_token": csrf_of(page)},
                    follow_redirects=True)
    text = r.get_data(as_text=True)
    assert f"Case #{case_id} resolved: 10,000 VND off the shipment&#39;s charges." in text
    assert 'id="outcome"' in text and "Compensated" in text
    session.expire_all()
    adjustment = session.scalars(select(Charge).where(Charge.shipment_id == shipment_id,
                                                      Charge.kind == "adjustment")).one()
    assert adjustment.amount == -10_000
    assert session.get(Case, case_id).status == "resolved"
    # Finance sees it on the shipment's charges (billed on the next invoice).
    finance = client.application.test_client()
    with client.application.app_context():
        create_user(session, "money@test.example", role="finance", password=PASSWORD)
        session.commit()
    sign_in(finance, "money@test.example")
    assert "fee refunded" in finance.get(f"/console/shipments/{shipment_id}").get_data(as_text=True)


def test_a_dispatcher_works_cases_but_cannot_compensate_and_a_hub_operator_sees_none(client, users, session, partner):
    with client.application.app_context():
        case = cases.open_case(session, "feedback", "", "hi", opened_via="staff", partner_id=partner.id)
        session.commit()
        case_id = case.id
    sign_in(client, "disp@test.example")
    page = client.get(f"/console/crm/cases/{case_id}").get_data(as_text=True)
    assert 'value="compensation"' not in page
    r = client.post(f"/console/crm/cases/{case_id}/resolve", data={"outcome": "compensation", "amount": "1",
                                                                   "note": "x", "csrf_token": csrf_of(page)})
    assert r.status_code == 403
    assert client.get(f"/console/crm/accounts/{partner.id}").status_code == 403
    operator = client.application.test_client()
    sign_in(operator, "d7@test.example")
    assert operator.get("/console/crm/cases").status_code == 403
    assert client.get("/console/crm/cases/99999").status_code == 404


def test_customer_service_finds_a_customer_by_phone_merges_a_second_number_and_undoes_it(client, users, session,
                                                                                        partner):
    from app.auth.models import AuditEntry
    from app.crm.models import Customer, CustomerMerge
    from tests.factories import create, order_in

    with client.application.app_context():
        first = order_in("CU-1")
        first.dropoff.phone = "0903 100 200"
        second = order_in("CU-2")
        second.dropoff.phone = "0903 300 400"
        a, b = create(session, partner, first), create(session, partner, second)
        session.commit()
        a_id, b_id = a.order.customer_id, b.order.customer_id
        numbers = (a.tracking_number, b.tracking_number)
    _as(client, session, "customer_service", "care@test.example")
    r = client.get("/console/crm/customers?q=090 3100 200")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/console/crm/customers/{a_id}")
    page = client.get(f"/console/crm/customers/{a_id}").get_data(as_text=True)
    assert numbers[0] in page and numbers[1] not in page
    client.post(f"/console/crm/customers/{a_id}/preferences", data={
        "language": "vi", "preferred_time": "evening", "instructions": "Gọi trước", "notify_sms": "on",
        "opted_out": "on", "csrf_token": csrf_of(page)})
    r = client.post(f"/console/crm/customers/{a_id}/merge", data={"other": "+84903300400", "reason": "new SIM",
                                                                  "csrf_token": csrf_of(page)}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert "merged into this customer" in page and numbers[0] in page and numbers[1] in page
    assert 'id="opted-out"' in page
    session.expire_all()
    person = session.get(Customer, a_id)
    assert (person.language, person.preferred_time, person.notify_email, person.opted_out_at is not None) == (
        "vi", "evening", False, True)
    merge = session.scalars(select(CustomerMerge)).one()
    client.post(f"/console/crm/customers/merges/{merge.id}/undo", data={"csrf_token": csrf_of(page)})
    page = client.get(f"/console/crm/customers/{a_id}").get_data(as_text=True)
    assert numbers[0] in page and numbers[1] not in page
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "customer")
                           .order_by(AuditEntry.id)).all() == [
        "customer.preferences_changed", "customer.merged", "customer.merge_undone"]
    assert session.get(Customer, b_id).merged_into_id is None


def test_an_account_manager_works_a_lead_from_the_form_to_an_onboarded_account(client, users, session, network):
    from app.crm.models import Lead

    # A shop fills in the public form (no login).
    visitor = client.application.test_client()
    form = visitor.get("/ship-with-us").get_data(as_text=True)
    r = visitor.post("/ship-with-us", data={"company": "Lotus Mart", "contact_name": "Phạm Minh Tú",
                                            "csrf_token": csrf_of(form)})
    assert r.status_code == 422 and "give a phone number or an e-mail address" in r.get_data(as_text=True)
    r = visitor.post("/ship-with-us", data={"company": "Lotus Mart", "contact_name": "Phạm Minh Tú",
                                            "email": "tu@lotus.example", "monthly_parcels": "3,000",
                                            "csrf_token": csrf_of(form)})
    assert "Thank you, Tú" in r.get_data(as_text=True)
    lead = session.scalars(select(Lead)).one()
    assert (lead.source, lead.stage, lead.monthly_parcels) == ("web", "new", 3000)

    _as(client, session, "account_manager", "am@test.example")
    board = client.get("/console/crm/pipeline").get_data(as_text=True)
    assert "Lotus Mart" in board and 'id="stage-new"' in board
    path = f"/console/crm/leads/{lead.id}"
    page = client.get(path).get_data(as_text=True)
    client.post(f"/console/crm/leads/{lead.id}/activities", data={"kind": "call", "summary": "Called Tú: 3,000 a month",
                                                                 "csrf_token": csrf_of(page)})
    assert "Called Tú: 3,000 a month" in client.get(path).get_data(as_text=True)
    client.post(f"{path}/stage", data={"stage": "qualified", "csrf_token": csrf_of(page)})
    r = client.post(f"{path}/offer", data={"discount": "abc", "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "No offer: the discount is a percentage" in r.get_data(as_text=True)
    r = client.post(f"{path}/offer", data={"discount": "12.5", "service_level": "standard",
                                           "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Offer made:" in r.get_data(as_text=True) and 'id="lead-stage">proposal' in r.get_data(as_text=True)
    r = client.post(f"{path}/win", data={"line1": "45 Le Loi", "district": "District 1", "city": "Ho Chi Minh City",
                                         "csrf_token": csrf_of(page)})
    assert r.status_code == 201
    page = r.get_data(as_text=True)
    key = re.search(r'id="new-key">([^<]+)<', page)[1]
    password = re.search(r'id="new-password">([^<]+)<', page)[1]
    assert key not in client.get(path).get_data(as_text=True)  # shown once
    # The shop's person signs in to its portal.
    shop = client.application.test_client()
    sign_in(shop, "tu@lotus.example", password)
    assert shop.get("/portal/orders").status_code == 200
    with client.application.app_context():
        assert crm.partner_for_api_key(session, key).name == "Lotus Mart"


def test_finance_pays_a_claim_customer_service_accepted(client, users, session, partner):
    from app.billing import claims
    from app.billing.models import Claim
    from app.orders.intake import ParcelIn
    from app.orders.shipments import transition
    from tests.factories import create, order_in

    with client.application.app_context():
        parcels = [ParcelIn(weight_grams=900, length_cm=20, width_cm=20, height_cm=10,
                            declared_value_amount=300_000, declared_value_currency="VND")]
        shipment = create(session, partner, order_in("CL-1", parcels=parcels))
        transition(session, shipment.id, "hold", actor="t", reason="wet")
        claim = claims.declare_loss(session, shipment.id, kind="lost", reason="gone", currency="VND", evidence_ref=None,
                                    user_id=None, actor="t")
        claims.accept(session, claim, amount=250_000, actor="t")
        session.commit()
        claim_id = claim.id
    _as(client, session, "finance", "money@test.example")
    page = client.get("/console/finance/claims").get_data(as_text=True)
    assert f'id="claim-{claim_id}"' in page and "250,000 VND" in page
    r = client.post(f"/console/finance/claims/{claim_id}/paid", data={"reference": "VCB-1", "csrf_token": csrf_of(page)},
                    follow_redirects=True)
    assert "paid: 250,000 VND" in r.get_data(as_text=True) and "Nothing to pay." in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Claim, claim_id).paid_reference == "VCB-1"
