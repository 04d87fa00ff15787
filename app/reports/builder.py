"""The ad-hoc report builder: measures grouped by dimensions over one source of the curated
model, filtered, for a period.

The model below is the whole of what a report can reach: six sources (shipments, events,
delivery attempts, charges, COD collected, cases), each with its measures and dimensions,
each a column expression written here. A report is a ``Spec`` of names; a name that is not
in the model is refused, and nothing the user types ever becomes SQL text. A partner's
report is the same query with the partner's filter forced on it (and the dimensions only
staff may see refused). Queries run with a statement time limit, on the read replica when
one is configured (``WAYBILL_REPLICA_URL``)."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from sqlalchemy import Date, Float, and_, cast, func, literal, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from app import clock
from app.billing.fees import CHARGE_WORDS
from app.billing.models import Charge, CodCollection
from app.billing.rating import SERVICE_LEVELS
from app.crm import cases
from app.crm.models import Case, Partner
from app.db import db
from app.delivery.models import DeliveryAttempt, Driver
from app.hubs.models import Hub
from app.orders.lifecycle import FAILURE_REASONS, Event, Status
from app.orders.models import Address, Order, Shipment, ShipmentEvent
from app.orders.words import EVENT_WORDS, LEVEL_WORDS, STATUS_WORDS


class ReportError(ValueError):
    """A report that cannot be made as asked: the message says what to change."""


# -- expressions that differ between the two databases -----------------------------------

class percentile(FunctionElement):
    """The ``fraction`` percentile (continuous) of ``value`` over a group."""

    inherit_cache = True
    type = Float()


@compiles(percentile)
@compiles(percentile, "postgresql")
def _percentile_pg(element, compiler, **kw):
    value, fraction = list(element.clauses)
    return (f"percentile_cont({compiler.process(fraction, **kw)}) WITHIN GROUP "
            f"(ORDER BY {compiler.process(value, **kw)})")


@compiles(percentile, "sqlite")
def _percentile_sqlite(element, compiler, **kw):
    # An aggregate registered on each SQLite connection (app.db).
    value, fraction = list(element.clauses)
    return f"percentile_cont({compiler.process(value, **kw)}, {compiler.process(fraction, **kw)})"


@dataclass(frozen=True)
class Ctx:
    dialect: str
    #: The network's offset from UTC, hours (Asia/Ho_Chi_Minh keeps one all year).
    hours: int


def _local(ctx: Ctx, column):
    if ctx.dialect == "postgresql":
        return column + text(f"interval '{ctx.hours} hours'")
    return func.datetime(column, f"{ctx.hours:+d} hours")


def _bucket(grain: str):
    """A dimension: the local day, week (from Monday) or month of the source's moment."""
    def expr(ctx: Ctx, when):
        local = _local(ctx, when)
        if ctx.dialect == "postgresql":
            return cast(func.date_trunc(grain, local), Date)
        if grain == "day":
            return func.date(local)
        if grain == "week":
            return func.date(local, "-6 days", "weekday 1")
        return func.date(local, "start of month")
    return expr


def hours_between(ctx: Ctx, later, earlier):
    if ctx.dialect == "postgresql":
        return func.extract("epoch", later - earlier) / 3600.0
    return (func.julianday(later) - func.julianday(earlier)) * 24.0


def _rate(part, whole):
    """A share of 0..1, NULL when the whole is nothing."""
    return cast(part, Float) / func.nullif(whole, 0)


# -- the curated model --------------------------------------------------------------------

@dataclass(frozen=True)
class Dimension:
    label: object
    #: (ctx, the source's moment) -> the column grouped by.
    expr: Callable
    #: The joins it needs (names from the source's ``joins``).
    needs: tuple[str, ...] = ()
    #: "time" (a local day/week/month), "id" (a row of another table), "code" (a word).
    kind: str = "code"
    #: The values a filter on it may take (None: any of its kind).
    values: tuple | None = None
    #: Kept from partners' reports (staff's names, the other hubs' work).
    staff_only: bool = False
    #: Code -> words, for a dimension of kind "code".
    words: dict | None = None


@dataclass(frozen=True)
class Measure:
    label: object
    expr: Callable
    needs: tuple[str, ...] = ()
    #: "count", "rate" (0..1), "hours", "money" (minor units, grouped by currency).
    unit: str = "count"


@dataclass(frozen=True)
class Source:
    label: object
    table: object
    #: The moment a period is counted by (a UTC timestamp column).
    when: object
    #: The partner a row belongs to (a partner's reports are filtered on it).
    partner: object
    #: Name -> (table, on clause), in the order they may be joined.
    joins: dict
    dimensions: dict[str, Dimension]
    measures: dict[str, Measure]
    #: The currency column of the source's money measures.
    currency: object = None
    #: Joins made for every report (the partner is known through them).
    always: tuple[str, ...] = ()


def _col(column):
    return lambda ctx, when: column


TIME = {
    "day": Dimension(_l("Day"), _bucket("day"), kind="time"),
    "week": Dimension(_l("Week"), _bucket("week"), kind="time"),
    "month": Dimension(_l("Month"), _bucket("month"), kind="time"),
}
STATUSES = tuple(s.value for s in Status)
REASONS = tuple(FAILURE_REASONS)

SHIPMENT_JOINS = {"order": (Order, Order.id == Shipment.order_id),
                  "address": (Address, Address.id == Order.dropoff_address_id)}


def _delivered_on_time(ctx: Ctx):
    delivered_day = func.date(_local(ctx, Shipment.delivered_at))
    return and_(Shipment.outcome == "delivered", delivered_day <= Shipment.promised_date)


_DELIVERED = Shipment.outcome == "delivered"


def _transit(ctx: Ctx):
    return hours_between(ctx, Shipment.delivered_at, Shipment.created_at)


SHIPMENTS = Source(
    _l("Shipments"), Shipment, Shipment.created_at, Shipment.partner_id, SHIPMENT_JOINS,
    dimensions={
        **TIME,
        "partner": Dimension(_l("Partner"), _col(Shipment.partner_id), kind="id"),
        "hub": Dimension(_l("Delivering hub"), _col(Shipment.delivery_hub_id), kind="id"),
        "centre": Dimension(_l("Shipping centre"), _col(Shipment.centre_id), kind="id"),
        "service_level": Dimension(_l("Service level"), _col(Order.service_level), ("order",),
                                   values=tuple(SERVICE_LEVELS), words=LEVEL_WORDS),
        "status": Dimension(_l("Status"), _col(Shipment.status), values=STATUSES, words=STATUS_WORDS),
        "route": Dimension(_l("Route"), _col(Shipment.route), values=("direct", "linehaul")),
        "outcome": Dimension(_l("Outcome"), _col(Shipment.outcome), values=("delivered", "returned"),
                             words=STATUS_WORDS),
        "district": Dimension(_l("District"), _col(Address.district), ("order", "address")),
        "city": Dimension(_l("City"), _col(Address.city), ("order", "address")),
    },
    measures={
        "count": Measure(_l("Shipments"), lambda ctx: func.count()),
        "delivered": Measure(_l("Delivered"), lambda ctx: func.count().filter(_DELIVERED)),
        "returned": Measure(_l("Returned"), lambda ctx: func.count().filter(Shipment.outcome == "returned")),
        "on_time_rate": Measure(_l("On time"), lambda ctx: _rate(func.count().filter(_delivered_on_time(ctx)),
                                                                 func.count().filter(_DELIVERED)), unit="rate"),
        "first_attempt_rate": Measure(
            _l("Delivered at the first attempt"),
            lambda ctx: _rate(func.count().filter(and_(_DELIVERED, Shipment.failed_attempts == 0)),
                              func.count().filter(_DELIVERED)), unit="rate"),
        "promise_moved": Measure(_l("Promise moved"),
                                 lambda ctx: func.count().filter(Shipment.promise_revisions > 0)),
        "avg_transit_hours": Measure(_l("Average hours to deliver"),
                                     lambda ctx: func.avg(_transit(ctx)), unit="hours"),
        "p90_transit_hours": Measure(_l("90th percentile hours to deliver"),
                                     lambda ctx: percentile(_transit(ctx), literal(0.9)), unit="hours"),
    },
)

EVENTS = Source(
    _l("Tracking events"), ShipmentEvent, ShipmentEvent.server_time, Shipment.partner_id,
    {"shipment": (Shipment, Shipment.id == ShipmentEvent.shipment_id)},
    dimensions={
        **TIME,
        "partner": Dimension(_l("Partner"), _col(Shipment.partner_id), kind="id"),
        "hub": Dimension(_l("Hub"), _col(ShipmentEvent.hub_id), kind="id"),
        "event": Dimension(_l("Event"), _col(ShipmentEvent.type), values=tuple(e.value for e in Event),
                           words=EVENT_WORDS),
    },
    measures={"count": Measure(_l("Events"), lambda ctx: func.count())},
    always=("shipment",),
)

ATTEMPT_JOINS = {"shipment": (Shipment, Shipment.id == DeliveryAttempt.shipment_id), **SHIPMENT_JOINS}
_FAILED = DeliveryAttempt.outcome == "failed"

ATTEMPTS = Source(
    _l("Delivery attempts"), DeliveryAttempt, DeliveryAttempt.created_at, Shipment.partner_id, ATTEMPT_JOINS,
    dimensions={
        **TIME,
        "partner": Dimension(_l("Partner"), _col(Shipment.partner_id), kind="id"),
        "hub": Dimension(_l("Delivering hub"), _col(Shipment.delivery_hub_id), kind="id"),
        "driver": Dimension(_l("Driver"), _col(DeliveryAttempt.driver_id), kind="id", staff_only=True),
        "failure_reason": Dimension(_l("Failure reason"), _col(DeliveryAttempt.reason_code), values=REASONS,
                                    words={code: reason.staff for code, reason in FAILURE_REASONS.items()}),
        "outcome": Dimension(_l("Outcome"), _col(DeliveryAttempt.outcome), values=("delivered", "failed")),
        "attempt_no": Dimension(_l("Attempt"), _col(DeliveryAttempt.attempt_no), kind="number"),
        "service_level": Dimension(_l("Service level"), _col(Order.service_level), ("order",),
                                   values=tuple(SERVICE_LEVELS), words=LEVEL_WORDS),
        "district": Dimension(_l("District"), _col(Address.district), ("order", "address")),
        "city": Dimension(_l("City"), _col(Address.city), ("order", "address")),
    },
    measures={
        "count": Measure(_l("Attempts"), lambda ctx: func.count()),
        "failed": Measure(_l("Failed"), lambda ctx: func.count().filter(_FAILED)),
        "delivered": Measure(_l("Delivered"), lambda ctx: func.count().filter(DeliveryAttempt.outcome == "delivered")),
        "success_rate": Measure(_l("Success rate"), lambda ctx: _rate(
            func.count().filter(DeliveryAttempt.outcome == "delivered"), func.count()), unit="rate"),
    },
    always=("shipment",),
)

CHARGES = Source(
    _l("Charges"), Charge, Charge.created_at, Charge.partner_id,
    {"shipment": (Shipment, Shipment.id == Charge.shipment_id),
     "order": (Order, Order.id == Shipment.order_id)},
    dimensions={
        **TIME,
        "partner": Dimension(_l("Partner"), _col(Charge.partner_id), kind="id"),
        "kind": Dimension(_l("Fee"), _col(Charge.kind),
                          values=tuple(CHARGE_WORDS), words=CHARGE_WORDS),
        "service_level": Dimension(_l("Service level"), _col(Order.service_level), ("shipment", "order"),
                                   values=tuple(SERVICE_LEVELS), words=LEVEL_WORDS),
        "hub": Dimension(_l("Delivering hub"), _col(Shipment.delivery_hub_id), ("shipment",), kind="id"),
    },
    measures={
        "count": Measure(_l("Charges"), lambda ctx: func.count()),
        "amount": Measure(_l("Amount (VAT included)"), lambda ctx: func.sum(Charge.amount), unit="money"),
        "vat": Measure(_l("VAT"), lambda ctx: func.sum(Charge.vat_amount), unit="money"),
    },
    currency=Charge.currency,
)

COD = Source(
    _l("COD collected"), CodCollection, CodCollection.collected_at, CodCollection.partner_id,
    {"shipment": (Shipment, Shipment.id == CodCollection.shipment_id)},
    dimensions={
        **TIME,
        "partner": Dimension(_l("Partner"), _col(CodCollection.partner_id), kind="id"),
        "driver": Dimension(_l("Driver"), _col(CodCollection.driver_id), kind="id", staff_only=True),
        "method": Dimension(_l("Method"), _col(CodCollection.method), values=("cash", "card", "transfer")),
        "hub": Dimension(_l("Delivering hub"), _col(Shipment.delivery_hub_id), ("shipment",), kind="id"),
    },
    measures={
        "count": Measure(_l("Collections"), lambda ctx: func.count()),
        "due": Measure(_l("Due"), lambda ctx: func.sum(CodCollection.amount_due), unit="money"),
        "collected": Measure(_l("Collected"), lambda ctx: func.sum(CodCollection.amount_collected), unit="money"),
        "difference": Measure(_l("Difference"), lambda ctx: func.sum(CodCollection.amount_collected
                                                                     - CodCollection.amount_due), unit="money"),
        "remitted": Measure(_l("Remitted"), lambda ctx: func.coalesce(func.sum(CodCollection.amount_collected).filter(
            CodCollection.remittance_id.is_not(None)), 0), unit="money"),
    },
    currency=CodCollection.currency,
)

_RESOLVED = Case.resolved_at.is_not(None)

CASES = Source(
    _l("Cases"), Case, Case.created_at, Case.partner_id, {},
    dimensions={
        **TIME,
        "partner": Dimension(_l("Partner"), _col(Case.partner_id), kind="id"),
        "type": Dimension(_l("Type"), _col(Case.type), values=tuple(cases.TYPES), words=cases.TYPE_WORDS),
        "priority": Dimension(_l("Priority"), _col(Case.priority), values=tuple(cases.PRIORITY_WORDS),
                              words=cases.PRIORITY_WORDS),
        "queue": Dimension(_l("Queue"), _col(Case.queue), staff_only=True, values=cases.QUEUES,
                           words=cases.QUEUE_WORDS),
        "status": Dimension(_l("Status"), _col(Case.status), values=cases.STATUSES, words=cases.STATUS_WORDS),
        "opened_via": Dimension(_l("Opened via"), _col(Case.opened_via)),
    },
    measures={
        "count": Measure(_l("Cases"), lambda ctx: func.count()),
        "resolved": Measure(_l("Resolved"), lambda ctx: func.count().filter(_RESOLVED)),
        "late_response": Measure(_l("First response late"), lambda ctx: func.count().filter(
            Case.first_response_at > Case.first_response_due)),
        "avg_resolution_hours": Measure(_l("Average hours to resolve"), lambda ctx: func.avg(
            hours_between(ctx, Case.resolved_at, Case.created_at)), unit="hours"),
        "p90_resolution_hours": Measure(_l("90th percentile hours to resolve"), lambda ctx: percentile(
            hours_between(ctx, Case.resolved_at, Case.created_at), literal(0.9)), unit="hours"),
    },
)

SOURCES: dict[str, Source] = {"shipments": SHIPMENTS, "events": EVENTS, "attempts": ATTEMPTS,
                              "charges": CHARGES, "cod": COD, "cases": CASES}

#: What a dimension of kind "id" names, and the column that names it.
NAMED = {"partner": (Partner, Partner.name), "hub": (Hub, Hub.name), "centre": (Hub, Hub.name),
         "driver": (Driver, Driver.name)}

#: The longest period a report may cover, days.
MAX_DAYS = 400
#: The most rows a report returns (the chart and the table; exports the same).
MAX_ROWS = 10_000
CHARTS = ("bar", "line", "table")


# -- a report, as asked -------------------------------------------------------------------

@dataclass
class Spec:
    source: str
    measures: list[str]
    dimensions: list[str] = field(default_factory=list)
    #: Dimension name -> the values kept (any of them).
    filters: dict[str, list] = field(default_factory=dict)
    start: date | None = None
    end: date | None = None
    chart: str = "bar"

    def to_json(self) -> dict:
        return {"source": self.source, "measures": list(self.measures), "dimensions": list(self.dimensions),
                "filters": {k: list(v) for k, v in self.filters.items()},
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None, "chart": self.chart}


def last_month(today: date) -> tuple[date, date]:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def parse(data: dict, *, partner_scoped: bool = False, today: date | None = None) -> Spec:
    """A ``Spec`` from a report's fields (JSON, a saved report, the builder's form): every
    name checked against the model. Raises ReportError saying which field is wrong."""
    if not isinstance(data, dict):
        raise ReportError("a report is an object of fields")
    unknown = set(data) - {"source", "measures", "dimensions", "filters", "start", "end", "chart"}
    if unknown:
        raise ReportError(f"unknown field: {', '.join(sorted(unknown))}")
    name = data.get("source")
    if name not in SOURCES:
        raise ReportError(f"source must be one of {', '.join(SOURCES)}")
    source = SOURCES[name]
    measures = _names(data.get("measures"), "measures", source.measures)
    if not measures:
        raise ReportError("choose at least one measure")
    dimensions = _names(data.get("dimensions") or [], "dimensions", source.dimensions)
    if len(dimensions) > 3:
        raise ReportError("a report groups by at most three dimensions")
    if len([d for d in dimensions if source.dimensions[d].kind == "time"]) > 1:
        raise ReportError("group by one of day, week or month, not several")
    filters = _filters(data.get("filters") or {}, source)
    if partner_scoped:
        hidden = [d for d in [*dimensions, *filters] if source.dimensions[d].staff_only]
        if hidden:
            raise ReportError(f"not available in a partner's report: {', '.join(sorted(set(hidden)))}")
    default_start, default_end = last_month(today or clock.today())
    start = _day(data.get("start"), "start") or default_start
    end = _day(data.get("end"), "end") or default_end
    if end < start:
        raise ReportError("end must be on or after start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ReportError(f"a report covers at most {MAX_DAYS} days")
    chart = data.get("chart") or "bar"
    if chart not in CHARTS:
        raise ReportError(f"chart must be one of {', '.join(CHARTS)}")
    return Spec(name, measures, dimensions, filters, start, end, chart)


def _names(value, what: str, allowed: dict) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ReportError(f"{what} must be a list of names")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise ReportError(f"unknown {what[:-1]}: {', '.join(unknown)} (one of {', '.join(allowed)})")
    return list(dict.fromkeys(value))


def _filters(value, source: Source) -> dict[str, list]:
    if not isinstance(value, dict):
        raise ReportError("filters must map a dimension to its values")
    out = {}
    for name, values in value.items():
        dim = source.dimensions.get(name)
        if dim is None:
            raise ReportError(f"unknown filter: {name} (one of {', '.join(source.dimensions)})")
        if dim.kind == "time":
            raise ReportError(f"{name} is filtered by the period (start and end)")
        if not isinstance(values, list):
            values = [values]
        if not values:
            continue
        if len(values) > 200:
            raise ReportError(f"a filter on {name} keeps at most 200 values")
        if dim.kind in ("id", "number"):
            try:
                values = [int(v) for v in values]
            except (TypeError, ValueError):
                raise ReportError(f"{name} must be given as whole numbers (ids)") from None
        else:
            values = [str(v) for v in values]
            if dim.values is not None:
                wrong = [v for v in values if v not in dim.values]
                if wrong:
                    raise ReportError(f"{name} cannot be {', '.join(wrong)} (one of {', '.join(dim.values)})")
        out[name] = values
    return out


def _day(value, what: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ReportError(f"{what} must be a date, YYYY-MM-DD") from None


# -- the query ------------------------------------------------------------------------------

@dataclass
class Column:
    name: str
    label: object
    #: "time", "id", "code", "number" for a dimension; a measure's unit; "currency".
    kind: str
    measure: bool
    words: dict | None = None


@dataclass
class Result:
    spec: Spec
    columns: list[Column]
    rows: list[list]
    #: Names of the rows of "id" dimensions: {dimension: {id: name}}.
    names: dict[str, dict]
    #: More rows matched than a report holds.
    truncated: bool = False
    seconds: float = 0.0

    def label(self, col: Column, value):
        if value is None:
            return "—"
        if col.kind == "id":
            return self.names.get(col.name, {}).get(value, f"#{value}")
        if col.words and value in col.words:
            return str(col.words[value])
        return value


def statement(spec: Spec, *, dialect: str, partner_id: int | None = None, hours: int | None = None):
    """The SELECT that makes ``spec``'s figures (built from the model only)."""
    source = SOURCES[spec.source]
    if hours is None:
        hours = int(clock.local().utcoffset().total_seconds() // 3600)
    ctx = Ctx(dialect, hours)
    needs: list[str] = list(source.always)
    dims = [source.dimensions[d] for d in spec.dimensions]
    for dim in dims + [source.dimensions[f] for f in spec.filters]:
        needs += dim.needs
    for m in spec.measures:
        needs += source.measures[m].needs
    columns = [d.expr(ctx, source.when).label(name) for name, d in zip(spec.dimensions, dims)]
    money = any(source.measures[m].unit == "money" for m in spec.measures)
    if money:
        columns.append(source.currency.label("currency"))
    group_by = list(columns)
    columns += [source.measures[m].expr(ctx).label(m) for m in spec.measures]
    stmt = select(*columns).select_from(source.table)
    for name, (table, on) in source.joins.items():
        if name in needs:
            stmt = stmt.join(table, on)
    start = datetime.combine(spec.start, datetime.min.time(), clock.network_zone())
    end = datetime.combine(spec.end + timedelta(days=1), datetime.min.time(), clock.network_zone())
    stmt = stmt.where(source.when >= start, source.when < end)
    for name, values in spec.filters.items():
        stmt = stmt.where(source.dimensions[name].expr(ctx, source.when).in_(values))
    if partner_id is not None:
        stmt = stmt.where(source.partner == partner_id)
    if group_by:
        stmt = stmt.group_by(*group_by)
    time_dims = [i for i, d in enumerate(dims) if d.kind == "time"]
    if time_dims:
        stmt = stmt.order_by(*[group_by[i] for i in time_dims], *[c for i, c in enumerate(group_by)
                                                                  if i not in time_dims])
    elif group_by:
        stmt = stmt.order_by(columns[len(group_by)].desc().nulls_last(), *group_by)
    return stmt.limit(MAX_ROWS + 1)


def run(spec: Spec, *, partner_id: int | None = None, session: Session | None = None,
        timeout: float | None = None) -> Result:
    """``spec``'s figures, read within the time limit (on the replica when there is one);
    a partner's report sees only its own rows."""
    timeout = timeout if timeout is not None else _config("WAYBILL_REPORT_TIMEOUT", 30)
    started = time.monotonic()
    with reading(session) as reader:
        dialect = reader.get_bind().dialect.name
        stmt = statement(spec, dialect=dialect, partner_id=partner_id)
        with time_limit(reader, timeout):
            rows = [list(r) for r in reader.execute(stmt).all()]
        source = SOURCES[spec.source]
        truncated = len(rows) > MAX_ROWS
        rows = rows[:MAX_ROWS]
        columns = [Column(d, source.dimensions[d].label, source.dimensions[d].kind, False, source.dimensions[d].words)
                   for d in spec.dimensions]
        if any(source.measures[m].unit == "money" for m in spec.measures):
            columns.append(Column("currency", _l("Currency"), "currency", False))
        columns += [Column(m, source.measures[m].label, source.measures[m].unit, True) for m in spec.measures]
        for row in rows:
            for i, col in enumerate(columns):
                row[i] = _value(col, row[i])
        names = _names_of(reader, columns, rows)
    return Result(spec, columns, rows, names, truncated, time.monotonic() - started)


def _value(col: Column, value):
    if value is None:
        return None
    if col.kind == "time" and isinstance(value, str):
        return date.fromisoformat(value[:10])
    if col.kind == "time" and isinstance(value, datetime):
        return value.date()
    if col.kind in ("rate", "hours"):
        return float(value)
    if col.kind in ("count", "money"):
        return int(value)
    return value


def _names_of(session: Session, columns: list[Column], rows: list[list]) -> dict[str, dict]:
    names = {}
    for i, col in enumerate(columns):
        if col.kind != "id" or col.name not in NAMED:
            continue
        ids = {r[i] for r in rows if r[i] is not None}
        if ids:
            table, name = NAMED[col.name]
            names[col.name] = dict(session.execute(select(table.id, name).where(table.id.in_(ids))).all())
    return names


# -- where and how long --------------------------------------------------------------------

def _config(key: str, default):
    return current_app.config.get(key, default) if has_app_context() else default


@contextmanager
def reading(session: Session | None = None):
    """A session for a report's reads: the given one, else ``db.replica_session()`` (the
    read replica when ``WAYBILL_REPLICA_URL`` is set)."""
    if session is not None:
        yield session
        return
    with db.replica_session() as own:
        yield own


@contextmanager
def time_limit(session: Session, seconds: float):
    """Stops a report's statement after ``seconds``: PostgreSQL's statement_timeout for the
    transaction, SQLite's progress handler. Raises ReportError when it does."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")
        try:
            yield
        except DBAPIError as exc:
            if "statement timeout" in str(exc.orig) or "canceling statement" in str(exc.orig):
                session.rollback()
                raise ReportError(f"the report took longer than {seconds:g} s: "
                                  "shorten the period or group by fewer dimensions") from None
            raise
        finally:
            if connection.in_transaction() and not connection.invalidated:
                try:
                    connection.exec_driver_sql("SET LOCAL statement_timeout = 0")
                except DBAPIError:
                    pass
        return
    raw = connection.connection.driver_connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 20_000)
    try:
        yield
    except DBAPIError as exc:
        if "interrupted" in str(exc.orig):
            raise ReportError(f"the report took longer than {seconds:g} s: "
                              "shorten the period or group by fewer dimensions") from None
        raise
    finally:
        raw.set_progress_handler(None, 0)


def choices(source: str, *, partner_scoped: bool = False) -> dict:
    """The model as the builder's form offers it."""
    src = SOURCES[source]
    return {"measures": {k: m.label for k, m in src.measures.items()},
            "dimensions": {k: d.label for k, d in src.dimensions.items() if not (partner_scoped and d.staff_only)}}



# -- a report in a URL (the builder's form, links, exports) -----------------------------

def from_query(args) -> dict:
    """A report's fields from a query string (a MultiDict): ``source``, ``m`` (measures)
    and ``d`` (dimensions) repeated, ``f_<dimension>`` repeated or comma-separated,
    ``start``, ``end``, ``chart``."""
    source = args.get("source") or "shipments"
    filters = {}
    for key in args:
        if key.startswith("f_"):
            values = [v.strip() for raw in args.getlist(key) for v in raw.split(",") if v.strip()]
            if values:
                filters[key[2:]] = values
    return {"source": source, "measures": args.getlist("m") or ["count"], "dimensions": args.getlist("d"),
            "filters": filters, "start": args.get("start") or None, "end": args.get("end") or None,
            "chart": args.get("chart") or "bar"}


def to_query(spec: Spec) -> list[tuple[str, str]]:
    """``spec`` as query-string pairs that ``from_query`` reads back."""
    pairs = [("source", spec.source)] + [("m", m) for m in spec.measures] + [("d", d) for d in spec.dimensions]
    pairs += [(f"f_{k}", str(v)) for k, values in spec.filters.items() for v in values]
    pairs += [("start", spec.start.isoformat()), ("end", spec.end.isoformat()), ("chart", spec.chart)]
    return pairs
