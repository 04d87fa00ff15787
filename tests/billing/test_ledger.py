"""The ledger's core: balanced entries posted once, append-only, checked by the code and
again by the database (on SQLite and PostgreSQL)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, insert, update
from sqlalchemy.exc import DBAPIError

from app import clock
from app.billing import ledger
from app.billing.ledger import LedgerError, Line
from app.billing.models import JournalEntry, JournalLine


def fee(amount=30_000, vat=3_000, partner=1):
    """A fee charged to a partner: receivable against revenue and VAT."""
    return [Line("1300", amount + vat, "VND", ("partner", partner)), Line("4100", -amount, "VND"),
            Line("2200", -vat, "VND")]


def test_a_balanced_entry_is_posted_once_per_source_and_rule(session, day):
    first = ledger.post(session, rule="fee_charged", source_type="charge", source_id=7, entry_date=day,
                        lines=fee(), actor="system:test")
    again = ledger.post(session, rule="fee_charged", source_type="charge", source_id=7, entry_date=day,
                        lines=fee(amount=99_000), actor="system:test")
    session.commit()
    assert again.id == first.id and first.sealed_at is not None and first.period == f"{day:%Y-%m}"
    assert [(line.account, line.amount) for line in ledger.lines_of(session, first.id)] == [
        ("1300", 33_000), ("4100", -30_000), ("2200", -3_000)]
    assert ledger.balance(session, "1300", "VND", party=("partner", 1)) == 33_000
    assert sum(ledger.trial_balance(session).values()) == 0


@pytest.mark.parametrize("lines, why", [
    ([Line("1300", 100, "VND", ("partner", 1)), Line("4100", -90, "VND")], "balance"),
    ([Line("1300", 100, "VND", ("partner", 1)), Line("4100", -100, "USD")], "balance"),
    ([Line("1300", 100, "VND"), Line("4100", -100, "VND")], "kept per partner"),
    ([Line("4100", 100, "VND", ("partner", 1)), Line("1200", -100, "VND")], "kept per nobody"),
    ([Line("9999", 100, "VND"), Line("4100", -100, "VND")], "no account"),
    ([Line("1200", 100, "XXQ"), Line("4100", -100, "XXQ")], "currency"),
    ([Line("1200", 0, "VND"), Line("4100", 0, "VND")], "non-zero"),
    ([Line("1200", 1.5, "VND"), Line("4100", -1.5, "VND")], "whole number"),
    ([Line("1200", 100, "VND")], "two lines"),
])
def test_the_code_refuses_what_cannot_be_posted_and_writes_nothing(session, day, lines, why):
    with pytest.raises(LedgerError, match=why):
        ledger.post(session, rule="r", source_type="t", source_id=1, entry_date=day, lines=lines)
    assert ledger.trial_balance(session) == {}


def test_the_database_refuses_an_unbalanced_entry_even_without_the_code(session, day):
    entry = JournalEntry(entry_date=day, period=ledger.period_of(day), source_type="t", source_id="1", rule="r")
    session.add(entry)
    session.flush()
    session.execute(insert(JournalLine), [
        {"entry_id": entry.id, "account": "1200", "amount": 100, "currency": "VND"},
        {"entry_id": entry.id, "account": "4100", "amount": -90, "currency": "VND"}])
    with pytest.raises(DBAPIError, match="balance"):
        session.execute(update(JournalEntry).where(JournalEntry.id == entry.id).values(sealed_at=clock.now()))
    session.rollback()


@pytest.mark.parametrize("change", ["add a line", "change a line", "delete a line", "change the entry",
                                    "delete the entry"])
def test_a_posted_entry_cannot_be_changed_in_the_database(session, day, change):
    entry = ledger.post(session, rule="fee_charged", source_type="charge", source_id=1, entry_date=day, lines=fee())
    session.commit()
    statements = {
        "add a line": insert(JournalLine).values(entry_id=entry.id, account="1200", amount=1, currency="VND"),
        "change a line": update(JournalLine).where(JournalLine.entry_id == entry.id).values(amount=0),
        "delete a line": delete(JournalLine).where(JournalLine.entry_id == entry.id),
        "change the entry": update(JournalEntry).where(JournalEntry.id == entry.id).values(memo="edited"),
        "delete the entry": delete(JournalEntry).where(JournalEntry.id == entry.id),
    }
    with pytest.raises(DBAPIError, match="append-only"):
        session.execute(statements[change])
    session.rollback()
    assert ledger.balance(session, "1300", "VND") == 33_000


def test_a_correction_is_a_reversing_entry_and_the_original_stays(session, day):
    later = day + timedelta(days=1)
    entry = ledger.post(session, rule="fee_charged", source_type="charge", source_id=3, entry_date=day, lines=fee())
    with pytest.raises(LedgerError, match="reason"):
        ledger.reverse(session, entry.id, entry_date=later, actor="user:1", reason=" ")
    undo = ledger.reverse(session, entry.id, entry_date=later, actor="user:1", reason="charged twice")
    again = ledger.reverse(session, entry.id, entry_date=later, actor="user:1", reason="charged twice")
    session.commit()
    assert again.id == undo.id and undo.reverses_id == entry.id and undo.period == ledger.period_of(later)
    assert ledger.trial_balance(session) == {("1300", "VND"): 0, ("4100", "VND"): 0, ("2200", "VND"): 0}
    assert ledger.trial_balance(session, until=day)[("1300", "VND")] == 33_000  # the day as it was
    with pytest.raises(LedgerError, match="not reversed"):
        ledger.reverse(session, undo.id, entry_date=later, actor="user:1", reason="oops")


ACCOUNTS = list(ledger.CHART)


@st.composite
def entries(draw):
    """A balanced entry of 2–5 lines in one or two currencies, on any accounts."""
    lines = []
    for currency in draw(st.sets(st.sampled_from(["VND", "USD"]), min_size=1, max_size=2)):
        amounts = draw(st.lists(st.integers(-10**12, 10**12).filter(bool), min_size=1, max_size=3))
        closing = -sum(amounts)
        if closing == 0:
            amounts[0] += 1
            closing = -1
        for amount in amounts + [closing]:
            code = draw(st.sampled_from(ACCOUNTS))
            kind = ledger.CHART[code].party
            lines.append(Line(code, amount, currency, (kind, draw(st.integers(1, 3))) if kind else None))
    return lines


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(entries(), min_size=1, max_size=6))
def test_any_sequence_of_balanced_entries_keeps_the_trial_balance_at_zero(session, day, batch):
    for i, lines in enumerate(batch):
        ledger.post(session, rule="any", source_type="hypothesis", source_id=i, entry_date=day, lines=lines)
    by_currency: dict[str, int] = {}
    for (_, currency), total in ledger.trial_balance(session).items():
        by_currency[currency] = by_currency.get(currency, 0) + total
    assert by_currency and set(by_currency.values()) == {0}
    session.rollback()
