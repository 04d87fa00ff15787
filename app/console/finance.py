"""Console: the books, for finance. The months and their close (checks with links to the
rows that block), the trial balance, the general ledger of an account or a party, an
entry and its reversal, and the month's books as Beancount or CSV."""
from __future__ import annotations

from datetime import timedelta

from flask import (
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.auth.web import roles_required
from app.billing import exports, ledger, periods
from app.billing.models import AccountingPeriod, CashHandover, JournalEntry
from app.console.acting import acting, actor
from app.console.views import bp
from app.crm.models import Partner
from app.db import db
from app.delivery.models import Driver
from app.forms import day_of
from app.hubs.models import Hub

FINANCE_ROLES = ("admin", "finance")


def party_of(text: str | None) -> tuple[str, int] | None:
    """``partner:3`` -> ("partner", 3); anything else -> None."""
    kind, _sep, ident = (text or "").partition(":")
    return (kind, int(ident)) if kind in {"partner", "driver", "hub", "provider"} and ident.isdigit() else None


PROVIDER_NAMES = {1: "card acquirer", 2: "bank transfers"}


def partners_by_id() -> dict[int, Partner]:
    """Every partner by id, in name order (the finance pages' pickers and tables)."""
    return {p.id: p for p in db.session.scalars(select(Partner).order_by(Partner.name))}


def party_names(parties) -> dict[tuple[str, int], str]:
    """Who each (kind, id) is, in words."""
    wanted: dict[str, set[int]] = {}
    for kind, ident in filter(None, parties):
        wanted.setdefault(kind, set()).add(ident)
    names = {("provider", i): PROVIDER_NAMES.get(i, f"provider {i}") for i in wanted.get("provider", ())}
    for kind, model, label in (("partner", Partner, lambda p: p.name), ("driver", Driver, lambda d: f"driver {d.name}"),
                               ("hub", Hub, lambda h: f"hub {h.code}")):
        if wanted.get(kind):
            for row in db.session.scalars(select(model).where(model.id.in_(wanted[kind]))):
                names[(kind, row.id)] = label(row)
    return names


def _period_or_404(period: str) -> str:
    try:
        return periods.parse(period)
    except periods.PeriodError:
        abort(404)


@bp.get("/finance/")
@roles_required(*FINANCE_ROLES)
def finance():
    today = clock.today()
    current = ledger.period_of(today)
    months = periods.all_periods(db.session)
    if current not in {m.period for m in months}:
        months.insert(0, AccountingPeriod(period=current))
    totals = ledger.trial_balance(db.session)
    return render_template("console/finance.html", months=months, current=current, today=today,
                           totals=_by_currency(totals), tz=clock.network_zone())


def _by_currency(balances: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """currency -> {"debit": ..., "credit": ..., "net": ...} over the accounts."""
    out: dict[str, dict[str, int]] = {}
    for (_account, currency), amount in balances.items():
        row = out.setdefault(currency, {"debit": 0, "credit": 0, "net": 0})
        row["debit" if amount > 0 else "credit"] += abs(amount)
        row["net"] += amount
    return out


@bp.get("/finance/trial-balance")
@roles_required(*FINANCE_ROLES)
def trial_balance():
    until = day_of(request.args.get("until")) or clock.today()
    balances = ledger.trial_balance(db.session, until=until)
    rows = sorted((code, currency, amount) for (code, currency), amount in balances.items() if amount)
    return render_template("console/trial_balance.html", rows=rows, until=until, chart=ledger.CHART,
                           totals=_by_currency(balances))


@bp.get("/finance/ledger")
@roles_required(*FINANCE_ROLES)
def general_ledger():
    """One account's lines (or one party's, across accounts) in a date range, with the
    opening balance and a running balance per currency."""
    account = request.args.get("account") or None
    if account and account not in ledger.CHART:
        abort(404)
    party = party_of(request.args.get("party"))
    if not account and not party:
        return redirect(url_for("console.trial_balance"))
    today = clock.today()
    start = day_of(request.args.get("from")) or today.replace(day=1)
    end = day_of(request.args.get("to")) or today
    opening = ledger.opening_balances(db.session, account=account, party=party, before=start)
    lines = ledger.posted_lines(db.session, account=account, party=party, start=start, end=end + timedelta(days=1))
    running: dict[tuple[str, str], int] = dict(opening)
    shown = []
    for line in lines:
        key = (line.account, line.currency)
        running[key] = running.get(key, 0) + line.amount
        shown.append((line, running[key]))
    names = party_names({line.party for line in lines} | {party})
    return render_template("console/ledger.html", account=account, party=party, names=names, start=start, end=end,
                           opening=opening, lines=shown, closing=running, chart=ledger.CHART, full=len(lines) == 500)


@bp.get("/finance/entries/<id:entry_id>")
@roles_required(*FINANCE_ROLES)
def journal_entry(entry_id: int):
    entry = db.session.get(JournalEntry, entry_id)
    if entry is None or entry.sealed_at is None:
        abort(404)
    lines = ledger.lines_of(db.session, entry.id)
    reversed_by = db.session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry.id))
    names = party_names({(line.party_type, line.party_id) for line in lines if line.party_type})
    return render_template("console/journal_entry.html", entry=entry, lines=lines, chart=ledger.CHART, names=names,
                           reversed_by=reversed_by, tz=clock.network_zone())


@bp.post("/finance/entries/<id:entry_id>/reverse")
@roles_required(*FINANCE_ROLES)
def reverse_entry(entry_id: int):
    """A correction: the entry's lines negated, dated today (in the open month)."""
    reason = request.form.get("reason", "")
    with acting(_("Not reversed"), ledger.LedgerError) as act:
        undo = ledger.reverse(db.session, entry_id, entry_date=clock.today(), actor=actor(), reason=reason)
        act.audit("journal_entry.reversed", "journal_entry", entry_id, {"reversal": undo.id, "reason": reason})
        act.said(_("Reversed by entry %(num)s, dated %(day)s.", num=undo.id, day=format_date(undo.entry_date, "dd MMM yyyy")))
    return redirect(url_for("console.journal_entry", entry_id=entry_id))


def _row_link(kind: str, ident, hubs_of_handovers: dict[int, int]) -> str | None:
    if kind == "shipment":
        return url_for("console.shipment", shipment_id=ident)
    if kind == "cash_handover" and ident in hubs_of_handovers:
        return url_for("console.hub_cash", hub_id=hubs_of_handovers[ident]) + f"#handover-{ident}"
    if kind == "period":
        return url_for("console.period", period=ident)
    if kind == "journal_entry":
        return url_for("console.journal_entry", entry_id=ident)
    if kind == "currency":
        return url_for("console.trial_balance")
    if kind == "partner":
        return url_for("console.partner_billing", partner_id=ident)
    return None


@bp.get("/finance/periods/<period>")
@roles_required(*FINANCE_ROLES)
def period(period: str):
    """A month: its close report when closed, else the checks as they stand now."""
    period = _period_or_404(period)
    row = db.session.get(AccountingPeriod, period)
    found = None if row and row.closed_at else periods.checks(db.session, period)
    handover_ids = [c[1] for check in found or () for c in check.rows if c[0] == "cash_handover"]
    hubs_of_handovers = dict(db.session.execute(
        select(CashHandover.id, CashHandover.hub_id).where(CashHandover.id.in_(handover_ids)))) if handover_ids else {}
    start, end = periods.bounds(period)
    balances = ledger.trial_balance(db.session, until=end - timedelta(days=1))
    return render_template("console/period.html", period=period, row=row, checks=found, chart=ledger.CHART,
                           balances=sorted((k, v) for k, v in balances.items() if v),
                           link=lambda kind, ident: _row_link(kind, ident, hubs_of_handovers),
                           start=start, last=end - timedelta(days=1), tz=clock.network_zone(),
                           can_reopen=current_user.role == "admin")


@bp.post("/finance/periods/<period>/close")
@roles_required(*FINANCE_ROLES)
def close_period(period: str):
    period = _period_or_404(period)
    with acting(_("Not closed"), periods.PeriodError) as act:
        result = periods.close(db.session, period, user_id=current_user.id)
        blocking = [c for c in result.checks if not c.ok]
        if blocking:
            raise periods.PeriodError(f"{len(blocking)} check{'s' if len(blocking) > 1 else ''} "
                                      f"block{'' if len(blocking) > 1 else 's'} the close: "
                                      + "; ".join(c.rule for c in blocking))
        act.audit("period.closed", "period", period, {"trial_balance": result.trial_balance})
        act.said(_("%(period)s is closed: no entry can be dated in it now.", period=period))
    return redirect(url_for("console.period", period=period))


@bp.get("/finance/periods/<period>/close-report.pdf")
@roles_required(*FINANCE_ROLES)
def close_report(period: str):
    """The report kept when the month closed, as a PDF."""
    from flask import current_app

    from app.auth.models import User
    from app.billing.documents import Company, close_report_pdf

    row = db.session.get(AccountingPeriod, _period_or_404(period))
    if row is None or row.closed_at is None or not row.close_report:
        abort(404)
    who = db.session.get(User, row.closed_by) if row.closed_by else None
    data = close_report_pdf(period, row.close_report, Company.from_config(current_app.config),
                            closed_by=who.email if who else "command line",
                            font=current_app.config.get("WAYBILL_LABEL_FONT"))
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="close-{period}.pdf"'})


@bp.post("/finance/periods/<period>/reopen")
@roles_required("admin")
def reopen_period(period: str):
    period = _period_or_404(period)
    reason = request.form.get("reason", "")
    with acting(_("Not reopened"), periods.PeriodError) as act:
        periods.reopen(db.session, period, reason=reason)
        act.audit("period.reopened", "period", period, {"reason": reason.strip()})
        act.said(_("%(period)s is open again.", period=period))
    return redirect(url_for("console.period", period=period))


@bp.get("/finance/periods/<period>/books.<fmt>")
@roles_required(*FINANCE_ROLES)
def export_books(period: str, fmt: str):
    period = _period_or_404(period)
    if fmt not in ("beancount", "csv"):
        abort(404)
    make = exports.beancount if fmt == "beancount" else exports.ledger_csv
    chunks = make(db.session, period)
    return Response(stream_with_context(chunks), mimetype="text/csv" if fmt == "csv" else "text/plain",
                    headers={"Content-Disposition": f'attachment; filename="waybill-{period}.{fmt}"'})
