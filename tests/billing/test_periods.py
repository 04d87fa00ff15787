"""Closing a month: the checks say what blocks, with the rows; a closed month takes no
entry (the database refuses it on both backends); reopening is an admin's, with a reason."""
from __future__ import annotations

import json
import threading
from datetime import datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from app import clock
from app.billing import cash, fees, invoices, ledger, periods
from app.billing.ledger import Line
from app.billing.models import AccountingPeriod, CashHandover, CodCollection
from app.delivery.models import Driver
from app.outbox import OutboxMessage
from tests.factories import deliver_direct


def _next_month(day):
    """Noon on the 2nd of the month after ``day``, in the network's zone."""
    first = (day.replace(day=1) + timedelta(days=32)).replace(day=2)
    return datetime.combine(first, time(12), clock.network_zone())


def _fee(session, day, source_id, amount=30_000):
    return ledger.post(session, rule="fee_charged", source_type="test", source_id=source_id, entry_date=day,
                       lines=[Line("1300", amount, "VND", ("partner", 1)), Line("4100", -amount, "VND")])


def _blocking(result):
    return {c.name: c for c in result.checks if not c.ok}


def test_a_month_closes_when_nothing_blocks_and_then_takes_no_entry(session, day):
    _fee(session, day, 1)
    session.commit()
    month = ledger.period_of(day)
    early = periods.close(session, month, user_id=None)
    assert not early.closed and set(_blocking(early)) == {"month_over"}
    session.rollback()
    with time_machine.travel(_next_month(day), tick=False):
        done = periods.close(session, month, user_id=None)
        session.commit()
        assert done.closed and done.trial_balance == {"1300 VND": 30_000, "4100 VND": -30_000}
        row = session.get(AccountingPeriod, month)
        assert row.closed_at is not None and row.close_report["closed"] is True
        json.dumps(row.close_report)  # kept as the report shows it
        with pytest.raises(DBAPIError, match="closed"):
            _fee(session, day, 2)
        session.rollback()
        # A correction goes to the open month.
        late = _fee(session, clock.today(), 3)
        session.commit()
        assert late.period == ledger.period_of(clock.today())
        with pytest.raises(periods.PeriodError, match="already closed"):
            periods.close(session, month, user_id=None)
        session.rollback()


def test_the_checks_name_the_rows_that_block(session, partner, day):
    """An uncharged delivery and an uncounted handover block, each named with its row."""
    charged = deliver_direct(session, partner, "CL-1", cod=250_000)
    fees.collect_fees(session, [charged.id])
    uncharged = deliver_direct(session, partner, "CL-2")
    session.commit()
    driver = session.get(Driver, session.scalars(select(CodCollection.driver_id)).one())
    handover = cash.declare(session, driver, day, clock.network_zone(), "VND", 250_000)
    session.commit()
    with time_machine.travel(_next_month(day), tick=False):
        result = periods.close(session, ledger.period_of(day), user_id=None)
        session.rollback()
        blocking = _blocking(result)
        assert set(blocking) == {"shipments_charged", "charges_invoiced", "handovers_counted", "outbox_done"}
        assert blocking["charges_invoiced"].rows == [("partner", partner.id, "1 charge in VND not invoiced")]
        assert blocking["shipments_charged"].rows == [("shipment", uncharged.id, "delivered, no delivery fee")]
        assert blocking["handovers_counted"].rows[0][:2] == ("cash_handover", handover.id)
        assert blocking["outbox_done"].count >= 1  # the uncharged delivery's job is still waiting

        fees.collect_fees(session, [uncharged.id])
        cash.confirm(session, handover.id, 250_000, user_id=None, hub_id=None)
        session.execute(OutboxMessage.__table__.update().values(processed_at=clock.now()))
        invoices.run(session, ledger.period_of(day))  # its e-mails are next month's work
        session.commit()
        assert periods.close(session, ledger.period_of(day), user_id=None).closed
        session.commit()
    assert session.scalars(select(CashHandover.received_amount)).one() == 250_000


def test_months_close_in_order_and_reopen_in_reverse_with_a_reason(session, day):
    month = ledger.period_of(day)
    before = periods.previous(month)
    start, _ = periods.bounds(before)
    _fee(session, start, 1)
    _fee(session, day, 2)
    session.commit()
    with time_machine.travel(_next_month(day), tick=False):
        blocked = periods.close(session, month, user_id=None)
        session.rollback()
        assert _blocking(blocked)["earlier_closed"].rows == [("period", before, f"close {before} first")]
        assert periods.close(session, before, user_id=None).closed
        assert periods.close(session, month, user_id=None).closed
        session.commit()
        with pytest.raises(periods.PeriodError, match="say why"):
            periods.reopen(session, month, reason=" ")
        with pytest.raises(periods.PeriodError, match=f"reopen {month} first"):
            periods.reopen(session, before, reason="a late invoice")
        row = periods.reopen(session, month, reason="a fee was missed")
        session.commit()
        assert row.closed_at is None and row.reopen_reason == "a fee was missed"
        _fee(session, day, 3)  # open again: it takes entries
        session.commit()
    assert [p.period for p in periods.all_periods(session)][:2] == [month, before]


@pytest.mark.parametrize("bad", ["2026-13", "26-01", "", "2026-1"])
def test_a_period_is_a_month(session, bad):
    with pytest.raises(periods.PeriodError, match="YYYY-MM"):
        periods.checks(session, bad)


def test_a_posting_in_flight_finishes_before_the_close_and_one_after_is_refused(app, session, day, backend):
    """PostgreSQL: the close waits for an entry being posted in the month (its trigger
    holds the period's row FOR SHARE), and an entry posted after the close is refused."""
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    from app.db import db

    month = ledger.period_of(day)
    _fee(session, day, 1)
    session.commit()
    # Another connection posts in the month and holds its transaction open.
    engine = db.engine
    holder = engine.connect()
    holder.execute(text("INSERT INTO journal_entries (entry_date, period, source_type, source_id, rule, memo, actor, "
                        "created_at) VALUES (:d, :p, 'test', 'held', 'r', '', '', now())"), {"d": day, "p": month})
    closed = {}

    def close():
        with app.app_context(), time_machine.travel(_next_month(day), tick=True):
            try:
                closed["result"] = periods.close(db.session, month, user_id=None)
                db.session.commit()
            finally:
                db.session.remove()

    worker = threading.Thread(target=close)
    worker.start()
    worker.join(1.0)
    assert worker.is_alive()  # waiting for the posting in flight
    holder.rollback()
    holder.close()
    worker.join(10)
    assert closed["result"].closed
    session.rollback()
    with pytest.raises(DBAPIError, match="closed"):
        _fee(session, day, 2)
    session.rollback()


def _all_lines(session, until=None):
    """The balances summed from every line, the slow way."""
    from sqlalchemy import func

    from app.billing.models import JournalLine

    stmt = select(JournalLine.account, JournalLine.currency, func.sum(JournalLine.amount)).group_by(
        JournalLine.account, JournalLine.currency)
    if until is not None:
        stmt = stmt.where(JournalLine.entry_date <= until)
    return {(a, c): int(t) for a, c, t in session.execute(stmt) if t}


def test_balances_kept_at_the_close_give_the_same_books_and_go_when_reopened(session, day):
    from app.billing.models import PeriodBalance

    month = ledger.period_of(day)
    first, _ = periods.bounds(month)
    _fee(session, first, 1, amount=10_000)
    _fee(session, day, 2, amount=20_000)
    session.commit()
    with time_machine.travel(_next_month(day), tick=False):
        assert periods.close(session, month, user_id=None).closed
        session.commit()
        kept = {(b.account, b.currency, b.party_id): b.balance for b in session.scalars(select(PeriodBalance))}
        assert kept == {("1300", "VND", 1): 30_000, ("4100", "VND", None): -30_000}
        _fee(session, clock.today(), 3, amount=5_000)  # the open month
        session.commit()
        nonzero = {k: v for k, v in ledger.trial_balance(session).items() if v}
        assert nonzero == _all_lines(session) == {("1300", "VND"): 35_000, ("4100", "VND"): -35_000}
        assert ledger.trial_balance(session, until=day) == {("1300", "VND"): 30_000, ("4100", "VND"): -30_000}
        assert ledger.balance(session, "1300", "VND", party=("partner", 1)) == 35_000
        assert ledger.opening_balances(session, party=("partner", 1), before=clock.today()) == {("1300", "VND"): 30_000}
        periods.reopen(session, month, reason="a late fee")
        session.commit()
        assert session.scalar(select(PeriodBalance.id)) is None
        assert {k: v for k, v in ledger.trial_balance(session).items() if v} == _all_lines(session)
