"""Closing a month of the books in one step: the checks run first and name what blocks
the close, with the rows; then the period locks (the database refuses any entry dated in
it) and the close's report is kept. Reopening is an admin's act with a reason.

A period is a calendar month in the network's zone, ``YYYY-MM``. The close takes the
period's row FOR NO KEY UPDATE: a posting being made in the month (which takes the row
FOR SHARE in the database's trigger) finishes first, and one that comes after is refused.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import case, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app import clock
from app.billing import ledger
from app.billing.models import (
    AccountingPeriod,
    CashHandover,
    Charge,
    CodCollection,
    JournalEntry,
)
from app.crm.models import Partner
from app.orders.models import ShipmentEvent
from app.outbox import OutboxMessage

#: Rows a check names at most; the count says how many there are in all.
SHOWN = 50


class PeriodError(ValueError):
    pass


def parse(period: str) -> str:
    """``YYYY-MM``, or PeriodError."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period or ""):
        raise PeriodError(f"a period is a month, YYYY-MM (not {period!r})")
    return period


def bounds(period: str) -> tuple[date, date]:
    """The first day of the month and the first day of the next."""
    year, month = map(int, parse(period).split("-"))
    start = date(year, month, 1)
    return start, (start + timedelta(days=32)).replace(day=1)


def utc_bounds(period: str) -> tuple[datetime, datetime]:
    """The month as instants: local midnight to local midnight in the network's zone."""
    tz = clock.network_zone()
    start, end = bounds(period)
    return datetime.combine(start, time(), tz), datetime.combine(end, time(), tz)


def previous(period: str) -> str:
    start, _ = bounds(period)
    return ledger.period_of(start - timedelta(days=1))


def is_closed(session: Session, period: str) -> bool:
    return session.scalar(select(AccountingPeriod.closed_at).where(AccountingPeriod.period == period)) is not None


@dataclass
class Check:
    name: str
    #: What must be true, in words.
    rule: str
    ok: bool
    count: int = 0
    #: The rows that block: (kind, id, words), at most SHOWN of them.
    rows: list[tuple[str, int | str, str]] = field(default_factory=list)


def _earlier_closed(session: Session, period: str) -> Check:
    earlier = session.scalar(select(func.min(JournalEntry.period)).where(
        JournalEntry.period < period, ~exists().where(AccountingPeriod.period == JournalEntry.period,
                                                      AccountingPeriod.closed_at.is_not(None))))
    return Check("earlier_closed", "the months before it are closed (months close in order)", not earlier,
                 int(bool(earlier)), [("period", earlier, f"close {earlier} first")] if earlier else [])


def _trial_balance_zero(session: Session, period: str) -> Check:
    _, end = bounds(period)
    totals: dict[str, int] = {}
    for (_, currency), amount in ledger.trial_balance(session, until=end - timedelta(days=1)).items():
        totals[currency] = totals.get(currency, 0) + amount
    off = [("currency", c, f"off by {t:,}") for c, t in sorted(totals.items()) if t]
    return Check("trial_balance", "the trial balance is zero in every currency", not off, len(off), off)


def _entries_sealed(session: Session, period: str) -> Check:
    rows = session.execute(select(JournalEntry.id, JournalEntry.rule).where(
        JournalEntry.period == period, JournalEntry.sealed_at.is_(None)).limit(SHOWN)).all()
    return Check("entries_sealed", "every entry of the month is posted in full", not rows, len(rows),
                 [("journal_entry", i, f"{rule}: lines not sealed") for i, rule in rows])


FEE_WORDS = {"delivered": "delivery fee", "returned": "return fee"}


def _shipments_charged(session: Session, period: str) -> Check:
    """Every shipment delivered or returned in the month has its fee."""
    start, end = utc_bounds(period)
    fee = case((ShipmentEvent.type == "delivered", "delivery_fee"), else_="return_fee")
    uncharged = (select(ShipmentEvent.shipment_id, ShipmentEvent.type)
                 .where(ShipmentEvent.type.in_(("delivered", "returned")), ShipmentEvent.applied.is_(True),
                        ShipmentEvent.server_time >= start, ShipmentEvent.server_time < end,
                        ~exists().where(Charge.shipment_id == ShipmentEvent.shipment_id, Charge.kind == fee)))
    count = session.scalar(select(func.count()).select_from(uncharged.subquery()))
    rows = session.execute(uncharged.order_by(ShipmentEvent.shipment_id).limit(SHOWN)).all()
    return Check("shipments_charged", "every shipment delivered or returned in the month is charged",
                 not count, count, [("shipment", sid, f"{what}, no {FEE_WORDS[what]}")
                                    for sid, what in rows])


def _charges_invoiced(session: Session, period: str) -> Check:
    """Every charge made in the month is on an invoice (the month's invoice run has run)."""
    _, end = utc_bounds(period)
    stmt = select(Charge.partner_id, Charge.currency, func.count()).where(
        Charge.invoice_id.is_(None), Charge.created_at < end).group_by(Charge.partner_id, Charge.currency)
    rows = session.execute(stmt.order_by(Charge.partner_id).limit(SHOWN)).all()
    count = sum(n for _, _, n in rows)
    return Check("charges_invoiced", "every charge of the month is invoiced", not count, count,
                 [("partner", partner_id, f"{n:,} charge{'s' if n > 1 else ''} in {currency} not invoiced")
                  for partner_id, currency, n in rows])


def _handovers_counted(session: Session, period: str) -> Check:
    start, end = bounds(period)
    stmt = select(CashHandover.id, CashHandover.hub_id, CashHandover.declared_amount, CashHandover.currency).where(
        CashHandover.run_date >= start, CashHandover.run_date < end, CashHandover.received_at.is_(None))
    count = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(CashHandover.id).limit(SHOWN)).all()
    return Check("handovers_counted", "every cash handover of the month is counted at its hub", not count, count,
                 [("cash_handover", i, f"hub {hub}: {amount:,} {currency} declared, not counted")
                  for i, hub, amount, currency in rows])


def _hub_cash(session: Session, period: str) -> Check:
    """Cash counted at hubs by the month's end and not deposited: carried forward, listed."""
    _, end = utc_bounds(period)
    rows = session.execute(
        select(CashHandover.hub_id, CashHandover.currency, func.count(), func.sum(CashHandover.received_amount))
        .where(CashHandover.received_at.is_not(None), CashHandover.received_at < end,
               CashHandover.deposit_id.is_(None))
        .group_by(CashHandover.hub_id, CashHandover.currency).order_by(CashHandover.hub_id).limit(SHOWN)).all()
    return Check("hub_cash", "cash at hubs is deposited, or carried forward as listed", True, len(rows),
                 [("hub", hub, f"{int(total):,} {currency} carried forward ({n} counts)")
                  for hub, currency, n, total in rows])


def _cod_payable(session: Session, period: str) -> Check:
    """COD collected by the month's end and not remitted: payable, each with its due day."""
    from app.billing.remittances import payable_sql

    _, end = utc_bounds(period)
    rows = session.execute(
        select(CodCollection.partner_id, CodCollection.currency, func.count(), func.sum(payable_sql()),
               func.min(CodCollection.collected_at))
        .where(CodCollection.remittance_id.is_(None), CodCollection.collected_at < end)
        .group_by(CodCollection.partner_id, CodCollection.currency).order_by(CodCollection.partner_id)
        .limit(SHOWN)).all()
    tz = clock.network_zone()
    days = dict(session.execute(select(Partner.id, Partner.remittance_days)).all())
    return Check("cod_payable", "COD collected is remitted, or payable as listed with its due day", True, len(rows),
                 [("partner", pid, f"{int(total):,} {currency} payable for {n} shipments, the first due "
                                   f"{first.astimezone(tz).date() + timedelta(days=days.get(pid, 0)):%d %b %Y}")
                  for pid, currency, n, total, first in rows])


def _outbox_done(session: Session, period: str) -> Check:
    _, end = utc_bounds(period)
    stmt = select(OutboxMessage.id, OutboxMessage.topic).where(
        OutboxMessage.created_at < end, OutboxMessage.processed_at.is_(None))
    count = session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(OutboxMessage.id).limit(SHOWN)).all()
    return Check("outbox_done", "every event of the month has been processed (the workers are not behind)",
                 not count, count, [("outbox", i, f"{topic} not processed") for i, topic in rows])


def _month_over(session: Session, period: str) -> Check:
    _, end = bounds(period)
    over = clock.today() >= end
    return Check("month_over", "the month has ended", over, 0 if over else 1,
                 [] if over else [("period", period, f"it ends on {end - timedelta(days=1):%d %b %Y}")])


#: The close's checks, in the order they are shown. Issue 12 adds invoices, deposits and
#: remittances as they are built.
CHECKS: tuple[Callable[[Session, str], Check], ...] = (
    _month_over, _earlier_closed, _trial_balance_zero, _entries_sealed, _shipments_charged, _charges_invoiced,
    _handovers_counted, _hub_cash, _cod_payable, _outbox_done,
)


def checks(session: Session, period: str) -> list[Check]:
    parse(period)
    return [check(session, period) for check in CHECKS]


@dataclass
class CloseResult:
    period: str
    closed: bool
    checks: list[Check]
    #: "account currency" -> balance at the month's end.
    trial_balance: dict[str, int]

    def as_dict(self) -> dict:
        return {"period": self.period, "closed": self.closed, "checks": [asdict(c) for c in self.checks],
                "trial_balance": self.trial_balance}


def _row(session: Session, period: str, *, lock: bool) -> AccountingPeriod:
    """The period's row, made if the month has none yet; locked FOR NO KEY UPDATE."""
    dialect = session.get_bind().dialect.name
    make = (pg_insert if dialect == "postgresql" else sqlite_insert)(AccountingPeriod).values(period=period)
    session.execute(make.on_conflict_do_nothing(index_elements=["period"]))
    stmt = select(AccountingPeriod).where(AccountingPeriod.period == period).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update(key_share=True)
    return session.scalars(stmt).one()


def close(session: Session, period: str, *, user_id: int | None) -> CloseResult:
    """Run the checks; when none blocks, lock the period and keep the report. Flushes;
    the caller commits (and audits)."""
    parse(period)
    row = _row(session, period, lock=True)
    if row.closed_at is not None:
        raise PeriodError(f"{period} is already closed")
    found = checks(session, period)
    _, end = bounds(period)
    balances = {f"{account} {currency}": amount for (account, currency), amount
                in sorted(ledger.trial_balance(session, until=end - timedelta(days=1)).items())}
    result = CloseResult(period, all(c.ok for c in found), found, balances)
    if result.closed:
        row.closed_at, row.closed_by = clock.now(), user_id
        row.close_report = {**result.as_dict(), "closed_at": row.closed_at.isoformat()}
        ledger.keep_balances(session, period)
        session.flush()
    return result


def reopen(session: Session, period: str, *, reason: str) -> AccountingPeriod:
    """An admin reopens a closed month, saying why (audited by the caller). Later months
    must be open: they were closed on top of it."""
    parse(period)
    if not (reason or "").strip():
        raise PeriodError("say why the month is reopened")
    row = _row(session, period, lock=True)
    if row.closed_at is None:
        raise PeriodError(f"{period} is open")
    later = session.scalar(select(AccountingPeriod.period).where(
        AccountingPeriod.period > period, AccountingPeriod.closed_at.is_not(None)).order_by(AccountingPeriod.period))
    if later:
        raise PeriodError(f"reopen {later} first: it was closed after {period}")
    row.closed_at, row.closed_by = None, None
    row.reopened_at, row.reopen_reason = clock.now(), reason.strip()[:300]
    ledger.forget_balances(session, period)
    session.flush()
    return row


def all_periods(session: Session) -> list[AccountingPeriod]:
    """Every month the books have an entry in or a close for, newest first."""
    named = set(session.scalars(select(JournalEntry.period).distinct()))
    rows = {p.period: p for p in session.scalars(select(AccountingPeriod))}
    for period in named - set(rows):
        rows[period] = AccountingPeriod(period=period)
    return [rows[p] for p in sorted(rows, reverse=True)]
