"""The standing reports: a partner's month, a hub's month and the company's month (or any
period asked for). Their shipment, attempt, charge, COD and case figures are the builder's
(one definition of "on time" or "failed attempt" for every report); what the builder's
model does not hold — dwell at a hub, drivers' hours and cash, satisfaction scores, the
ledger's balances — is read here, for the period, in the same transaction.

A report is data (figures, tables, charts) in the reader's language; ``documents`` draws it
as PDF and XLSX and the pages show it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from app import clock
from app.billing import ledger
from app.billing.models import CashHandover, JournalLine, Remittance
from app.billing.money import written
from app.crm.models import CsatResponse, Partner
from app.delivery.models import DeliveryAttempt, Driver, RunSheet
from app.hubs.models import Hub
from app.orders.lifecycle import Event
from app.orders.models import Shipment, ShipmentEvent
from app.reports import builder

KINDS = ("partner", "hub", "company")


class NotFound(LookupError):
    """No such partner or hub."""


@dataclass
class Figure:
    label: str
    #: As written for the reader ("92.5 %", "1,250,000 VND").
    text: str
    #: The number behind it (a share 0..1, minor units, a count), for spreadsheets.
    value: float | int | None = None
    #: "count", "rate", "hours", "money" (minor units, summed over currencies), "score".
    unit: str = "count"


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list]
    #: The number format of each column: "text", "count", "rate", "hours", "money".
    formats: list[str] = field(default_factory=list)


@dataclass
class Chart:
    title: str
    #: "days" (a value a day, as columns), "line", or "bar" (categories, as horizontal bars).
    kind: str
    labels: list[str]
    values: list[float]


@dataclass
class Report:
    kind: str
    subject_id: int
    title: str
    subject: str
    start: date
    end: date
    figures: list[Figure]
    tables: list[Table]
    charts: list[Chart]

    @property
    def period(self) -> str:
        whole_month = self.start.day == 1 and (self.end + timedelta(days=1)).day == 1 and \
            self.start.replace(day=1) == self.end.replace(day=1)
        return self.start.strftime("%Y-%m") if whole_month else f"{self.start} – {self.end}"

    @property
    def filename(self) -> str:
        slug = f"{self.kind}-{self.subject_id}" if self.kind != "company" else "company"
        return f"report-{slug}-{self.period.replace(' – ', '_')}"


def month_bounds(period: str) -> tuple[date, date]:
    """The first and last day of a month "YYYY-MM". Raises ValueError."""
    start = datetime.strptime(period, "%Y-%m").date()
    return start, (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), clock.network_zone())


def _spec(source: str, measures, start: date, end: date, dimensions=(), **filters) -> builder.Spec:
    return builder.Spec(source, list(measures), list(dimensions), {k: v for k, v in filters.items()}, start, end)


def _one(result: builder.Result) -> list:
    """The single row of a report without dimensions (money: the first currency's)."""
    return result.rows[0] if result.rows else [None] * len(result.columns)


def _percent(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _hours(value) -> str:
    return "—" if value is None else f"{value:.1f} h"


def _count(value) -> str:
    return f"{value or 0:,}"


def _money_rows(result: builder.Result, measure: str) -> dict[str, int]:
    at_currency = [c.name for c in result.columns].index("currency")
    at = [c.name for c in result.columns].index(measure)
    return {row[at_currency]: row[at] or 0 for row in result.rows}


def _money_text(amounts: dict[str, int]) -> str:
    return ", ".join(written(v, c) for c, v in sorted(amounts.items())) or "0"


def _daily(result: builder.Result, start: date, end: date, at: int = 1) -> tuple[list[str], list]:
    by_day = {r[0]: r[at] for r in result.rows}
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return [d.strftime("%d/%m") for d in days], [by_day.get(d, 0) or 0 for d in days]


def _reasons(result: builder.Result) -> Table:
    rows = [[result.label(result.columns[0], r[0]), r[1]] for r in result.rows if r[1]]
    return Table(_("Failed attempts by reason"), [_("Reason"), _("Failed attempts")], rows, ["text", "count"])


#: The shipments' measures every standing report opens with.
VOLUME = ["count", "delivered", "returned", "on_time_rate", "first_attempt_rate"]


def _volume(volume: list) -> list[Figure]:
    return [Figure(_("Shipments"), _count(volume[0]), volume[0] or 0),
            Figure(_("Delivered"), _count(volume[1]), volume[1] or 0),
            Figure(_("Returned"), _count(volume[2]), volume[2] or 0),
            Figure(_("On time"), _percent(volume[3]), volume[3], unit="rate"),
            Figure(_("Delivered at the first attempt"), _percent(volume[4]), volume[4], unit="rate")]


def partner_report(session: Session, partner_id: int, start: date, end: date) -> Report:
    """A partner's period: volume, on-time and first-attempt rates, failure reasons,
    returns, COD collected and remitted, what it was charged, cases and scores. Holds
    nothing of any other partner (every figure is read with its filter)."""
    partner = session.get(Partner, partner_id)
    if partner is None:
        raise NotFound(partner_id)

    def run(spec):
        return builder.run(spec, partner_id=partner_id, session=session)

    volume = _one(run(_spec("shipments", [*VOLUME, "avg_transit_hours"], start, end)))
    daily = run(_spec("shipments", ["count"], start, end, ["day"]))
    failed = run(_spec("attempts", ["failed"], start, end, ["failure_reason"], outcome=["failed"]))
    attempts = _one(run(_spec("attempts", ["count", "success_rate"], start, end)))
    cod = run(_spec("cod", ["collected", "remitted"], start, end))
    charged = run(_spec("charges", ["amount"], start, end))
    by_fee = run(_spec("charges", ["count", "amount"], start, end, ["kind"]))
    cases = _one(run(_spec("cases", ["count", "resolved", "avg_resolution_hours"], start, end)))
    score, scored = session.execute(select(func.avg(CsatResponse.score), func.count()).where(
        CsatResponse.partner_id == partner_id, CsatResponse.created_at >= _utc(start),
        CsatResponse.created_at < _utc(end + timedelta(days=1)))).one()
    paid_out = dict(session.execute(select(Remittance.currency, func.sum(Remittance.payout_amount)).where(
        Remittance.partner_id == partner_id, Remittance.created_at >= _utc(start),
        Remittance.created_at < _utc(end + timedelta(days=1))).group_by(Remittance.currency)).all())

    figures = [
        *_volume(volume),
        Figure(_("Average hours to deliver"), _hours(volume[5]), volume[5], unit="hours"),
        Figure(_("Delivery attempts"), _count(attempts[0]), attempts[0] or 0),
        Figure(_("Attempt success rate"), _percent(attempts[1]), attempts[1], unit="rate"),
        Figure(_("COD collected"), _money_text(_money_rows(cod, "collected")),
               sum(_money_rows(cod, "collected").values()), unit="money"),
        Figure(_("COD collected and already remitted"), _money_text(_money_rows(cod, "remitted")),
               sum(_money_rows(cod, "remitted").values()), unit="money"),
        Figure(_("Remittances paid out"), _money_text({c: int(v) for c, v in paid_out.items()}),
               sum(int(v) for v in paid_out.values()), unit="money"),
        Figure(_("Charged (VAT included)"), _money_text(_money_rows(charged, "amount")),
               sum(_money_rows(charged, "amount").values()), unit="money"),
        Figure(_("Cases opened"), _count(cases[0]), cases[0] or 0),
        Figure(_("Cases resolved"), _count(cases[1]), cases[1] or 0),
        Figure(_("Average hours to resolve a case"), _hours(cases[2]), cases[2], unit="hours"),
        Figure(_("Customer satisfaction (1–5)"), "—" if score is None else f"{float(score):.2f} ({scored})",
               None if score is None else float(score), unit="score"),
    ]
    labels, values = _daily(daily, start, end)
    reasons = _reasons(failed)
    fees = Table(_("Charges by fee"), [_("Fee"), _("Currency"), _("Charges"), _("Amount")],
                 [[by_fee.label(by_fee.columns[0], r[0]), r[1], r[2], r[3]] for r in by_fee.rows],
                 ["text", "text", "count", "money"])
    charts = [Chart(_("Shipments a day"), "days", labels, values)]
    if reasons.rows:
        charts.append(Chart(_("Failed attempts by reason"), "bar", [r[0] for r in reasons.rows],
                            [r[1] for r in reasons.rows]))
    return Report("partner", partner_id, _("Monthly report"), partner.name, start, end, figures,
                  [reasons, fees], charts)


def hub_report(session: Session, hub_id: int, start: date, end: date) -> Report:
    """A hub's period: what came in and went out, how long parcels waited there, and each
    driver's stops, hours, success rate and cash differences."""
    hub = session.get(Hub, hub_id)
    if hub is None:
        raise NotFound(hub_id)
    begin, until = _utc(start), _utc(end + timedelta(days=1))

    def run(spec):
        return builder.run(spec, session=session)

    arrivals = _one(run(_spec("events", ["count"], start, end, hub=[hub_id],
                              event=[Event.ARRIVED_AT_HUB.value, Event.ARRIVED_AT_CENTRE.value])))
    attempts = _one(run(_spec("attempts", ["count", "delivered", "failed", "success_rate"], start, end, hub=[hub_id])))
    daily = run(_spec("attempts", ["delivered"], start, end, ["day"], hub=[hub_id]))
    failed = run(_spec("attempts", ["failed"], start, end, ["failure_reason"], hub=[hub_id], outcome=["failed"]))
    dwell_n, dwell_avg = dwell(session, hub_id, begin, until)
    drivers = driver_productivity(session, hub_id, begin, until)
    figures = [
        Figure(_("Parcels received"), _count(arrivals[0]), arrivals[0] or 0),
        Figure(_("Delivery attempts"), _count(attempts[0]), attempts[0] or 0),
        Figure(_("Delivered"), _count(attempts[1]), attempts[1] or 0),
        Figure(_("Failed attempts"), _count(attempts[2]), attempts[2] or 0),
        Figure(_("Attempt success rate"), _percent(attempts[3]), attempts[3], unit="rate"),
        Figure(_("Average hours at the hub before going out"), _hours(dwell_avg), dwell_avg, unit="hours"),
        Figure(_("Parcels that went out"), _count(dwell_n), dwell_n),
    ]
    table = Table(_("Drivers"), [_("Driver"), _("Attempts"), _("Delivered"), _("Success rate"), _("Hours out"),
                                 _("Stops an hour"), _("Cash difference")],
                  [[d["name"], d["attempts"], d["delivered"], d["success_rate"], d["hours"], d["stops_per_hour"],
                    d["cash_difference"]] for d in drivers],
                  ["text", "count", "count", "rate", "hours", "hours", "money"])
    labels, values = _daily(daily, start, end)
    reasons = _reasons(failed)
    charts = [Chart(_("Deliveries a day"), "days", labels, values)]
    if reasons.rows:
        charts.append(Chart(_("Failed attempts by reason"), "bar", [r[0] for r in reasons.rows],
                            [r[1] for r in reasons.rows]))
    return Report("hub", hub_id, _("Monthly report"), f"{hub.code} · {hub.name}", start, end, figures,
                  [table, reasons], charts)


def dwell(session: Session, hub_id: int, begin: datetime, until: datetime) -> tuple[int, float | None]:
    """Parcels that arrived at the hub in the period and went out for delivery after, and
    the average hours between the two."""
    ctx = builder.Ctx(session.get_bind().dialect.name, 0)
    arrived = (select(ShipmentEvent.shipment_id, func.min(ShipmentEvent.server_time).label("at"))
               .where(ShipmentEvent.hub_id == hub_id, ShipmentEvent.applied.is_(True),
                      ShipmentEvent.type.in_([Event.ARRIVED_AT_HUB.value, Event.ARRIVED_AT_CENTRE.value]),
                      ShipmentEvent.server_time >= begin, ShipmentEvent.server_time < until)
               .group_by(ShipmentEvent.shipment_id).subquery())
    out = aliased(ShipmentEvent)
    went_out = (select(func.min(out.server_time)).where(out.shipment_id == arrived.c.shipment_id,
                                                        out.type == Event.OUT_FOR_DELIVERY.value,
                                                        out.server_time >= arrived.c.at)
                .scalar_subquery())
    gaps = select(builder.hours_between(ctx, went_out, arrived.c.at).label("hours")).subquery()
    n, avg = session.execute(select(func.count(gaps.c.hours), func.avg(gaps.c.hours))).one()
    return n, None if avg is None else float(avg)


def driver_productivity(session: Session, hub_id: int, begin: datetime, until: datetime) -> list[dict]:
    """Each driver of the hub with attempts in the period: attempts, deliveries, the hours
    from each run sheet's dispatch to its last attempt, stops an hour, and the cash counted
    at the hub less what was due."""
    ctx = builder.Ctx(session.get_bind().dialect.name, 0)
    per_sheet = (select(DeliveryAttempt.driver_id, DeliveryAttempt.run_sheet_id, func.count().label("n"),
                        func.count().filter(DeliveryAttempt.outcome == "delivered").label("ok"),
                        func.max(DeliveryAttempt.created_at).label("last"))
                 .join(Shipment, Shipment.id == DeliveryAttempt.shipment_id)
                 .where(Shipment.delivery_hub_id == hub_id, DeliveryAttempt.driver_id.is_not(None),
                        DeliveryAttempt.created_at >= begin, DeliveryAttempt.created_at < until)
                 .group_by(DeliveryAttempt.driver_id, DeliveryAttempt.run_sheet_id).subquery())
    hours = builder.hours_between(ctx, per_sheet.c["last"], RunSheet.dispatched_at)
    rows = session.execute(
        select(per_sheet.c.driver_id, Driver.name, func.sum(per_sheet.c.n), func.sum(per_sheet.c.ok),
               func.sum(hours))
        .join(Driver, Driver.id == per_sheet.c.driver_id)
        .outerjoin(RunSheet, and_(RunSheet.id == per_sheet.c.run_sheet_id, RunSheet.dispatched_at.is_not(None)))
        .group_by(per_sheet.c.driver_id, Driver.name).order_by(Driver.name)).all()
    cash = {(driver, currency): int(diff) for driver, currency, diff in session.execute(
        select(CashHandover.driver_id, CashHandover.currency,
               func.sum(CashHandover.received_amount - CashHandover.expected_amount))
        .where(CashHandover.hub_id == hub_id, CashHandover.received_at >= begin, CashHandover.received_at < until)
        .group_by(CashHandover.driver_id, CashHandover.currency))}
    out = []
    for driver_id, name, n, ok, spent in rows:
        spent = float(spent) if spent is not None else None
        differences = {c: v for (d, c), v in cash.items() if d == driver_id}
        out.append({"id": driver_id, "name": name, "attempts": int(n), "delivered": int(ok),
                    "success_rate": ok / n if n else None,
                    "hours": spent,
                    # Under six minutes on the road says nothing of a pace.
                    "stops_per_hour": n / spent if spent and spent >= 0.1 else None,
                    "cash_difference": _money_text(differences) if differences else "0"})
    return out


#: Revenue accounts as the company's month shows them (income is a credit: shown negated).
REVENUE_ACCOUNTS = ("4100", "4200", "4300", "4900")


def company_report(session: Session, start: date, end: date) -> Report:
    """The company's period: volume and service, revenue by service level and by account
    from the ledger, and what is owed either way at the period's end (receivables from
    partners, COD payable to them)."""
    def run(spec):
        return builder.run(spec, session=session)

    volume = _one(run(_spec("shipments", VOLUME, start, end)))
    daily = run(_spec("shipments", ["count"], start, end, ["day"]))
    by_level = run(_spec("charges", ["count", "amount"], start, end, ["service_level"]))
    revenue = dict(((a, c), -int(v)) for a, c, v in session.execute(
        select(JournalLine.account, JournalLine.currency, func.sum(JournalLine.amount))
        .where(JournalLine.account.in_(REVENUE_ACCOUNTS), JournalLine.entry_date >= start,
               JournalLine.entry_date <= end)
        .group_by(JournalLine.account, JournalLine.currency)))
    balances = ledger.balances(session, until=end)
    receivable = {c: v for (a, c), v in balances.items() if a == "1300"}
    unbilled = {c: v for (a, c), v in balances.items() if a == "1305"}
    payable = {c: -v for (a, c), v in balances.items() if a == "2100"}
    total_revenue: dict[str, int] = {}
    for (_a, c), v in revenue.items():
        total_revenue[c] = total_revenue.get(c, 0) + v
    figures = [
        *_volume(volume),
        Figure(_("Revenue (ledger, VAT excluded)"), _money_text(total_revenue),
               sum(total_revenue.values()), unit="money"),
        Figure(_("Invoiced, receivable from partners at the end"), _money_text(receivable),
               sum(receivable.values()), unit="money"),
        Figure(_("Charged, not yet invoiced, at the end"), _money_text(unbilled),
               sum(unbilled.values()), unit="money"),
        Figure(_("COD payable to partners at the end"), _money_text(payable),
               sum(payable.values()), unit="money"),
    ]
    levels = Table(_("Charged by service level"), [_("Service level"), _("Currency"), _("Charges"), _("Amount")],
                   [[by_level.label(by_level.columns[0], r[0]), r[1], r[2], r[3]] for r in by_level.rows],
                   ["text", "text", "count", "money"])
    accounts = Table(_("Revenue by account"), [_("Account"), _("Currency"), _("Amount")],
                     [[f"{a} {ledger.CHART[a].name}", c, v] for (a, c), v in sorted(revenue.items())],
                     ["text", "text", "money"])
    labels, values = _daily(daily, start, end)
    charts = [Chart(_("Shipments a day"), "days", labels, values)]
    if by_level.rows:
        charts.append(Chart(_("Charged by service level"), "bar", [row[0] for row in levels.rows],
                            [r[3] for r in by_level.rows]))
    return Report("company", 0, _("Monthly report"), _("The company"), start, end, figures,
                  [levels, accounts], charts)


def make(session: Session, kind: str, subject_id: int, start: date, end: date) -> Report:
    """The report of ``kind`` ("partner", "hub", "company") for the period."""
    if kind == "partner":
        return partner_report(session, subject_id, start, end)
    if kind == "hub":
        return hub_report(session, subject_id, start, end)
    if kind == "company":
        return company_report(session, start, end)
    raise NotFound(kind)
