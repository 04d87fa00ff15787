"""A partner's engineer fetches its invoices (with the PDF and CSV), remittances and a
statement of account through the API; charges show on the order; nothing of another
partner's is reachable."""
from __future__ import annotations

from datetime import datetime, time, timedelta

import time_machine
from sqlalchemy import select

from app import clock
from app.billing import fees, invoices, ledger, remittances
from app.billing.models import Invoice, Remittance
from app.crm.models import Partner
from tests.billing.test_invoices import _pdf_text
from tests.factories import deliver_direct


def auth(key):
    return {"Authorization": f"Bearer {key}"}


def _month(session, partner, day):
    """A delivered month: two COD deliveries charged, invoiced next month, COD remitted
    and paid."""
    shipments = []
    for i in range(2):
        s = deliver_direct(session, partner, f"AF-{i}", cod=250_000)
        fees.collect_fees(session, [s.id])
        shipments.append(s.id)
    session.commit()
    first = (day.replace(day=1) + timedelta(days=32)).replace(day=3)  # the month over, its COD due (T+2)
    with time_machine.travel(datetime.combine(first, time(9), clock.network_zone()), tick=False):
        invoices.run(session, ledger.period_of(day))
        [r] = remittances.run(session).remittances
        remittances.mark_paid(session, r.id, bank_reference="VCB-1", user_id=None)
        session.commit()
    return shipments


def test_invoices_remittances_and_the_statement_through_the_api(client, keys, session, network, day):
    partner = session.get(Partner, network["partners"][0]["id"])
    shipments = _month(session, partner, day)
    invoice = session.scalars(select(Invoice)).one()
    r = client.get("/api/v1/invoices", headers=auth(keys[0]))
    assert r.status_code == 200
    [listed] = r.get_json()
    assert listed["number"] == invoice.number and listed["total"] == {"amount": invoice.total_amount,
                                                                       "currency": "VND"}
    assert listed["status"] == "paid" and "lines" not in listed  # netted from the COD
    one = client.get(f"/api/v1/invoices/{invoice.id}", headers=auth(keys[0])).get_json()
    assert sum(line["amount"]["amount"] for line in one["lines"]) + one["vat"]["amount"] == one["total"]["amount"]
    pdf = client.get(f"/api/v1/invoices/{invoice.id}/pdf", headers=auth(keys[0]))
    assert pdf.mimetype == "application/pdf" and invoice.number in _pdf_text(pdf.data)
    rows = client.get(f"/api/v1/invoices/{invoice.id}/csv", headers=auth(keys[0])).get_data(as_text=True)
    assert len(rows.strip().splitlines()) == 3

    # The demo's Saigon Books agreed to have its invoices netted from its COD.
    remittance = session.scalars(select(Remittance)).one()
    [rem] = client.get("/api/v1/remittances", headers=auth(keys[0])).get_json()
    assert rem["status"] == "paid" and rem["cod"]["amount"] == 500_000 and rem["shipments"] == 2
    assert rem["netted"]["amount"] == invoice.total_amount
    assert rem["payout"]["amount"] == 500_000 - invoice.total_amount
    detail = client.get(f"/api/v1/remittances/{remittance.id}", headers=auth(keys[0])).get_json()
    assert detail["netted_invoices"] == [{"number": invoice.number, "amount": listed["total"]}]
    assert detail["bank_reference"] == "VCB-1"
    assert client.get(f"/api/v1/remittances/{remittance.id}/csv", headers=auth(keys[0])).status_code == 200
    statement_pdf = _pdf_text(client.get(f"/api/v1/remittances/{remittance.id}/pdf", headers=auth(keys[0])).data)
    flat = "".join(statement_pdf.split())  # the PDF's lines wrap where they will
    assert remittance.number in flat and "ĐỐISOÁT" in flat
    assert f"{remittance.payout_amount:,} VND" in statement_pdf and invoice.number in statement_pdf  # netted

    start = day.replace(day=1)
    with time_machine.travel(datetime.combine(start + timedelta(days=40), time(9), clock.network_zone()),
                             tick=False):
        st = client.get(f"/api/v1/statement?from={start}", headers=auth(keys[0])).get_json()
    whats = [line["what"] for line in st["lines"]]
    # (The netting moves money between the two sides of the account: no line of its own.)
    assert whats == ["COD collected", "Invoice", "COD remitted"]
    assert st["closing"]["amount"] == 0  # the invoice netted, the rest of the COD paid out
    assert st["lines"][-1]["balance"] == st["closing"]

    order = client.get(f"/api/v1/orders/{_order_of(session, shipments[0])}", headers=auth(keys[0])).get_json()
    [charge] = order["charges"]
    assert charge["kind"] == "delivery_fee" and charge["invoice"] == invoice.number
    assert {line["code"] for line in charge["lines"]} >= {"freight", "cod_fee"}


def _order_of(session, shipment_id):
    from app.orders.models import Shipment

    return session.get(Shipment, shipment_id).order_id


def test_another_partners_documents_are_not_found(client, keys, session, network, day):
    partner = session.get(Partner, network["partners"][0]["id"])
    _month(session, partner, day)
    invoice = session.scalars(select(Invoice)).one()
    remittance = session.scalars(select(Remittance)).one()
    from tests.api.test_isolation import FINANCE

    for _, rule in sorted(FINANCE):
        path = rule.replace("<id:invoice_id>", str(invoice.id)).replace("<id:remittance_id>", str(remittance.id))
        r = client.get(path, headers=auth(keys[1]))
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found", path
        assert client.get(path, headers=auth(keys[0])).status_code == 200, path
    assert client.get("/api/v1/invoices", headers=auth(keys[1])).get_json() == []
    assert client.get("/api/v1/invoices").status_code == 401


def test_a_statement_with_bad_days_is_refused_with_the_field(client, keys):
    r = client.get("/api/v1/statement?from=2026-05-01&to=2026-04-01", headers=auth(keys[0]))
    assert r.status_code == 422 and "from" in str(r.get_json()["error"]["details"])
    r = client.get("/api/v1/statement?from=2020-01-01&to=2026-04-01", headers=auth(keys[0]))
    assert r.status_code == 422 and "at most 366 days" in r.get_json()["error"]["message"]
    r = client.get("/api/v1/statement?from=yesterday", headers=auth(keys[0]))
    assert r.status_code == 422
