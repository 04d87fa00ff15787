"""Console page speed with a million shipments in PostgreSQL.

The database is seeded once in SQL (a million orders over 120 days: most closed, the
last days spread over every open state, about three events each) and kept: a later run
finds it and skips the seeding (``--reseed`` to make it again). Pages are then rendered
on the server, signed in as a dispatcher, through the app's own WSGI stack (the test
client: no network, no browser) — the time a request spends in Waybill and the database.
"""
from __future__ import annotations

import re
import statistics
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import text

PASSWORD = "bench pages password"
DAYS = 120

#: The seed, in SQL. :n shipments; :now the moment "today" is measured from.
SEED = [
    # One row per shipment with its random draws, used by every table below.
    """CREATE TEMP TABLE seed AS
       SELECT i, random() AS u, random() AS v, random() AS w,
              :now - (random() * :days) * interval '1 day' AS created_at
       FROM generate_series(1, :n) AS i""",
    """ALTER TABLE seed ADD COLUMN age float, ADD COLUMN status text, ADD COLUMN partner_id int,
       ADD COLUMN hub_id int, ADD COLUMN location_id int""",
    """UPDATE seed SET age = extract(epoch FROM (:now - created_at)) / 86400,
       partner_id = (SELECT array_agg(id ORDER BY id) FROM partners)[1 + (i % 3)],
       hub_id = (SELECT array_agg(id ORDER BY id) FROM hubs)[1 + (i % (SELECT count(*) FROM hubs))::int],
       location_id = (SELECT array_agg(id ORDER BY id) FROM pickup_locations)[1 + (i % (SELECT count(*) FROM pickup_locations))::int]""",
    # Old shipments have ended; the last four days' are on their way.
    """UPDATE seed SET status = CASE
         WHEN age > 4 THEN CASE WHEN u < 0.93 THEN 'closed' WHEN u < 0.95 THEN 'cancelled'
                                WHEN u < 0.99 THEN 'closed' WHEN u < 0.994 THEN 'on_hold'
                                WHEN u < 0.998 THEN 'delivery_failed' ELSE 'lost' END
         ELSE (ARRAY['created', 'pickup_scheduled', 'picked_up', 'at_shipping_centre', 'in_transit',
                     'at_local_hub', 'out_for_delivery', 'delivered', 'delivery_failed', 'on_hold',
                     'closed'])[1 + floor(u * 11)::int] END""",
    """INSERT INTO addresses (id, line1, line2, district, city, postal_code, country, lat, lon, located_by)
       SELECT 1000 + i, (1 + i % 300) || ' Nguyen Van Linh', '', 'District ' || (1 + i % 12), 'Ho Chi Minh City',
              '', 'VN', 10.70 + v * 0.15, 106.62 + w * 0.15, 'given' FROM seed""",
    """INSERT INTO customers (id, phone, name, email, notify_email, notify_sms, created_at)
       SELECT 1000 + i, '+8490' || lpad(i::text, 7, '0'), 'Customer ' || i, NULL, true, true, created_at
       FROM seed WHERE i <= :n * 0.4""",
    """INSERT INTO orders (id, partner_id, reference, service_level, pickup_location_id, customer_id,
                          dropoff_address_id, recipient_name, recipient_phone, recipient_email, cod_amount,
                          cod_currency, created_at, updated_at)
       SELECT i, partner_id, 'SO-' || lpad(i::text, 8, '0'), 'standard', location_id,
              1000 + 1 + (i % floor(:n * 0.4)::int), 1000 + i, 'Customer ' || (1 + i % floor(:n * 0.4)::int),
              '+8490' || lpad((1 + i % floor(:n * 0.4)::int)::text, 7, '0'), NULL,
              CASE WHEN v < 0.6 THEN 250000 ELSE 0 END, CASE WHEN v < 0.6 THEN 'VND' END, created_at, created_at
       FROM seed""",
    """INSERT INTO parcels (order_id, seq, weight_grams, length_cm, width_cm, height_cm, declared_value_amount,
                           declared_value_currency)
       SELECT i, 1, 500 + floor(w * 3000)::int, 30, 20, 10, 200000, 'VND' FROM seed""",
    """INSERT INTO shipments (id, order_id, partner_id, tracking_number, status, version, held_from, hold_reason,
                             failed_attempts, outcome, last_event_seq, centre_id, delivery_hub_id, route,
                             planned_legs, distance_km, billable_grams, quoted_fee_amount, quoted_fee_currency,
                             promised_date, delivered_at, created_at, updated_at)
       SELECT i, i, partner_id, 'WB' || lpad((i::bigint * 7919)::text, 11, '0'), status, 1,
              CASE WHEN status = 'on_hold' THEN 'at_local_hub' END,
              CASE WHEN status = 'on_hold' THEN 'address problem' END,
              CASE WHEN status = 'delivery_failed' THEN 1 ELSE 0 END,
              CASE WHEN status = 'closed' THEN CASE WHEN u < 0.99 AND u >= 0.95 THEN 'returned' ELSE 'delivered' END
                   WHEN status = 'delivered' THEN 'delivered' END,
              CASE WHEN status = 'created' THEN 1 WHEN status IN ('delivered', 'closed') THEN 3 ELSE 2 END,
              (SELECT min(id) FROM hubs), hub_id,
              CASE WHEN hub_id = (SELECT min(id) FROM hubs) THEN 'direct' ELSE 'linehaul' END,
              '[]', 5 + w * 20, 1200, 30000, 'VND',
              (created_at + interval '7 hours')::date + 2,
              CASE WHEN status = 'delivered' OR (status = 'closed' AND NOT (u < 0.99 AND u >= 0.95))
                   THEN least(created_at + (0.5 + w * 3) * interval '1 day', :now) END,
              created_at, created_at
       FROM seed""",
    # Each in its stage since it last changed (what the lifecycle's writer keeps).
    """UPDATE shipments SET stage_since = updated_at""",
    # Events: created; delivered (for those delivered, closed ones mostly); the state now.
    """INSERT INTO shipment_events (shipment_id, seq, type, from_status, to_status, applied, actor, hub_id,
                                   server_time)
       SELECT i, 1, 'created', NULL, 'created', true, 'partner:bench', NULL, created_at FROM seed""",
    """INSERT INTO shipment_events (shipment_id, seq, type, from_status, to_status, applied, actor, hub_id,
                                   server_time)
       SELECT i, 2, CASE WHEN status = 'closed' AND u < 0.99 AND u >= 0.95 THEN 'returned'
                         WHEN status IN ('delivered', 'closed') THEN 'delivered' ELSE status END,
              'created', status, true, 'bench', hub_id,
              least(created_at + (0.5 + w * 3) * interval '1 day', :now)
       FROM seed WHERE status <> 'created'""",
    """INSERT INTO shipment_events (shipment_id, seq, type, from_status, to_status, applied, actor, hub_id,
                                   server_time)
       SELECT i, 3, 'closed', 'delivered', 'closed', true, 'system:collect_fees', NULL,
              least(created_at + (0.6 + w * 3) * interval '1 day', :now)
       FROM seed WHERE status = 'closed'""",
    "SELECT setval(pg_get_serial_sequence('addresses', 'id'), (SELECT max(id) FROM addresses))",
    "SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers))",
    "SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT max(id) FROM orders))",
    "SELECT setval(pg_get_serial_sequence('shipments', 'id'), (SELECT max(id) FROM shipments))",
    "DROP TABLE seed",
    "VACUUM ANALYZE",
]


def has_rows(db, table: str) -> bool:
    """Whether ``table`` holds any row (False when there is no schema yet)."""
    try:
        with db.engine.connect() as conn:
            return bool(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar())
    except Exception:  # no schema yet
        return False


def run_sql(app, statements, params: dict | None = None) -> float:
    """Run seeding statements outside a transaction (VACUUM needs it); returns the seconds."""
    from app.db import db

    with app.app_context():
        start = time.perf_counter()
        raw = db.engine.raw_connection()
        try:
            raw.driver_connection.autocommit = True
            cur = raw.driver_connection.cursor()
            for statement in statements:
                cur.execute(statement, params)  # with params, a literal % is written %%
        finally:
            raw.driver_connection.autocommit = False  # back to the pool as it came
            raw.close()
        return time.perf_counter() - start


def _count(db) -> int:
    try:
        with db.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM shipments")).scalar()
    except Exception:  # no schema yet
        return 0


def seed(app, fresh_database, n: int, emit) -> None:
    from app.auth.services import create_user
    from app.crm.models import Partner, PickupLocation
    from app.db import db
    from app.orders.models import Address

    with app.app_context():
        fresh_database(app)
        for partner in db.session.query(Partner).all():
            for k in range(3):
                address = Address(line1=f"{k + 1} Le Loi", district="District 1", city="Ho Chi Minh City",
                                       country="VN", lat=10.77 + k * 0.01, lon=106.70, located_by="given")
                db.session.add(address)
                db.session.flush()
                db.session.add(PickupLocation(partner_id=partner.id, name=f"{partner.name} {k + 1}",
                                              phone="+842838221234", address_id=address.id,
                                              address_key=f"bench-{partner.id}-{k}"))
        create_user(db.session, "dispatch@bench.example", role="dispatcher", password=PASSWORD)
        db.session.commit()
        start = time.perf_counter()
        raw = db.engine.raw_connection()
        try:
            raw.driver_connection.autocommit = True  # VACUUM runs outside a transaction
            cur = raw.driver_connection.cursor()
            now = datetime.now(timezone.utc)
            for statement in SEED:
                sql = statement.replace("%", "%%").replace(":now", "%(now)s").replace(":days", "%(days)s")
                cur.execute(sql.replace(":n", "%(n)s"),
                            {"now": now, "days": DAYS, "n": n})
        finally:
            raw.driver_connection.autocommit = False  # back to the pool as it came
            raw.close()
        emit("pages_seed_seconds", time.perf_counter() - start, "s", "postgresql", shipments=n)


def bench_pages(url: str, make_app, fresh_database, emit, *, n: int = 1_000_000, reseed: bool = False,
                rounds: int = 15) -> None:
    from app.db import db
    from app.orders.models import Shipment

    app = make_app(url)
    app.config.update(WAYBILL_SECURE_COOKIES=False, SESSION_COOKIE_SECURE=False)
    with app.app_context():
        have = _count(db)
    if reseed or have != n:
        seed(app, fresh_database, n, emit)
    else:
        from app.cli import upgrade_database

        with app.app_context():  # a database kept from an earlier commit: brought to this one's schema
            upgrade_database()
    with app.app_context():
        sample = db.session.execute(text(
            "SELECT s.tracking_number, o.reference, o.recipient_phone FROM shipments s JOIN orders o ON o.id = s.order_id "
            "WHERE s.id = :id"), {"id": n // 2}).one()
        hub = db.session.execute(text("SELECT max(id) FROM hubs")).scalar()
        db.session.remove()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    r = client.post("/login", data={"email": "dispatch@bench.example", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.status_code
    number, reference, phone = sample
    pages = {
        "dashboard": "/console/",
        "shipments_first_page": "/console/shipments",
        "shipments_on_hold": "/console/shipments?status=on_hold",
        "shipments_of_a_hub": f"/console/shipments?hub={hub}",
        "shipments_of_a_partner": "/console/shipments?partner=2",
        "shipments_late": "/console/shipments?late=1",
        "shipments_created_last_week": f"/console/shipments?from={(datetime.now() - timedelta(days=7)).date()}",
        "search_tracking_number": f"/console/shipments?q={number}&jump=0",
        "search_reference": f"/console/shipments?q={reference}&jump=0",
        "search_phone": f"/console/shipments?q={phone.replace('+84', '0')}&jump=0",
        "hubs": "/console/hubs",
        "run_sheets_of_a_hub": f"/console/hubs/{hub}/runsheets",
        "pickups": "/console/pickups",
        "stage_slas": "/console/stages",
        "promise_accuracy": "/console/promises",
    }
    for name, path in pages.items():
        times = []
        for i in range(rounds + 2):
            start = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 200, (path, response.status_code)
            if i >= 2:  # the first two warm the caches
                times.append(elapsed)
        if name.startswith("search_"):
            assert number in response.get_data(as_text=True) or name != "search_tracking_number"
        times.sort()
        emit(f"page_{name}_ms", statistics.median(times), "ms", "postgresql", shipments=n,
             p95=round(times[int(len(times) * 0.95) - 1], 1), path=path)
    bench_exports(client, emit, n)
    with app.app_context():
        assert db.session.query(Shipment).count() == n


def bench_exports(client, emit, n: int) -> None:
    """The shipments list downloaded as CSV, streamed: the first bytes' wait, the whole
    download, and the memory it holds (Python's allocations at their peak, tracemalloc) for
    about 10,000 and about 100,000 rows — flat memory is the same peak for both."""
    import tracemalloc

    per_day = n / DAYS
    for wanted in (10_000, 100_000):
        days = max(1, round(wanted / per_day))
        path = f"/console/shipments/export.csv?from={(datetime.now() - timedelta(days=days - 1)).date()}"
        for memory in (False, True):
            if memory:
                tracemalloc.start()
            start = time.perf_counter()
            response = client.get(path, buffered=False)
            chunks = iter(response.response)
            first = next(chunks)
            first_ms = (time.perf_counter() - start) * 1000
            rows = first.count(b"\n") - 1
            for chunk in chunks:
                rows += chunk.count(b"\n")
            total = time.perf_counter() - start
            response.close()
            if memory:
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
                emit(f"export_csv_{wanted}_peak_mib", peak, "MiB", "postgresql", rows=rows)
            else:
                emit(f"export_csv_{wanted}_first_bytes_ms", first_ms, "ms", "postgresql", rows=rows)
                emit(f"export_csv_{wanted}_total_s", total, "s", "postgresql", rows=rows,
                     rows_per_s=round(rows / total))


def pages_database(bench_url: str, *, suffix: str = "pages") -> str:
    """A database of its own next to the benchmark database (the other benchmarks empty
    theirs each run; this one keeps its million shipments), made when missing."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    url = make_url(bench_url)
    target = url.set(database=f"{url.database}_{suffix}")
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}).scalar():
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    engine.dispose()
    return target.render_as_string(hide_password=False)
