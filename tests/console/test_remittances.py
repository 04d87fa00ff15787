"""Finance moves COD on in the console: the hub's cash to the bank on a slip, the day's
remittance run, the payout file, "paid" with the bank's reference; drivers' shortages and
the providers' balances settled; the partner's webhook hears remittance.paid."""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime, time, timedelta

import time_machine
from sqlalchemy import select

from app import clock
from app.auth.models import AuditEntry
from app.billing import cash, fees
from app.billing.models import CashDeposit, CodCollection, Remittance
from app.delivery.models import Driver
from app.webhooks.models import WebhookDelivery
from tests.auth.conftest import csrf_of, sign_in
from tests.console.test_finance import _finance
from tests.factories import deliver_direct


def _collected(client, session, partner, day, *, short=False):
    with client.application.app_context():
        shipment = deliver_direct(session, partner, "CR-1", cod=250_000)
        fees.collect_fees(session, [shipment.id])
        driver = session.get(Driver, session.scalars(select(CodCollection.driver_id)).one())
        handover = cash.declare(session, driver, day, clock.network_zone(), "VND", 250_000)
        cash.confirm(session, handover.id, 240_000 if short else 250_000, user_id=None, hub_id=None,
                     note="short" if short else None)
        session.commit()
        return handover.hub_id, driver.id


def test_cash_is_deposited_and_cod_remitted_then_paid(client, users, session, partner, day):
    from app.webhooks import services as webhooks

    with client.application.app_context():
        client.application.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
        webhooks.create_endpoint(session, partner, url="http://127.0.0.1:9/hook", event_types=["remittance.paid"],
                                 allow_private=True)
        partner.bank_account, partner.net_cod_against_invoices = "VCB 0071000123456", False
        session.commit()
    hub_id, _ = _collected(client, session, partner, day)
    _finance(client, session)
    page = client.get("/console/finance/deposits").get_data(as_text=True)
    assert "250,000 VND" in page
    slip = client.post("/console/finance/deposits", data={
        "hub_id": hub_id, "currency": "VND", "bank_reference": "VCB-SLIP-9", "deposited_on": day.isoformat(),
        "csrf_token": csrf_of(page)}, follow_redirects=True).get_data(as_text=True)
    assert "Deposited 250,000 VND" in slip and re.search(r'id="slip-total">250,000 VND<', slip)
    assert session.scalars(select(CashDeposit.bank_reference)).one() == "VCB-SLIP-9"

    with time_machine.travel(datetime.combine(day + timedelta(days=2), time(10), clock.network_zone()), tick=False):
        client = client.application.test_client()  # two days on: a new sign-in
        sign_in(client, "money@test.example")
        page = client.get("/console/finance/remittances").get_data(as_text=True)
        done = client.post("/console/finance/remittances/run", data={"csrf_token": csrf_of(page)},
                           follow_redirects=True).get_data(as_text=True)
        assert "1 remittance approved: 1 shipments" in done
        remittance = session.scalars(select(Remittance)).one()
        payout = list(csv.DictReader(io.StringIO(client.get("/console/finance/remittances/payout.csv")
                                                 .get_data(as_text=True))))
        assert payout == [{"remittance": remittance.number, "beneficiary": partner.legal_name or partner.name,
                           "account": "VCB 0071000123456", "amount": "250000", "currency": "VND",
                           "description": f"Waybill COD {remittance.number}"}]
        page = client.get(f"/console/finance/remittances/{remittance.id}").get_data(as_text=True)
        paid = client.post(f"/console/finance/remittances/{remittance.id}/paid",
                           data={"bank_reference": "VCB-OUT-1", "csrf_token": csrf_of(page)},
                           follow_redirects=True).get_data(as_text=True)
        assert 'id="remittance-status">paid<' in paid
        assert client.get("/console/finance/remittances/payout.csv").get_data(as_text=True).count("\n") == 1
        with client.application.app_context():
            from workers.jobs import run_pending

            run_pending()
    session.rollback()
    [delivery] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_type == "remittance.paid"))
    assert delivery.payload["data"]["number"] == remittance.number
    assert delivery.payload["data"]["payout"] == {"amount": 250_000, "currency": "VND"}
    actions = set(session.scalars(select(AuditEntry.action)))
    assert {"cash.deposited", "remittances.run", "remittance.paid"} <= actions


def test_a_drivers_shortage_is_settled_from_the_balances_page(client, users, session, partner, day):
    _, driver_id = _collected(client, session, partner, day, short=True)
    _finance(client, session)
    page = client.get("/console/finance/balances").get_data(as_text=True)
    assert "10,000 VND" in page
    too_much = client.post(f"/console/finance/balances/drivers/{driver_id}", data={
        "amount": "20,000", "currency": "VND", "how": "repaid", "note": "paid back", "csrf_token": csrf_of(page)},
        follow_redirects=True).get_data(as_text=True)
    assert "Not settled: the driver owes 10,000 VND" in too_much
    done = client.post(f"/console/finance/balances/drivers/{driver_id}", data={
        "amount": "10,000", "currency": "VND", "how": "repaid", "note": "kept from pay", "csrf_token": csrf_of(page)},
        follow_redirects=True).get_data(as_text=True)
    assert "Settled 10,000 VND (repaid)" in done and "No driver owes anything" in done
