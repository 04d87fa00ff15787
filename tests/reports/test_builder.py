"""The report builder: its figures equal counts made here independently (rows read plainly
and counted in Python) on a played month; a partner's report holds only its own rows; it
refuses what is not in its model and cannot reach a table outside it; a statement that runs
too long is stopped; a replica, when configured, is where it reads."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.sql.util import find_tables

from app import clock
from app.billing.models import Charge, CodCollection
from app.db import Base, make_engine
from app.delivery.models import DeliveryAttempt
from app.orders.models import Address, Order, Shipment
from app.reports import builder
from app.reports.builder import ReportError, parse, run


def _spec(start, end, **fields):
    return parse({"start": start.isoformat(), "end": end.isoformat(), **fields})


def _local_day(moment):
    return clock.local(moment).date()


def test_shipments_by_day_and_hub_equal_the_rows_counted(session, month):
    _, start, end = month
    result = run(_spec(start, end, source="shipments", measures=["count", "delivered", "returned"],
                       dimensions=["day", "hub"]), session=session)
    rows = session.execute(select(Shipment.created_at, Shipment.delivery_hub_id, Shipment.outcome)).all()
    expected = Counter()
    for created, hub, outcome in rows:
        if start <= _local_day(created) <= end:
            expected[(_local_day(created), hub, "count")] += 1
            expected[(_local_day(created), hub, outcome)] += 1
    got = {}
    for day, hub, count, delivered, returned in result.rows:
        got[(day, hub, "count")], got[(day, hub, "delivered")], got[(day, hub, "returned")] = count, delivered, returned
    assert {k: v for k, v in got.items() if v} == +expected - Counter({k: expected[k] for k in expected if k[2] is None})
    assert sum(r[2] for r in result.rows) == len([r for r in rows if start <= _local_day(r[0]) <= end]) > 0
    assert [r[0] for r in result.rows] == sorted(r[0] for r in result.rows)  # by day
    assert set(result.names["hub"]) == {r[1] for r in result.rows}


def test_failed_attempts_by_reason_and_district_for_one_hub(session, month):
    _, start, end = month
    rows = session.execute(
        select(DeliveryAttempt.created_at, DeliveryAttempt.outcome, DeliveryAttempt.reason_code,
               Shipment.delivery_hub_id, Address.district)
        .join(Shipment, Shipment.id == DeliveryAttempt.shipment_id).join(Order, Order.id == Shipment.order_id)
        .join(Address, Address.id == Order.dropoff_address_id)).all()
    failed = [r for r in rows if r.outcome == "failed" and start <= _local_day(r.created_at) <= end]
    assert failed, "the played month has failed attempts"
    hub = Counter(r.delivery_hub_id for r in failed).most_common(1)[0][0]
    result = run(_spec(start, end, source="attempts", measures=["failed", "count"],
                       dimensions=["failure_reason", "district"], filters={"hub": [hub]}), session=session)
    expected = Counter((r.reason_code, r.district) for r in failed if r.delivery_hub_id == hub)
    assert {(reason, district): n for reason, district, n, _ in result.rows if reason} == dict(expected)
    assert [r[2] for r in result.rows] == sorted((r[2] for r in result.rows), reverse=True)  # most first
    all_at_hub = [r for r in rows if r.delivery_hub_id == hub and start <= _local_day(r.created_at) <= end]
    assert sum(r[3] for r in result.rows) == len(all_at_hub)


def test_rates_durations_and_money_equal_the_rows(session, month):
    _, start, end = month
    result = run(_spec(start, end, source="shipments", dimensions=["partner"],
                       measures=["on_time_rate", "first_attempt_rate", "avg_transit_hours", "p90_transit_hours"]),
                 session=session)
    shipments = [s for s in session.scalars(select(Shipment)) if start <= _local_day(s.created_at) <= end]
    for partner_id, on_time, first, avg_hours, p90 in result.rows:
        mine = [s for s in shipments if s.partner_id == partner_id and s.outcome == "delivered"]
        assert on_time == pytest.approx(sum(_local_day(s.delivered_at) <= s.promised_date for s in mine) / len(mine))
        assert first == pytest.approx(sum(s.failed_attempts == 0 for s in mine) / len(mine))
        hours = sorted((s.delivered_at - s.created_at).total_seconds() / 3600 for s in mine)
        assert avg_hours == pytest.approx(sum(hours) / len(hours), abs=1e-3)
        at = (len(hours) - 1) * 0.9
        low = int(at)
        high = min(low + 1, len(hours) - 1)
        assert p90 == pytest.approx(hours[low] + (hours[high] - hours[low]) * (at - low), abs=1e-3)
    assert max(r[4] for r in result.rows) > 5  # the slow parcels count

    charges = run(_spec(start, end, source="charges", dimensions=["partner"], measures=["amount", "count"]),
                  session=session)
    assert [c.name for c in charges.columns] == ["partner", "currency", "amount", "count"]
    expected = Counter()
    for c in session.scalars(select(Charge)):
        if start <= _local_day(c.created_at) <= end:
            expected[(c.partner_id, c.currency)] += c.amount
    assert {(p, cur): amount for p, cur, amount, _ in charges.rows} == dict(expected) and expected

    cod = run(_spec(start, end, source="cod", measures=["collected", "remitted"]), session=session)
    collections = [c for c in session.scalars(select(CodCollection)) if start <= _local_day(c.collected_at) <= end]
    assert cod.rows == [["VND", sum(c.amount_collected for c in collections),
                         sum(c.amount_collected for c in collections if c.remittance_id)]]
    assert any(c.remittance_id for c in collections)


def test_a_partners_report_holds_only_its_rows(session, month):
    _, start, end = month
    partners = session.scalars(select(Shipment.partner_id).distinct()).all()
    assert len(partners) > 1
    for source, dims in (("shipments", ["partner", "hub"]), ("attempts", ["partner", "failure_reason"]),
                         ("charges", ["partner"]), ("cod", ["partner"]), ("events", ["partner", "event"]),
                         ("cases", ["partner"])):
        spec = parse({"source": source, "measures": ["count"], "dimensions": dims, "start": start.isoformat(),
                      "end": end.isoformat()}, partner_scoped=True)
        everyone = run(spec, session=session)
        for partner in partners:
            mine = run(spec, partner_id=partner, session=session)
            assert {r[0] for r in mine.rows} <= {partner}
            assert sum(r[-1] for r in mine.rows) == sum(r[-1] for r in everyone.rows if r[0] == partner)
    with pytest.raises(ReportError, match="not available in a partner's report: driver"):
        parse({"source": "attempts", "measures": ["count"], "dimensions": ["driver"]}, partner_scoped=True)
    with pytest.raises(ReportError, match="driver"):
        parse({"source": "cod", "measures": ["count"], "filters": {"driver": [1]}}, partner_scoped=True)


@pytest.mark.parametrize("fields, message", [
    ({"source": "users", "measures": ["count"]}, "source must be one of"),
    ({"source": "shipments", "measures": ["count"], "table": "users"}, "unknown field: table"),
    ({"source": "shipments", "measures": ["password_hash"]}, "unknown measure: password_hash"),
    ({"source": "shipments", "measures": ["count"], "dimensions": ["recipient_phone"]}, "unknown dimension"),
    ({"source": "shipments", "measures": ["count"], "dimensions": ["id); drop table shipments; --"]},
     "unknown dimension"),
    ({"source": "shipments", "measures": ["count"], "filters": {"api_key": ["x"]}}, "unknown filter: api_key"),
    ({"source": "shipments", "measures": ["count"], "filters": {"status": ["gone' or 1=1"]}}, "status cannot be"),
    ({"source": "shipments", "measures": ["count"], "filters": {"hub": ["one"]}}, "whole numbers"),
    ({"source": "shipments", "measures": ["count"], "filters": {"day": ["2026-01-01"]}}, "filtered by the period"),
    ({"source": "shipments", "measures": []}, "at least one measure"),
    ({"source": "shipments", "measures": ["count"], "dimensions": ["day", "week"]}, "one of day, week or month"),
    ({"source": "shipments", "measures": ["count"], "start": "2026-13-01"}, "start must be a date"),
    ({"source": "shipments", "measures": ["count"], "start": "2026-02-01", "end": "2026-01-01"}, "on or after"),
    ({"source": "shipments", "measures": ["count"], "start": "2024-01-01", "end": "2026-01-01"}, "at most 400 days"),
    ({"source": "shipments", "measures": ["count"], "chart": "pie3d"}, "chart must be one of"),
])
def test_what_is_not_in_the_model_is_refused(fields, message):
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse(fields, today=clock.today())


def test_no_report_reaches_a_table_outside_its_model():
    """Every measure with every dimension and filter of every source, compiled: the tables it
    reads are the source's own and its joins, on both databases."""
    for name, source in builder.SOURCES.items():
        allowed = {source.table.__table__.name} | {t.__table__.name for t, _ in source.joins.values()}
        for dim in source.dimensions:
            spec = builder.Spec(name, list(source.measures), [dim], filters={}, start=clock.today(),
                                end=clock.today())
            for dialect in ("sqlite", "postgresql"):
                stmt = builder.statement(spec, dialect=dialect, partner_id=1)
                read = {t.name for t in find_tables(stmt, check_columns=True, include_joins=True)
                        if hasattr(t, "name")}
                assert source.table.__table__.name in read and read <= allowed, (name, dim, read - allowed)
    assert {"users", "api_keys", "audit_log"}.isdisjoint(
        {t.__table__.name for s in builder.SOURCES.values() for t, _ in s.joins.values()})


def test_a_statement_past_the_time_limit_is_stopped(session, backend):
    slow = ("select pg_sleep(2)" if backend == "postgresql" else
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < 100000000) "
            "select count(*) from n")
    with pytest.raises(ReportError, match="took longer than 0.2 s"):
        with builder.time_limit(session, 0.2):
            session.execute(text(slow))
    session.rollback()
    with builder.time_limit(session, 5):  # the limit is lifted after: the next statement runs
        assert session.execute(text("select 1")).scalar() == 1


def test_reports_read_from_the_replica_when_one_is_configured(app, session, month, backend, tmp_path):
    if backend != "sqlite":
        pytest.skip("shown once with two SQLite files: a replica that lags holds fewer rows")
    _, start, end = month
    replica = f"sqlite:///{tmp_path / 'replica.db'}"
    engine = make_engine(replica)
    Base.metadata.create_all(engine)  # a replica that has not caught up yet: empty
    engine.dispose()
    spec = _spec(start, end, source="shipments", measures=["count"])
    assert run(spec).rows[0][0] > 0
    app.config["WAYBILL_REPLICA_URL"] = replica
    try:
        assert run(spec).rows == [[0]]
    finally:
        del app.config["WAYBILL_REPLICA_URL"]
        for e in app.extensions.pop("waybill.replica", {}).values():
            e.dispose()


def test_the_default_period_is_last_month():
    today = clock.today()
    spec = parse({"source": "cases", "measures": ["count"]}, today=today)
    assert spec.end == today.replace(day=1) - timedelta(days=1) and spec.start == spec.end.replace(day=1)
