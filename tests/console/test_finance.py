"""The finance pages: the month's checks name the rows that block with links to them; the
close locks the month; a reversal corrects an entry; the books download; and nobody but
finance and admins reaches any of it."""
from __future__ import annotations

import re
from datetime import datetime, time, timedelta

import time_machine
from sqlalchemy import select

from app import clock
from app.auth.models import AuditEntry
from app.auth.services import create_user
from app.billing import fees, ledger
from app.billing.models import JournalEntry
from app.outbox import OutboxMessage
from tests.auth.conftest import PASSWORD, csrf_of, sign_in
from tests.factories import deliver_direct


def _finance(client, session):
    with client.application.app_context():
        create_user(session, "money@test.example", role="finance", password=PASSWORD)
        session.commit()
    sign_in(client, "money@test.example")


def _next_month(day):
    first = (day.replace(day=1) + timedelta(days=32)).replace(day=2)
    return datetime.combine(first, time(10), clock.network_zone())


def test_finance_closes_a_month_after_clearing_what_blocks(client, users, session, partner, day):
    with client.application.app_context():
        charged = deliver_direct(session, partner, "FIN-1", cod=250_000)
        fees.collect_fees(session, [charged.id])
        uncharged = deliver_direct(session, partner, "FIN-2")
        session.commit()
        uncharged_id = uncharged.id
    _finance(client, session)
    month = ledger.period_of(day)
    home = client.get("/console/finance/").get_data(as_text=True)
    assert f'id="month-{month}"' in home and "current month" in home

    with time_machine.travel(_next_month(day), tick=False):
        client = client.application.test_client()  # days later: the first session has timed out
        sign_in(client, "money@test.example")
        page = client.get(f"/console/finance/periods/{month}").get_data(as_text=True)
        assert 'id="check-shipments_charged" class="error"' in page
        assert f'href="/console/shipments/{uncharged_id}"' in page  # a link to the row that blocks
        assert "2100 COD payable to partners" in page
        r = client.post(f"/console/finance/periods/{month}/close", data={"csrf_token": csrf_of(page)},
                        follow_redirects=True)
        assert "Not closed: " in r.get_data(as_text=True) and "block the close" in r.get_data(as_text=True)

        with client.application.app_context():
            fees.collect_fees(session, [uncharged_id])
            session.execute(OutboxMessage.__table__.update().values(processed_at=clock.now()))
            session.commit()
        page = client.get(f"/console/finance/periods/{month}").get_data(as_text=True)
        assert 'id="check-charges_invoiced" class="error"' in page
        run = client.post("/console/finance/invoices/run", data={"period": month, "csrf_token": csrf_of(page)},
                          follow_redirects=True).get_data(as_text=True)
        assert f"1 invoice issued for {month}" in run
        page = client.get(f"/console/finance/periods/{month}").get_data(as_text=True)
        assert "✘" not in page
        r = client.post(f"/console/finance/periods/{month}/close", data={"csrf_token": csrf_of(page)},
                        follow_redirects=True)
        page = r.get_data(as_text=True)
        assert f"{month} is closed" in page and 'id="close-report"' in page
        assert 'id="reopen"' not in page  # reopening is an admin's
        from tests.billing.test_invoices import _pdf_text

        report = _pdf_text(client.get(f"/console/finance/periods/{month}/close-report.pdf").data)
        assert "MONTH CLOSE" in report and "KHÓA" in report and "2100 COD payable to partners" in report and "money@test.example" in report

        # A correction after the close is dated in the open month.
        entry = session.scalars(select(JournalEntry).where(JournalEntry.rule == "fee_charged")).first()
        page = client.get(f"/console/finance/entries/{entry.id}").get_data(as_text=True)
        assert "4100 Delivery revenue" in page
        r = client.post(f"/console/finance/entries/{entry.id}/reverse",
                        data={"reason": "charged to the wrong partner", "csrf_token": csrf_of(page)},
                        follow_redirects=True)
        assert "Reversed by entry" in r.get_data(as_text=True)
        session.expire_all()
        undo = session.scalars(select(JournalEntry).where(JournalEntry.reverses_id == entry.id)).one()
        assert undo.period == ledger.period_of(clock.today()) != month

        books = client.get(f"/console/finance/periods/{month}/books.beancount")
        assert books.status_code == 200 and "Unbilled-receivables" in books.get_data(as_text=True)
        assert 'filename="waybill-' in books.headers["Content-Disposition"]

    actions = list(session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("%period%")
                                                                   | AuditEntry.action.like("journal%"))
                                  .order_by(AuditEntry.id)))
    assert actions == ["period.closed", "journal_entry.reversed"]
    assert session.scalar(select(AuditEntry.action).where(AuditEntry.action == "invoices.run")) == "invoices.run"


def test_the_ledger_shows_a_partners_lines_with_a_running_balance(client, users, session, partner, day):
    with client.application.app_context():
        for ref in ("FIN-3", "FIN-4"):
            shipment = deliver_direct(session, partner, ref, cod=100_000)
            fees.collect_fees(session, [shipment.id])
        session.commit()
    _finance(client, session)
    page = client.get(f"/console/finance/ledger?party=partner:{partner.id}").get_data(as_text=True)
    assert page.count("COD by cash") == 2 and partner.name in page
    balances = re.findall(r'<td class="num">(-?[\d,]+) VND</td></tr>', page)
    assert balances[-1] != balances[0]  # it runs
    tb = client.get("/console/finance/trial-balance").get_data(as_text=True)
    assert "1100 Cash with drivers" in tb and "200,000 VND" in tb


def test_only_finance_and_admins_reach_the_books(client, users, session):
    for email in ("disp@test.example", "d7@test.example"):
        sign_in(client, email)
        assert client.get("/console/finance/").status_code == 403
        assert client.get("/console/finance/trial-balance").status_code == 403
        assert client.post("/console/finance/periods/2026-01/close").status_code in (400, 403)
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/console/").get_data(as_text=True))})
    assert client.get("/console/finance/").status_code in (302, 401)
    sign_in(client, "admin@test.example")
    assert client.get("/console/finance/").status_code == 200
    assert client.get("/console/finance/periods/2026-13").status_code == 404
