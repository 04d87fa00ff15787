"""Finance at scale: a million shipments in PostgreSQL with their books.

The database is the page-speed one's (a million shipments over 120 days, seeded in SQL)
in a database of its own, plus, in SQL: a charge for every delivered or returned
shipment, a COD collection for every delivered one with COD, their ledger entries
(fee charged, COD collected), and for every month before the last one its invoices
(paid), its COD remittances (paid) and their entries. Last month is left to invoice.
Kept between runs (``--reseed`` makes it again).

Figures (each the median of a few runs, rolled back): the month's invoice run for every
partner, the close's checks, a partner's statement of the month, the trial balance.
"""
from __future__ import annotations

import statistics
import time
from datetime import date, timedelta

from sqlalchemy import text

#: In SQL, after the shipments: the books. Triggers are off while it runs (the entries go
#: in sealed, as ``post`` leaves them); :last is the first day of last month.
FINANCE_SEED = [
    "ALTER TABLE journal_entries DISABLE TRIGGER USER",
    "ALTER TABLE journal_lines DISABLE TRIGGER USER",
    """INSERT INTO charges (id, partner_id, shipment_id, kind, amount, vat_amount, currency, rate_card_id, breakdown,
                           created_at)
       SELECT s.id, s.partner_id, s.id, CASE WHEN s.outcome = 'returned' THEN 'return_fee' ELSE 'delivery_fee' END,
              32400, 2400, 'VND', (SELECT min(id) FROM rate_cards),
              CAST(CASE WHEN s.outcome = 'returned' THEN '{"lines": [["return", 30000]], "vat": 2400, "total": 32400}'
                   ELSE '{"lines": [["freight", 25000], ["cod_fee", 5000]], "vat": 2400, "total": 32400}' END AS json),
              coalesce(s.delivered_at, s.created_at + interval '2 days')
       FROM shipments s WHERE s.outcome IN ('delivered', 'returned')""",
    """INSERT INTO cod_collections (shipment_id, partner_id, amount_due, amount_collected, currency, method, driver_id,
                                   collected_at, created_at)
       SELECT s.id, s.partner_id, o.cod_amount, o.cod_amount, 'VND', 'cash',
              (SELECT array_agg(id ORDER BY id) FROM drivers)[1 + (s.id % (SELECT count(*) FROM drivers))::int],
              s.delivered_at, s.delivered_at
       FROM shipments s JOIN orders o ON o.id = s.order_id
       WHERE s.outcome = 'delivered' AND o.cod_amount > 0""",
    # Fee charged: 1305 partner / 4100, 4300 / 2200; COD collected: 1100 driver / 2100 partner.
    """INSERT INTO journal_entries (id, entry_date, period, source_type, source_id, rule, memo, actor, created_at,
                                   sealed_at)
       SELECT c.id, (c.created_at + interval '7 hours')::date, to_char(c.created_at + interval '7 hours', 'YYYY-MM'),
              'charge', c.id::text, 'fee_charged', '', 'bench', c.created_at, c.created_at
       FROM charges c""",
    """INSERT INTO journal_lines (entry_id, account, party_type, party_id, amount, currency, entry_date, rule)
       SELECT e.id, l.account, l.party_type, l.party_id, l.amount, 'VND', e.entry_date, e.rule
       FROM journal_entries e JOIN charges c ON c.id = e.id
       CROSS JOIN LATERAL (VALUES ('1305', 'partner', c.partner_id, 32400),
                                  (CASE WHEN c.kind = 'return_fee' THEN '4200' ELSE '4100' END, NULL, NULL,
                                   CASE WHEN c.kind = 'return_fee' THEN -30000 ELSE -25000 END),
                                  ('4300', NULL, NULL, CASE WHEN c.kind = 'return_fee' THEN 0 ELSE -5000 END),
                                  ('2200', NULL, NULL, -2400)) AS l(account, party_type, party_id, amount)
       WHERE l.amount <> 0""",
    """INSERT INTO journal_entries (id, entry_date, period, source_type, source_id, rule, memo, actor, created_at,
                                   sealed_at)
       SELECT 2000000 + k.id, (k.collected_at + interval '7 hours')::date,
              to_char(k.collected_at + interval '7 hours', 'YYYY-MM'), 'cod_collection', k.id::text, 'cod_collected',
              '', 'bench', k.collected_at, k.collected_at
       FROM cod_collections k""",
    """INSERT INTO journal_lines (entry_id, account, party_type, party_id, amount, currency, entry_date, rule)
       SELECT 2000000 + k.id, '1100', 'driver', k.driver_id, k.amount_due, 'VND',
              (k.collected_at + interval '7 hours')::date, 'cod_collected' FROM cod_collections k
       UNION ALL SELECT 2000000 + k.id, '2100', 'partner', k.partner_id, -k.amount_due, 'VND',
              (k.collected_at + interval '7 hours')::date, 'cod_collected' FROM cod_collections k""",
    # Every month before last: an invoice per partner (paid), a remittance per partner (paid).
    """CREATE TEMP TABLE months AS
       SELECT DISTINCT partner_id, date_trunc('month', created_at + interval '7 hours')::date AS month
       FROM charges WHERE created_at + interval '7 hours' < :last""",
    """INSERT INTO invoices (id, number, kind, partner_id, period_start, period_end, issued_on, due_on, currency,
                            net_amount, vat_amount, total_amount, created_at)
       SELECT row_number() OVER (ORDER BY month, partner_id), 'INV-B-' || lpad(row_number() OVER
              (ORDER BY month, partner_id)::text, 6, '0'), 'invoice', partner_id, month,
              (month + interval '1 month - 1 day')::date, (month + interval '1 month')::date,
              (month + interval '1 month 15 days')::date, 'VND', 0, 0, 0, month + interval '1 month'
       FROM months""",
    """UPDATE charges c SET invoice_id = i.id FROM invoices i
       WHERE i.partner_id = c.partner_id AND i.period_start = date_trunc('month', c.created_at + interval '7 hours')::date""",
    """UPDATE invoices i SET total_amount = t.total, vat_amount = t.vat, net_amount = t.total - t.vat
       FROM (SELECT invoice_id, sum(amount) AS total, sum(vat_amount) AS vat FROM charges
             WHERE invoice_id IS NOT NULL GROUP BY invoice_id) t WHERE t.invoice_id = i.id""",
    """INSERT INTO payments (id, partner_id, received_on, amount, currency, reference, source, created_at)
       SELECT id, partner_id, due_on, total_amount, 'VND', number, 'manual', due_on FROM invoices""",
    """INSERT INTO payment_allocations (invoice_id, payment_id, amount, created_at)
       SELECT id, id, total_amount, due_on FROM invoices""",
    """INSERT INTO journal_entries (id, entry_date, period, source_type, source_id, rule, memo, actor, created_at,
                                   sealed_at)
       SELECT 3000000 + id, issued_on, to_char(issued_on, 'YYYY-MM'), 'invoice', id::text, 'invoice_issued',
              'invoice ' || number, 'bench', issued_on, issued_on FROM invoices
       UNION ALL
       SELECT 3100000 + id, received_on, to_char(received_on, 'YYYY-MM'), 'payment', id::text, 'payment_received',
              'payment received', 'bench', received_on, received_on FROM payments""",
    """INSERT INTO journal_lines (entry_id, account, party_type, party_id, amount, currency, entry_date, rule)
       SELECT 3000000 + id, '1300', 'partner', partner_id, total_amount, 'VND', issued_on, 'invoice_issued'
       FROM invoices
       UNION ALL SELECT 3000000 + id, '1305', 'partner', partner_id, -total_amount, 'VND', issued_on,
                        'invoice_issued' FROM invoices
       UNION ALL SELECT 3100000 + id, '1200', NULL, NULL, amount, 'VND', received_on, 'payment_received'
       FROM payments
       UNION ALL SELECT 3100000 + id, '1300', 'partner', partner_id, -amount, 'VND', received_on,
                        'payment_received' FROM payments""",
    """INSERT INTO remittances (id, number, partner_id, currency, delivered_until, shipments, cod_amount, netted_amount,
                               payout_amount, status, created_at, paid_at, bank_reference)
       SELECT row_number() OVER (ORDER BY month, partner_id), 'REM-B-' || lpad(row_number() OVER
              (ORDER BY month, partner_id)::text, 6, '0'), partner_id, 'VND',
              (month + interval '1 month - 1 day')::date, 0, 0, 0, 0, 'paid', month + interval '1 month 2 days',
              month + interval '1 month 2 days', 'bench' FROM months""",
    """UPDATE cod_collections k SET remittance_id = r.id FROM remittances r
       WHERE r.partner_id = k.partner_id
         AND r.delivered_until = (date_trunc('month', k.collected_at + interval '7 hours') + interval '1 month - 1 day')::date""",
    """UPDATE remittances r SET shipments = t.n, cod_amount = t.total, payout_amount = t.total
       FROM (SELECT remittance_id, count(*) AS n, sum(amount_due) AS total FROM cod_collections
             WHERE remittance_id IS NOT NULL GROUP BY remittance_id) t WHERE t.remittance_id = r.id""",
    """INSERT INTO journal_entries (id, entry_date, period, source_type, source_id, rule, memo, actor, created_at,
                                   sealed_at)
       SELECT 3200000 + id, paid_at::date, to_char(paid_at, 'YYYY-MM'), 'remittance', id::text, 'remittance_paid',
              'COD remitted', 'bench', paid_at, paid_at FROM remittances""",
    """INSERT INTO journal_lines (entry_id, account, party_type, party_id, amount, currency, entry_date, rule)
       SELECT 3200000 + id, '2100', 'partner', partner_id, payout_amount, 'VND', paid_at::date, 'remittance_paid'
       FROM remittances
       UNION ALL SELECT 3200000 + id, '1200', NULL, NULL, -payout_amount, 'VND', paid_at::date, 'remittance_paid'
       FROM remittances""",
    "DROP TABLE months",
    "SELECT setval(pg_get_serial_sequence('charges', 'id'), (SELECT max(id) FROM charges))",
    "SELECT setval(pg_get_serial_sequence('journal_entries', 'id'), (SELECT max(id) FROM journal_entries))",
    "SELECT setval(pg_get_serial_sequence('invoices', 'id'), (SELECT max(id) FROM invoices))",
    "SELECT setval(pg_get_serial_sequence('payments', 'id'), (SELECT max(id) FROM payments))",
    "SELECT setval(pg_get_serial_sequence('remittances', 'id'), (SELECT max(id) FROM remittances))",
    "INSERT INTO accounting_periods (period) SELECT DISTINCT period FROM journal_entries ON CONFLICT DO NOTHING",
    "ALTER TABLE journal_entries ENABLE TRIGGER USER",
    "ALTER TABLE journal_lines ENABLE TRIGGER USER",
    "VACUUM ANALYZE",
]


def _seeded(db) -> bool:
    from bench.pages import has_rows

    return has_rows(db, "charges")


def seed_books(app, emit, n: int) -> None:
    from bench.pages import run_sql

    last = (date.today().replace(day=1) - timedelta(days=1)).replace(day=1)
    seconds = run_sql(app, [s.replace("%", "%%").replace(":last", "%(last)s") for s in FINANCE_SEED], {"last": last})
    emit("finance_seed_seconds", seconds, "s", "postgresql", shipments=n)


def _timed(fn, rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench_finance(url: str, make_app, fresh_database, emit, *, n: int = 1_000_000, reseed: bool = False) -> None:
    from app import clock
    from app.billing import invoices, ledger, payments, periods
    from app.db import db
    from bench.pages import _count, seed

    app = make_app(url)
    with app.app_context():
        have, books = _count(db), _seeded(db)
    if reseed or have != n:
        seed(app, fresh_database, n, emit)
        books = False
    if not books:
        seed_books(app, emit, n)
    with app.app_context():
        session = db.session
        last_month = ledger.period_of(clock.today().replace(day=1) - timedelta(days=1))
        start, end = periods.bounds(last_month)
        lines = session.execute(text("SELECT count(*) FROM journal_lines")).scalar()
        session.rollback()
        extra = {"shipments": n, "journal_lines": lines}
        # The months before last are closed, as a courier's would be (once: a close is kept).
        first = session.execute(text("SELECT min(period) FROM journal_entries")).scalar()
        month, closes = first, []
        while month < last_month:
            if not periods.is_closed(session, month):
                began = time.perf_counter()
                result = periods.close(session, month, user_id=None)
                assert result.closed, [c for c in result.checks if not c.ok]
                session.commit()
                closes.append(time.perf_counter() - began)
            month = ledger.period_of(periods.bounds(month)[1])
        if closes:
            emit("finance_close_month_s", statistics.median(closes), "s", "postgresql", months=len(closes),
                 target="checks < 30 s", **extra)

        seconds, balances = _timed(lambda: (ledger.trial_balance(session), session.rollback())[0], 3)
        assert sum(balances.values()) == 0
        emit("finance_trial_balance_s", seconds, "s", "postgresql", target="< 1 s", **extra)

        seconds, found = _timed(lambda: (payments.statement(session, 1, start, end - timedelta(days=1),
                                                            currency="VND"), session.rollback())[0], 5)
        emit("finance_statement_ms", seconds * 1000, "ms", "postgresql", target="< 300 ms", lines=len(found.lines),
             **extra)

        seconds, checks = _timed(lambda: (periods.checks(session, last_month), session.rollback())[0], 3)
        emit("finance_close_checks_s", seconds, "s", "postgresql", target="< 30 s",
             blocking=[c.name for c in checks if not c.ok], **extra)

        def invoice_run():
            result = invoices.run(session, last_month)
            made = [(i.number, i.total_amount) for i in result.invoices]
            session.rollback()
            return made

        seconds, made = _timed(invoice_run, 3)
        charges = session.execute(text("SELECT count(*) FROM charges WHERE invoice_id IS NULL AND created_at < :e"),
                                  {"e": periods.utc_bounds(last_month)[1]}).scalar()
        session.rollback()
        emit("finance_invoice_run_s", seconds, "s", "postgresql", target="< 60 s", invoices=len(made),
             charges=charges, **extra)
