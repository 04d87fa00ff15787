"""The books leave Waybill in formats accountants open: the Beancount file loads in
Beancount with no error and the same balances; the CSV has every line of the month; the
close runs from the command line and says what blocks it."""
from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal

import time_machine
from beancount import loader
from beancount.core.data import Transaction

from app import clock
from app.billing import exports, fees, ledger
from app.billing.ledger import Line
from tests.factories import deliver_direct


def _books(session, partner, day):
    """Last month: a fee in USD. This month: a delivery with COD and its fee, a reversal."""
    last_month = day.replace(day=1) - timedelta(days=1)
    ledger.post(session, rule="fee_charged", source_type="test", source_id="usd", entry_date=last_month,
                lines=[Line("1300", 1234, "USD", ("partner", partner.id)), Line("4100", -1234, "USD")])
    shipment = deliver_direct(session, partner, "EX-1", cod=250_000)
    fees.collect_fees(session, [shipment.id])
    wrong = ledger.post(session, rule="fee_charged", source_type="test", source_id="wrong", entry_date=day,
                        lines=[Line("1300", 5_000, "VND", ("partner", partner.id)), Line("4300", -5_000, "VND")])
    ledger.reverse(session, wrong.id, entry_date=day, actor="user:1", reason="charged by mistake")
    session.commit()


def _expected(session, until) -> dict[tuple[str, str], Decimal]:
    """Account (as Beancount names it) and currency -> balance, from the ledger."""
    from sqlalchemy import func, select

    from app.billing.models import JournalEntry, JournalLine

    rows = session.execute(
        select(JournalLine.account, JournalLine.party_type, JournalLine.party_id, JournalLine.currency,
               func.sum(JournalLine.amount)).join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.entry_date <= until)
        .group_by(JournalLine.account, JournalLine.party_type, JournalLine.party_id, JournalLine.currency))
    return {(exports.beancount_account(a, pt, pid), c): exports.major(int(t), c)
            for a, pt, pid, c, t in rows if t}


def test_the_beancount_file_loads_with_the_ledgers_balances(session, partner, day):
    _books(session, partner, day)
    text = "".join(exports.beancount(session, ledger.period_of(day)))
    entries, errors, _ = loader.load_string(text)
    assert errors == []
    balances: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for entry in entries:
        if isinstance(entry, Transaction):
            for posting in entry.postings:
                balances[(posting.account, posting.units.currency)] += posting.units.number
    assert {k: v for k, v in balances.items() if v} == _expected(session, day)
    assert balances[(f"Assets:1300-Receivable-from-partners:Partner-{partner.id}", "USD")] == Decimal("12.34")
    assert 'rule: "reversal"' in text and "charged by mistake" in text


def test_the_csv_has_every_line_of_the_month_debits_and_credits_apart(session, partner, day):
    _books(session, partner, day)
    rows = list(csv.DictReader(io.StringIO("".join(exports.ledger_csv(session, ledger.period_of(day))))))
    assert {r["currency"] for r in rows} == {"VND"}  # last month's USD fee is not this month's
    debits = sum(Decimal(r["debit"] or 0) for r in rows)
    credits = sum(Decimal(r["credit"] or 0) for r in rows)
    assert debits == credits > 0
    assert {r["rule"] for r in rows} == {"fee_charged", "cod_collected", "reversal"}
    cod = [r for r in rows if r["rule"] == "cod_collected" and r["account"] == "2100"]
    assert cod[0]["credit"] == "250000" and cod[0]["party_type"] == "partner"


def test_the_close_command_prints_its_checks_and_fails_while_one_blocks(app, session, partner, day):
    _books(session, partner, day)
    runner = app.test_cli_runner()
    month = ledger.period_of(day)
    early = runner.invoke(args=["billing", "close", "--period", month])
    assert early.exit_code == 1
    report = json.loads(early.output)
    assert report["closed"] is False
    assert {c["name"] for c in report["checks"] if not c["ok"]} >= {"month_over"}
    assert runner.invoke(args=["billing", "close", "--period", "2026-13"]).exit_code != 0

    last_month = ledger.period_of(day.replace(day=1) - timedelta(days=1))
    from app.outbox import OutboxMessage

    session.execute(OutboxMessage.__table__.update().values(processed_at=clock.now()))
    session.commit()
    next_month = datetime.combine((day.replace(day=1) + timedelta(days=32)).replace(day=2), time(9),
                                  clock.network_zone())
    with time_machine.travel(next_month, tick=False):
        blocked = json.loads(runner.invoke(args=["billing", "close", "--period", month]).output)
        assert {c["name"] for c in blocked["checks"] if not c["ok"]} == {"earlier_closed", "charges_invoiced"}
        invoiced = runner.invoke(args=["billing", "invoice", "--period", month])
        assert invoiced.exit_code == 0 and json.loads(invoiced.output)["invoices"][0]["number"].startswith("INV-")
        blocked = runner.invoke(args=["billing", "close", "--period", month])
        assert blocked.exit_code == 1 and f"close {last_month} first" in blocked.output
        assert runner.invoke(args=["billing", "close", "--period", last_month]).exit_code == 0
        done = runner.invoke(args=["billing", "close", "--period", month])
        assert done.exit_code == 0, done.output
        assert json.loads(done.output)["trial_balance"]["2100 VND"] == -250_000
        exported = runner.invoke(args=["billing", "export", "--period", month, "--format", "csv"])
        assert exported.exit_code == 0 and exported.output.startswith("entry,date,rule")
        reopened = runner.invoke(args=["billing", "reopen", "--period", month, "--reason", "late fee"])
        assert reopened.exit_code == 0
    from sqlalchemy import select

    from app.auth.models import AuditEntry

    assert list(session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "period")
                                .order_by(AuditEntry.id))) == ["period.closed", "period.closed", "period.reopened"]
