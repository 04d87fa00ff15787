"""The books in formats accountants open: a CSV of every journal line of a month, and a
Beancount file (which Fava reads) holding the balances the month opened with and the
month's entries. Written from sealed entries only; amounts in major units there, since
both formats count in them."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.billing.ledger import CHART
from app.billing.models import JournalEntry, JournalLine
from app.billing.money import EXPONENTS
from app.billing.periods import bounds

#: Beancount's five roots, by the chart's account kinds.
ROOTS = {"asset": "Assets", "liability": "Liabilities", "income": "Income", "contra-income": "Income",
         "expense": "Expenses"}
OPENING = "Equity:Opening-Balances"


def major(amount: int, currency: str) -> Decimal:
    return Decimal(amount).scaleb(-EXPONENTS[currency])


def beancount_account(code: str, party_type: str | None = None, party_id: int | None = None) -> str:
    """1300 for partner 4 -> ``Assets:1300-Receivable-from-partners:Partner-4``."""
    account = CHART[code]
    name = re.sub(r"[^A-Za-z0-9]+", "-", account.name).strip("-")
    parts = [ROOTS[account.kind], f"{code}-{name}"]
    if party_type:
        parts.append(f"{party_type.capitalize()}-{party_id}")
    return ":".join(parts)


def _lines(session: Session, period: str) -> Iterator:
    stmt = (select(JournalEntry.id, JournalEntry.entry_date, JournalEntry.rule, JournalEntry.source_type,
                   JournalEntry.source_id, JournalEntry.memo, JournalEntry.reverses_id, JournalLine.account,
                   JournalLine.party_type, JournalLine.party_id, JournalLine.amount, JournalLine.currency)
            .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
            .where(JournalEntry.period == period, JournalEntry.sealed_at.is_not(None))
            .order_by(JournalEntry.entry_date, JournalEntry.id, JournalLine.id))
    return session.execute(stmt.execution_options(yield_per=5000))


CSV_HEADER = ["entry", "date", "rule", "source_type", "source_id", "memo", "reverses", "account", "account_name",
              "party_type", "party_id", "debit", "credit", "currency"]


def ledger_csv(session: Session, period: str) -> Iterator[str]:
    """The month's journal lines, one CSV row each (debit and credit in major units)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for n, row in enumerate(_lines(session, period)):
        value = major(abs(row.amount), row.currency)
        writer.writerow([row.id, row.entry_date.isoformat(), row.rule, row.source_type, row.source_id, row.memo,
                         row.reverses_id or "", row.account, CHART[row.account].name, row.party_type or "",
                         row.party_id or "", value if row.amount > 0 else "", value if row.amount < 0 else "",
                         row.currency])
        if n % 1000 == 999:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    yield out.getvalue()


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def beancount(session: Session, period: str, *, title: str = "Waybill") -> Iterator[str]:
    """A Beancount file for the month: the accounts, the balances the month opened with
    (against Equity:Opening-Balances), then every entry with its source as metadata."""
    start, end = bounds(period)
    opening_rows = session.execute(
        select(JournalLine.account, JournalLine.party_type, JournalLine.party_id, JournalLine.currency,
               func.sum(JournalLine.amount))
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.entry_date < start, JournalEntry.sealed_at.is_not(None))
        .group_by(JournalLine.account, JournalLine.party_type, JournalLine.party_id, JournalLine.currency)).all()
    used = session.execute(
        select(JournalLine.account, JournalLine.party_type, JournalLine.party_id).distinct()
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.entry_date < end, JournalEntry.sealed_at.is_not(None))).all()
    opened = sorted({beancount_account(*row) for row in used} | {OPENING})
    first = start - timedelta(days=1)
    yield f"option \"title\" {_quote(f'{title} {period}')}\n"
    for currency in sorted({row.currency for row in opening_rows} | {"VND"}):
        yield f"option \"operating_currency\" \"{currency}\"\n"
    yield "\n"
    for account in opened:
        yield f"{first.isoformat()} open {account}\n"
    opening = [(beancount_account(a, pt, pid), c, int(total)) for a, pt, pid, c, total in opening_rows if total]
    if opening:
        yield f"\n{first.isoformat()} * \"Waybill\" \"Balances brought forward to {period}\"\n"
        per_currency: dict[str, int] = {}
        for account, currency, total in sorted(opening):
            yield f"  {account}  {major(total, currency)} {currency}\n"
            per_currency[currency] = per_currency.get(currency, 0) + total
        for currency, total in sorted(per_currency.items()):
            if total:  # the books balance, so this stays empty unless they did not
                yield f"  {OPENING}  {major(-total, currency)} {currency}\n"
    current = None
    for row in _lines(session, period):
        if row.id != current:
            current = row.id
            yield (f"\n{row.entry_date.isoformat()} * \"Waybill\" {_quote(row.memo or row.rule)}\n"
                   f"  entry: \"{row.id}\"\n  rule: \"{row.rule}\"\n"
                   f"  source: {_quote(f'{row.source_type}:{row.source_id}')}\n")
        yield (f"  {beancount_account(row.account, row.party_type, row.party_id)}  "
               f"{major(row.amount, row.currency)} {row.currency}\n")
