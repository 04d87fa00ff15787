"""Shipment events partitioned by month on PostgreSQL, and their retention.

``shipment_events`` is the table that grows fastest (every scan, every attempt: some
147 M rows a day at a FedEx-sized courier's mean). On PostgreSQL it is partitioned by
range of ``server_time``, one partition per calendar month in UTC
(``shipment_events_2026_12`` holds December 2026), plus a default partition that
catches a row no month's partition takes (should the hourly job that makes them ahead
not have run). Dropping a month is then dropping a table: no DELETE, no bloat.

What partitioning changes, and what keeps the guarantees instead:

- The primary key is ``(id, server_time)``: PostgreSQL wants the partition key in every
  unique constraint of a partitioned table. Ids still come from one sequence, so an id
  alone finds one event.
- ``(shipment_id, seq)`` and ``client_event_id`` are unique in each partition (indexes
  made with each partition). Across months they are kept by the lifecycle itself: an
  event is appended, and a driver's resend looked up, under the shipment's row lock
  (``shipments.transition``).
- Notifications, delivery attempts and proofs of delivery keep the id of their event
  without a foreign key to it (a foreign key to a partitioned table needs the partition
  key too); they hold what they need of it and outlive a dropped month.

SQLite (the embedded mode) keeps one table with the constraints of the model, and keeps
every event.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import Connection

from app import clock

TABLE = "shipment_events"
DEFAULT = f"{TABLE}_default"
#: Months made ahead of the current one by the hourly maintenance job.
AHEAD = 3
#: The least an operator may keep: a year of history for the year-on-year reports, and
#: the month before it.
MIN_KEEP_MONTHS = 13
#: The foreign keys to shipment events that partitioning leaves out (see the module).
REFERENCES = (("notifications", "fk_notifications_event_id_shipment_events"),
              ("delivery_attempts", "fk_delivery_attempts_event_id_shipment_events"),
              ("proofs_of_delivery", "fk_proofs_of_delivery_event_id_shipment_events"))


def is_partition(table_name: str) -> bool:
    """A month's (or the default) partition: a table the models do not name, which
    comparing the schema with the models (autogenerate, the migration test) leaves out."""
    rest = table_name.removeprefix(f"{TABLE}_")
    return rest != table_name and (rest == "default" or (len(rest) == 7 and rest[4] == "_"
                                                          and rest.replace("_", "").isdigit()))


def include_name(name, type_, parent_names) -> bool:
    """Alembic's ``include_name``: leave the partitions out."""
    return not (type_ == "table" and name and is_partition(name))


def include_object_on(dialect_name: str):
    """Alembic's ``include_object`` for a database of that dialect: on PostgreSQL, what
    partitioning leaves out on purpose is not proposed again by autogenerate."""
    left_out = {name for _, name in PARTITIONED_DIFFERENCES} if dialect_name == "postgresql" else set()

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        return not (name in left_out and not reflected and compare_to is None)

    return include_object


#: How the partitioned table differs from the models on PostgreSQL (see the module): the
#: unique constraints kept per partition, and the foreign keys to it left out.
PARTITIONED_DIFFERENCES = frozenset({
    ("add_constraint", "uq_shipment_events_shipment_id_seq"),
    ("add_constraint", "uq_shipment_events_client_event_id"),
    *(("add_fk", constraint) for _, constraint in REFERENCES),
})


@dataclass(frozen=True)
class Partition:
    name: str
    start: date | None  # None: the default partition
    end: date | None
    rows: int


def utc_today() -> date:
    """The day partitions count in: months are UTC months, like ``server_time``."""
    return clock.now().date()


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{TABLE}_{month.year:04d}_{month.month:02d}"


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text(
        "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid "
        "WHERE c.relname = :t AND c.relnamespace = current_schema()::regnamespace"), {"t": TABLE}).first())


def partition_table(conn: Connection, today: date) -> None:
    """Make the plain ``shipment_events`` table a partitioned one, its rows kept, in the
    caller's transaction (the migration's). PostgreSQL only; nothing to do if done."""
    if conn.dialect.name != "postgresql" or is_partitioned(conn):
        return
    run = lambda sql: conn.exec_driver_sql(sql)  # noqa: E731
    for table, constraint in REFERENCES:
        run(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {constraint}")
    old = f"{TABLE}_unpartitioned"
    run(f"ALTER TABLE {TABLE} RENAME TO {old}")
    run(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{TABLE} TO pk_{old}")
    run(f"ALTER TABLE {old} RENAME CONSTRAINT uq_{TABLE}_shipment_id_seq TO uq_{old}_shipment_id_seq")
    run(f"ALTER TABLE {old} RENAME CONSTRAINT uq_{TABLE}_client_event_id TO uq_{old}_client_event_id")
    run(f"ALTER INDEX ix_{TABLE}_hub RENAME TO ix_{old}_hub")
    run(f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE (server_time)")
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_{TABLE} PRIMARY KEY (id, server_time)")
    _add_the_rest(conn)
    _create(conn, DEFAULT, None)
    first = conn.execute(text(f"SELECT min(server_time) FROM {old}")).scalar()
    prepare(conn, today, since=month_start(first.date()) if first else None)
    run(f"INSERT INTO {TABLE} SELECT * FROM {old}")
    run(f"DROP TABLE {old}")


def unpartition_table(conn: Connection) -> None:
    """The way back (the migration's downgrade): one plain table with the model's
    constraints and the foreign keys to it, every row kept."""
    if not is_partitioned(conn):
        return
    run = lambda sql: conn.exec_driver_sql(sql)  # noqa: E731
    old = f"{TABLE}_partitioned"
    run(f"ALTER TABLE {TABLE} RENAME TO {old}")
    run(f"ALTER INDEX ix_{TABLE}_hub RENAME TO ix_{old}_hub")
    run(f"ALTER TABLE {old} RENAME CONSTRAINT pk_{TABLE} TO pk_{old}")
    run(f"CREATE TABLE {TABLE} (LIKE {old} INCLUDING DEFAULTS)")
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT pk_{TABLE} PRIMARY KEY (id)")
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT uq_{TABLE}_shipment_id_seq UNIQUE (shipment_id, seq)")
    run(f"ALTER TABLE {TABLE} ADD CONSTRAINT uq_{TABLE}_client_event_id UNIQUE (client_event_id)")
    _add_the_rest(conn)
    run(f"INSERT INTO {TABLE} SELECT * FROM {old}")
    run(f"DROP TABLE {old}")
    for table, constraint in REFERENCES:
        run(f"ALTER TABLE {table} ADD CONSTRAINT {constraint} FOREIGN KEY (event_id) REFERENCES {TABLE} (id)")


def _add_the_rest(conn: Connection) -> None:
    """What the new table has whether partitioned or not: its foreign keys, the hub index,
    and the id sequence (owned by it, so that dropping the old table keeps it)."""
    for sql in (f"ALTER TABLE {TABLE} ADD CONSTRAINT fk_{TABLE}_shipment_id_shipments "
                f"FOREIGN KEY (shipment_id) REFERENCES shipments (id)",
                f"ALTER TABLE {TABLE} ADD CONSTRAINT fk_{TABLE}_hub_id_hubs FOREIGN KEY (hub_id) REFERENCES hubs (id)",
                f"CREATE INDEX ix_{TABLE}_hub ON {TABLE} (hub_id, id)",
                f"ALTER SEQUENCE {TABLE}_id_seq OWNED BY {TABLE}.id"):
        conn.exec_driver_sql(sql)


def _create(conn: Connection, name: str, month: date | None) -> None:
    """A partition with its own unique indexes, attached to the table. Rows of its month
    that wait in the default partition move into it first."""
    run = lambda sql: conn.exec_driver_sql(sql)  # noqa: E731
    run(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)")
    run(f"CREATE UNIQUE INDEX {name}_shipment_seq ON {name} (shipment_id, seq)")
    run(f"CREATE UNIQUE INDEX {name}_client_event ON {name} (client_event_id)")
    if month is None:
        run(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} DEFAULT")
        return
    start, end = month.isoformat(), add_months(month, 1).isoformat()
    if _exists(conn, DEFAULT):
        run(f"WITH moved AS (DELETE FROM {DEFAULT} WHERE server_time >= '{start}' AND server_time < '{end}' "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved")
    run(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')")


def _exists(conn: Connection, name: str) -> bool:
    return conn.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar()


def prepare(conn: Connection, today: date, *, since: date | None = None, ahead: int = AHEAD) -> list[str]:
    """Make the month partitions from ``since`` (or the month before this one) to ``ahead``
    months after this one that do not exist yet; the names made. ``today``: the UTC day.
    Nothing on SQLite."""
    if not is_partitioned(conn):
        return []
    made = []
    month = month_start(since or add_months(month_start(today), -1))
    last = add_months(month_start(today), ahead)
    while month <= last:
        name = partition_name(month)
        if not _exists(conn, name):
            _create(conn, name, month)
            made.append(name)
        month = add_months(month, 1)
    return made


def partitions(conn: Connection) -> list[Partition]:
    """The table's partitions, oldest first, the default last, with their row counts
    (PostgreSQL's estimate)."""
    if not is_partitioned(conn):
        return []
    rows = conn.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:t AS regclass) ORDER BY c.relname"), {"t": TABLE}).all()
    found = []
    for name, bound, estimate in rows:
        if bound == "DEFAULT":
            found.append(Partition(name, None, None, estimate))
            continue
        start, end = (date.fromisoformat(part.split("'")[1][:10]) for part in bound.split(" TO "))
        found.append(Partition(name, start, end, estimate))
    return sorted(found, key=lambda p: (p.start is None, p.start or date.min))


def drop_before(conn: Connection, before: date) -> list[Partition]:
    """Drop every month partition that ends on or before ``before`` (a month's first day),
    and delete the default partition's rows older than it; the partitions dropped."""
    dropped = [p for p in partitions(conn) if p.end is not None and p.end <= before]
    for partition in dropped:
        conn.exec_driver_sql(f"DROP TABLE {partition.name}")
    if _exists(conn, DEFAULT):
        conn.execute(text(f"DELETE FROM {DEFAULT} WHERE server_time < :before"), {"before": before})
    return dropped


def maintain(conn: Connection, today: date, *, keep_months: int = 0) -> tuple[list[str], list[Partition]]:
    """The hourly job: the months ahead made, and with ``keep_months`` the months before
    them dropped; (made, dropped). Locks are waited for 5 s at most (a partition made or
    dropped holds inserts back while it waits): the next hour tries again."""
    if not is_partitioned(conn):
        return [], []
    conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
    made = prepare(conn, today)
    dropped = drop_before(conn, retention_cutoff(today, keep_months)) if keep_months else []
    return made, dropped


def retention_cutoff(today: date, keep_months: int) -> date:
    """The first day kept when ``keep_months`` whole months are kept before this one."""
    if keep_months < MIN_KEEP_MONTHS:
        raise ValueError(f"keep at least {MIN_KEEP_MONTHS} months of shipment events")
    return add_months(month_start(today), -keep_months)
