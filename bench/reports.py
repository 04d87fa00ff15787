"""Reports at scale: a million shipments in PostgreSQL with their attempts, books and cases.

The database is the finance one's (a million shipments over 120 days, charges, COD and the
ledger, seeded in SQL) in a database of its own, plus, in SQL: a delivery attempt for every
parcel that went out (one in twelve delivered ones failed once first, for a reason), a case
for one shipment in five hundred and a score for one delivery in fifty. Kept between runs.

Figures (the median of a few runs): last month's report of one partner, of one hub and of
the company; the builder's shipments by day and hub over last month, and failed attempts
by reason and district for one hub; each beside the same run's reference, a plain count of
last month's shipments (what reading the month costs at all)."""
from __future__ import annotations

import statistics
import time
from datetime import timedelta

from sqlalchemy import text

REPORTS_SEED = [
    # A failed first attempt for one delivered parcel in twelve, and for each still failed.
    """INSERT INTO delivery_attempts (shipment_id, attempt_no, outcome, reason_code, driver_id, event_id, created_at)
       SELECT s.id, 1, 'failed',
              (ARRAY['not_home', 'refused', 'wrong_address', 'access_restricted', 'business_closed'])[1 + s.id % 5],
              (SELECT array_agg(id ORDER BY id) FROM drivers)[1 + (s.id % (SELECT count(*) FROM drivers))::int],
              e.id, e.server_time - interval '1 day'
       FROM shipments s JOIN shipment_events e ON e.shipment_id = s.id AND e.seq = 2
       WHERE (s.outcome = 'delivered' AND s.id % 12 = 0) OR s.status = 'delivery_failed'""",
    """INSERT INTO delivery_attempts (shipment_id, attempt_no, outcome, reason_code, driver_id, event_id, created_at)
       SELECT s.id, CASE WHEN s.id % 12 = 0 THEN 2 ELSE 1 END, 'delivered', NULL,
              (SELECT array_agg(id ORDER BY id) FROM drivers)[1 + (s.id % (SELECT count(*) FROM drivers))::int],
              e.id, e.server_time
       FROM shipments s JOIN shipment_events e ON e.shipment_id = s.id AND e.seq = 2
       WHERE s.outcome = 'delivered'""",
    """UPDATE shipments SET failed_attempts = 1 WHERE outcome = 'delivered' AND id % 12 = 0""",
    """INSERT INTO cases (type, status, priority, queue, subject, shipment_id, partner_id, opened_via,
                         first_response_due, resolution_due, first_response_at, resolved_at, created_at, updated_at)
       SELECT 'late', CASE WHEN s.id % 1000 = 0 THEN 'open' ELSE 'resolved' END, 'normal', 'customer_service',
              'Parcel late', s.id, s.partner_id, 'auto', s.created_at + interval '4 days 4 hours',
              s.created_at + interval '6 days', s.created_at + interval '4 days 2 hours',
              CASE WHEN s.id % 1000 = 0 THEN NULL ELSE s.created_at + interval '5 days' END,
              s.created_at + interval '4 days', s.created_at + interval '4 days'
       FROM shipments s WHERE s.id % 500 = 0""",
    """INSERT INTO csat_responses (shipment_id, partner_id, score, created_at, updated_at)
       SELECT s.id, s.partner_id, 1 + s.id % 5, s.delivered_at, s.delivered_at
       FROM shipments s WHERE s.outcome = 'delivered' AND s.id % 50 = 0""",
    "VACUUM ANALYZE delivery_attempts",
    "VACUUM ANALYZE cases",
    "VACUUM ANALYZE csat_responses",
    "VACUUM ANALYZE shipments",
]


def _seeded(db) -> bool:
    from bench.pages import has_rows

    return has_rows(db, "delivery_attempts")


def seed_reports(app, emit, n: int) -> None:
    from bench.pages import run_sql

    emit("reports_seed_seconds", run_sql(app, REPORTS_SEED), "s", "postgresql", shipments=n)


def _timed(fn, rounds: int) -> tuple[float, object]:
    fn()  # warm: the first run reads from disk
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_reports(url: str, make_app, fresh_database, emit, *, n: int = 1_000_000, reseed: bool = False,
                  rounds: int = 5) -> None:
    from app import clock
    from app.cli import upgrade_database
    from app.db import db
    from app.reports import builder, monthly
    from bench.finance import _seeded as books_seeded
    from bench.finance import seed_books
    from bench.pages import _count, seed

    app = make_app(url)
    with app.app_context():
        have, books, attempts = _count(db), books_seeded(db), _seeded(db)
    if reseed or have != n:
        seed(app, fresh_database, n, emit)
        books = attempts = False
    else:
        with app.app_context():
            upgrade_database()
    if not books:
        seed_books(app, emit, n)
    if not attempts:
        seed_reports(app, emit, n)
    with app.app_context():
        session = db.session
        start, end = builder.last_month(clock.today())
        partner = session.execute(text("SELECT min(id) + 1 FROM partners")).scalar()
        hub = session.execute(text("SELECT max(id) FROM hubs")).scalar()
        extra = {"shipments": n, "period": start.strftime("%Y-%m")}

        def month_count():
            return session.execute(text(
                "SELECT count(*) FROM shipments WHERE created_at >= :a AND created_at < :b"),
                {"a": start, "b": end + timedelta(days=1)}).scalar()

        seconds, in_month = _timed(month_count, rounds)
        emit("reports_reference_count_month_s", seconds, "s", "postgresql", **extra, rows=in_month)
        seconds, report = _timed(lambda: monthly.partner_report(session, partner, start, end), rounds)
        emit("reports_monthly_partner_s", seconds, "s", "postgresql", **extra,
             partner_shipments=report.figures[0].value)
        seconds, report = _timed(lambda: monthly.hub_report(session, hub, start, end), rounds)
        emit("reports_monthly_hub_s", seconds, "s", "postgresql", **extra, attempts=report.figures[1].value)
        seconds, report = _timed(lambda: monthly.company_report(session, start, end), rounds)
        emit("reports_monthly_company_s", seconds, "s", "postgresql", **extra)
        by_day_hub = builder.parse({"source": "shipments", "measures": ["count", "delivered", "on_time_rate"],
                                    "dimensions": ["day", "hub"], "start": start.isoformat(),
                                    "end": end.isoformat()})
        seconds, result = _timed(lambda: builder.run(by_day_hub, session=session), rounds)
        emit("reports_adhoc_day_by_hub_s", seconds, "s", "postgresql", **extra, groups=len(result.rows),
             counted=sum(r[2] for r in result.rows))
        failed = builder.parse({"source": "attempts", "measures": ["failed"],
                                "dimensions": ["failure_reason", "district"],
                                "filters": {"hub": [hub], "outcome": ["failed"]}, "start": start.isoformat(),
                                "end": end.isoformat()})
        seconds, result = _timed(lambda: builder.run(failed, session=session), rounds)
        emit("reports_adhoc_failed_by_reason_district_s", seconds, "s", "postgresql", **extra,
             groups=len(result.rows))
        session.rollback()
