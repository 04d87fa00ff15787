"""The general ledger: double-entry, append-only, in integer minor units.

A journal entry holds lines (account, party, signed amount: debit +, credit -, currency)
that sum to zero per currency. ``post`` checks that in code; the database checks it again
on both backends with plain triggers: lines go into an unsealed entry, and sealing it
(which ``post`` does in the same flush) is refused unless every currency sums to zero.
Lines of a sealed entry cannot be added, changed or deleted, nor can a sealed entry.
A correction is a reversing entry (``reverse``). Each entry names its source and posting
rule, and the pair is unique: an event posted twice posts once.

The posting rules (``billing.posting``) turn business events into entries; a closed
period (``billing.periods``) takes none, which the database enforces too.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.billing.models import UNBALANCED, JournalEntry, JournalLine, PeriodBalance
from app.billing.money import CurrencyError, check_currency


@dataclass(frozen=True)
class Account:
    code: str
    name: str
    #: asset, liability, income, contra-income, expense
    kind: str
    #: The kind of party each line on it names (partner, driver, hub, provider), or None.
    party: str | None = None


#: The chart of accounts (DESIGN.md "Money"): a party is a column of the line, not an
#: account per party.
CHART = {a.code: a for a in (
    Account("1100", "Cash with drivers", "asset", "driver"),
    Account("1110", "Cash at hubs", "asset", "hub"),
    Account("1150", "Card/transfer COD clearing", "asset", "provider"),
    Account("1200", "Bank", "asset"),
    Account("1300", "Receivable from partners", "asset", "partner"),
    Account("1305", "Unbilled receivables", "asset", "partner"),
    Account("1310", "Receivable from drivers (shortages)", "asset", "driver"),
    Account("2100", "COD payable to partners", "liability", "partner"),
    Account("2200", "VAT payable", "liability"),
    Account("2300", "Claims payable (lost/damaged)", "liability", "partner"),
    Account("4100", "Delivery revenue", "income"),
    Account("4200", "Return and failed-attempt revenue", "income"),
    Account("4300", "Surcharges (COD fee, remote, fuel, insurance)", "income"),
    Account("4900", "Credit notes and compensation", "contra-income"),
    Account("5100", "Claims expense", "expense"),
    Account("5200", "Cash differences written off", "expense"),
)}


class LedgerError(ValueError):
    """An entry that cannot be posted; the message says why."""


@dataclass(frozen=True)
class Line:
    account: str
    #: Minor units; a debit is positive, a credit negative.
    amount: int
    currency: str
    #: (party type, id) when the account is kept per party.
    party: tuple[str, int] | None = None


def period_of(day: date) -> str:
    return f"{day:%Y-%m}"


def _check(lines: list[Line]) -> None:
    if len(lines) < 2:
        raise LedgerError("an entry has at least two lines")
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        account = CHART.get(line.account)
        if account is None:
            raise LedgerError(f"no account {line.account!r} in the chart")
        if not isinstance(line.amount, int) or isinstance(line.amount, bool) or line.amount == 0:
            raise LedgerError(f"{line.account}: an amount is a non-zero whole number of minor units")
        try:
            check_currency(line.currency)
        except CurrencyError as exc:
            raise LedgerError(f"{line.account}: {exc}") from None
        party_kind = line.party[0] if line.party else None
        if party_kind != account.party:
            raise LedgerError(f"{line.account} ({account.name}) is kept per {account.party or 'nobody'}, "
                              f"not per {party_kind or 'nobody'}")
        if line.party and not isinstance(line.party[1], int):
            raise LedgerError(f"{line.account} ({account.name}): say which {party_kind}")
        totals[line.currency] += line.amount
    off = {currency: total for currency, total in totals.items() if total}
    if off:
        raise LedgerError(f"{UNBALANCED}: off by {off}")


@dataclass(frozen=True)
class Draft:
    """An entry to post: what ``post_many`` takes."""

    rule: str
    source_type: str
    source_id: object
    entry_date: date
    lines: list[Line]
    memo: str = ""
    actor: str = ""


def _line_rows(entry_id: int, lines: list[Line], entry_date: date, rule: str) -> list[dict]:
    return [{"entry_id": entry_id, "account": line.account, "amount": line.amount, "currency": line.currency,
             "party_type": line.party[0] if line.party else None,
             "party_id": line.party[1] if line.party else None, "entry_date": entry_date, "rule": rule}
            for line in lines]


def post_many(session: Session, drafts: list[Draft]) -> int:
    """Post many entries in four statements whatever their number (the lifecycle posts
    every fee this way): each checked as ``post`` checks it, those whose source and rule
    were posted before skipped. Returns how many were posted. A race on the same source
    and rule (which the callers' row locks exclude) fails the transaction rather than
    posting twice; the caller's retry then skips what the winner posted."""
    for d in drafts:
        _check(d.lines)
    if not drafts:
        return 0
    posted = set(session.execute(select(JournalEntry.source_type, JournalEntry.source_id, JournalEntry.rule).where(
        JournalEntry.source_type.in_({d.source_type for d in drafts}),
        JournalEntry.source_id.in_({str(d.source_id) for d in drafts}),
        JournalEntry.rule.in_({d.rule for d in drafts}))).all())
    fresh: dict[tuple, Draft] = {}
    for d in drafts:
        key = (d.source_type, str(d.source_id), d.rule)
        if key not in posted:
            fresh.setdefault(key, d)
    if not fresh:
        return 0
    now = clock.now()
    todo = list(fresh.values())
    ids = session.scalars(insert(JournalEntry).returning(JournalEntry.id, sort_by_parameter_order=True), [
        {"entry_date": d.entry_date, "period": period_of(d.entry_date), "source_type": d.source_type,
         "source_id": str(d.source_id), "rule": d.rule, "memo": d.memo[:300], "actor": d.actor[:80],
         "created_at": now} for d in todo]).all()
    session.execute(insert(JournalLine), [row for entry_id, d in zip(ids, todo)
                                          for row in _line_rows(entry_id, d.lines, d.entry_date, d.rule)])
    session.execute(update(JournalEntry).where(JournalEntry.id.in_(ids)).values(sealed_at=now)
                    .execution_options(synchronize_session=False))
    return len(ids)


def entry_for(session: Session, source_type: str, source_id, rule: str) -> JournalEntry | None:
    return session.scalars(select(JournalEntry).where(
        JournalEntry.source_type == source_type, JournalEntry.source_id == str(source_id),
        JournalEntry.rule == rule)).first()


def post(session: Session, *, rule: str, source_type: str, source_id, entry_date: date, lines: list[Line],
         memo: str = "", actor: str = "", reverses_id: int | None = None) -> JournalEntry:
    """Post an entry once per (source, rule): returns the new entry, or the one posted
    before for the same source and rule. Raises LedgerError. Flushes; the caller commits
    (in the transaction of the business change the entry records)."""
    _check(lines)
    found = entry_for(session, source_type, source_id, rule)
    if found is not None:
        return found
    entry = JournalEntry(entry_date=entry_date, period=period_of(entry_date), source_type=source_type,
                         source_id=str(source_id), rule=rule, memo=memo[:300], actor=actor[:80],
                         reverses_id=reverses_id, created_at=clock.now())
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
            session.execute(insert(JournalLine), _line_rows(entry.id, lines, entry_date, rule))
            entry.sealed_at = clock.now()  # the database checks the balance as it seals
            session.flush()
    except IntegrityError:  # the same source and rule, posted by another transaction meanwhile
        found = entry_for(session, source_type, source_id, rule)
        if found is None:
            raise
        return found
    return entry


def lines_of(session: Session, entry_id: int) -> list[JournalLine]:
    return list(session.scalars(select(JournalLine).where(JournalLine.entry_id == entry_id)
                                .order_by(JournalLine.id)))


def reverse(session: Session, entry_id: int, *, entry_date: date, actor: str, reason: str) -> JournalEntry:
    """Undo an entry with a new one, its lines negated (the original stays as it was)."""
    original = session.get(JournalEntry, entry_id)
    if original is None or original.sealed_at is None:
        raise LedgerError(f"no posted entry {entry_id}")
    if original.reverses_id is not None:
        raise LedgerError("a reversal is not reversed: post the entry again instead")
    if not reason.strip():
        raise LedgerError("a reversal needs a reason")
    lines = [Line(line.account, -line.amount, line.currency,
                  (line.party_type, line.party_id) if line.party_type else None)
             for line in lines_of(session, entry_id)]
    return post(session, rule="reversal", source_type="journal_entry", source_id=entry_id,
                entry_date=entry_date, lines=lines, memo=reason.strip(), actor=actor, reverses_id=entry_id)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _kept_before(session: Session, until: date | None) -> str | None:
    """The last closed month whose balances are kept and that ends by ``until``."""
    stmt = select(func.max(PeriodBalance.period))
    if until is not None:
        stmt = stmt.where(PeriodBalance.period < period_of(until + timedelta(days=1)))
    return session.scalar(stmt)


def balances(session: Session, *, until: date | None = None, party: tuple[str, int] | None = None,
             account: str | None = None, currency: str | None = None) -> dict[tuple[str, str], int]:
    """(account, currency) -> balance at the end of ``until`` (default: now), for one party
    or account when given: the balances kept by the last closed month before it, plus the
    lines dated after that month. Committed entries are always sealed (``post`` seals in
    its own flush), so the lines are read alone."""
    kept = _kept_before(session, until)
    totals: dict[tuple[str, str], int] = defaultdict(int)

    def narrowed(model, amount, *where):
        stmt = (select(model.account, model.currency, func.sum(amount)).where(*where)
                .group_by(model.account, model.currency))
        if party:
            stmt = stmt.where(model.party_type == party[0], model.party_id == party[1])
        if account:
            stmt = stmt.where(model.account == account)
        if currency:
            stmt = stmt.where(model.currency == currency)
        return stmt

    lines = []
    if kept:
        for a, c, total in session.execute(narrowed(PeriodBalance, PeriodBalance.balance, PeriodBalance.period == kept)):
            totals[(a, c)] += int(total)
        lines.append(JournalLine.entry_date >= _next_month(date.fromisoformat(f"{kept}-01")))
    if until is not None:
        lines.append(JournalLine.entry_date <= until)
    for a, c, total in session.execute(narrowed(JournalLine, JournalLine.amount, *lines)):
        totals[(a, c)] += int(total)
    return dict(totals)


def trial_balance(session: Session, *, until: date | None = None) -> dict[tuple[str, str], int]:
    """(account, currency) -> balance of the books (at the end of ``until``)."""
    return balances(session, until=until)


def balance(session: Session, account: str, currency: str, *, party: tuple[str, int] | None = None) -> int:
    """The balance of one account in one currency (for one party)."""
    return balances(session, party=party, account=account, currency=currency).get((account, currency), 0)


def keep_balances(session: Session, period: str) -> int:
    """Keep the books' balances at the end of ``period`` (the close does, once it passes):
    the month before's kept balances plus the month's lines, per account, party and
    currency. Returns how many were kept."""
    start = date.fromisoformat(f"{period}-01")
    end = _next_month(start)
    kept = _kept_before(session, start - timedelta(days=1))
    totals: dict[tuple, int] = defaultdict(int)
    key = (JournalLine.account, JournalLine.party_type, JournalLine.party_id, JournalLine.currency)
    if kept:
        for a, pt, pid, c, total in session.execute(select(
                PeriodBalance.account, PeriodBalance.party_type, PeriodBalance.party_id, PeriodBalance.currency,
                PeriodBalance.balance).where(PeriodBalance.period == kept)):
            totals[(a, pt, pid, c)] += int(total)
    lines = select(*key, func.sum(JournalLine.amount)).where(JournalLine.entry_date < end).group_by(*key)
    if kept:
        lines = lines.where(JournalLine.entry_date >= _next_month(date.fromisoformat(f"{kept}-01")))
    for a, pt, pid, c, total in session.execute(lines):
        totals[(a, pt, pid, c)] += int(total)
    rows = [{"period": period, "account": a, "party_type": pt, "party_id": pid, "currency": c, "balance": total}
            for (a, pt, pid, c), total in totals.items() if total]
    if rows:
        session.execute(insert(PeriodBalance), rows)
    return len(rows)


def forget_balances(session: Session, period: str) -> None:
    """A reopened month's kept balances are no longer the books'."""
    session.execute(delete(PeriodBalance).where(PeriodBalance.period == period))


@dataclass(frozen=True)
class Posted:
    """A journal line as the general ledger shows it."""

    entry_id: int
    entry_date: date
    rule: str
    source_type: str
    source_id: str
    memo: str
    reverses_id: int | None
    account: str
    party: tuple[str, int] | None
    amount: int
    currency: str


def _filtered(stmt, *, account, currency, party, start, end):
    if account:
        stmt = stmt.where(JournalLine.account == account)
    if currency:
        stmt = stmt.where(JournalLine.currency == currency)
    if party:
        stmt = stmt.where(JournalLine.party_type == party[0], JournalLine.party_id == party[1])
    if start:
        stmt = stmt.where(JournalEntry.entry_date >= start)
    if end:
        stmt = stmt.where(JournalEntry.entry_date < end)
    return stmt.where(JournalEntry.sealed_at.is_not(None))


def opening_balances(session: Session, *, account: str | None = None, party: tuple[str, int] | None = None,
                     currency: str | None = None, before: date) -> dict[tuple[str, str], int]:
    """(account, currency) -> the balance before ``before`` (a ledger's opening line)."""
    return {k: v for k, v in balances(session, until=before - timedelta(days=1), party=party, account=account,
                                      currency=currency).items() if v}


def posted_lines(session: Session, *, account: str | None = None, party: tuple[str, int] | None = None,
                 currency: str | None = None, start: date | None = None, end: date | None = None,
                 limit: int = 500) -> list[Posted]:
    """The lines of one account (and/or one party), oldest first, dated in [start, end):
    the general ledger and a party's ledger."""
    stmt = (select(JournalEntry.id, JournalEntry.entry_date, JournalEntry.rule, JournalEntry.source_type,
                   JournalEntry.source_id, JournalEntry.memo, JournalEntry.reverses_id, JournalLine.account,
                   JournalLine.party_type, JournalLine.party_id, JournalLine.amount, JournalLine.currency)
            .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
            .order_by(JournalEntry.entry_date, JournalEntry.id, JournalLine.id).limit(limit))
    stmt = _filtered(stmt, account=account, currency=currency, party=party, start=start, end=end)
    return [Posted(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], (r[8], r[9]) if r[8] else None, r[10], r[11])
            for r in session.execute(stmt)]
