"""The database: declarative base, engine set-up for SQLite and PostgreSQL, the session."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: What the drivers say when the database cannot be reached (restarting, failing over,
#: down, or SQLite's file held by a writer for longer than the busy timeout).
UNREACHABLE = ("connection failed", "connection refused", "could not connect", "server closed the connection",
               "terminating connection", "the database system is", "connection is closed",
               "connection already closed", "consuming input failed", "ssl connection has been closed",
               "database is locked", "no connection to the server", "cannot connect", "connection timeout")


def database_unreachable(error) -> bool:
    """Whether a database error says the database cannot be reached (rather than that the
    statement was wrong): SQLAlchemy saw the connection drop, or the driver could not connect."""
    if getattr(error, "connection_invalidated", False):
        return True
    text_ = str(getattr(error, "orig", error)).lower()
    return any(words in text_ for words in UNREACHABLE)


#: The type of every ``Mapped[int]`` column not given one: ids and the columns that hold
#: them. 64 bits on PostgreSQL (at a FedEx-sized courier's 1,700 shipment events a second a
#: 32-bit id runs out in about two weeks); SQLite's INTEGER is 64 bits already, and only an
#: INTEGER PRIMARY KEY is its row id.
ID = BigInteger().with_variant(Integer(), "sqlite")
#: The largest id an id column holds (both databases): what a form, a query string or a
#: URL may name before it is refused rather than overflowing a query.
MAX_ID = 2**63 - 1


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {int: ID}


def stored_utc(value: datetime) -> datetime:
    """An aware timestamp as Waybill stores it: naive UTC (also for raw SQL parameters)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given; Waybill stores aware UTC timestamps")
    return value.astimezone(timezone.utc).replace(tzinfo=None)


class UTCDateTime(TypeDecorator):
    """A timestamp stored as UTC and always returned timezone-aware.

    SQLite has no time zones; storing naive UTC everywhere keeps both backends equal.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else stored_utc(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain ``postgresql://`` URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, **kwargs) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    # Up to 30 connections a process, all kept once opened: a pool that closes what it
    # opened beyond its size opens them again at the next burst, and a PostgreSQL connection
    # costs a new server process (a webhook sender's 64 threads spent more time connecting
    # than sending). Connections are opened as they are needed: a web process of 4 threads
    # never holds more than 4.
    kwargs.setdefault("pool_size", 30)
    kwargs.setdefault("max_overflow", 0)
    # No pre-ping: it costs a round trip per request. A connection the server dropped fails
    # its request once and is replaced (SQLAlchemy then recycles the whole pool).
    kwargs.setdefault("pool_recycle", 3600)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT and begins lazily; take it over
    # (the SQLAlchemy docs' recipe). Every transaction begins IMMEDIATE: a reader that later
    # writes would otherwise fail with SQLITE_BUSY instead of waiting for the writer.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        dbapi_connection.create_aggregate("percentile_cont", 2, _Percentile)

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class _Percentile:
    """SQLite's percentile_cont(value, fraction): what PostgreSQL's ``percentile_cont(f)
    WITHIN GROUP (ORDER BY value)`` gives (linear between the two nearest values)."""

    def __init__(self):
        self.values, self.fraction = [], None

    def step(self, value, fraction):
        if value is not None:
            self.values.append(value)
            self.fraction = fraction

    def finalize(self):
        if not self.values:
            return None
        values = sorted(self.values)
        at = (len(values) - 1) * self.fraction
        low = int(at)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (at - low)


@contextmanager
def schema_change(engine: Engine):
    """A connection in a transaction for migrations. On SQLite, foreign keys are off for
    it (they can only be switched outside a transaction): a table that batch mode rebuilds
    is dropped and renamed in its place, which would otherwise count every row pointing at
    it as a violation. They are checked before the commit, and switched on again."""
    with engine.connect() as connection:
        raw = connection.connection.driver_connection if engine.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():
                yield connection
                if raw is not None:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"the migration leaves rows pointing nowhere: {broken[:5]}")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


@event.listens_for(Session, "after_commit")
def _run_after_commit(session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction goes on
        return
    for call in session.info.pop("after_commit", []):
        call()


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_commit(session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: nothing will commit
        session.info.pop("after_commit", None)


class Database:
    """Engine and thread-local session, attached to the app with ``init_app``.

    Services use ``db.session`` and only flush; the view, actor or command that called
    them commits.
    """

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session: scoped_session[Session] = scoped_session(
            sessionmaker(expire_on_commit=False)
        )

    def init_app(self, app) -> None:
        if self.engine is not None:
            self.session.remove()
            self.engine.dispose()
        self.engine = make_engine(app.config["DATABASE_URL"])
        self.session.configure(bind=self.engine)
        # Reads that need no transaction skip BEGIN and ROLLBACK on PostgreSQL. (SQLite's
        # connections keep the transaction handling set up above.)
        self.reader = (self.engine.execution_options(isolation_level="AUTOCOMMIT")
                       if self.engine.dialect.name == "postgresql" else self.engine)
        for replica in getattr(self, "replicas", {}).values():
            replica.dispose()
        #: Engines on read replicas, by URL (``replica_session``).
        self.replicas: dict[str, Engine] = {}
        app.extensions["db"] = self

        @app.teardown_appcontext
        def _remove_session(exc):
            self.session.remove()

    def after_commit(self, call) -> None:
        """Run ``call()`` once the session's transaction has committed, and never if it
        rolls back: how a request kicks a worker about rows it wrote (a job enqueued
        before the commit could find nothing)."""
        self.session().info.setdefault("after_commit", []).append(call)

    @contextmanager
    def read_session(self):
        """A session for one request's reads: on PostgreSQL each statement runs on its own,
        without BEGIN and ROLLBACK round trips. On SQLite, the request's own session (a
        second connection would wait for the first one's lock)."""
        if self.reader is self.engine:
            yield self.session
            return
        with Session(self.reader, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def replica_session(self):
        """A session for reads that may lag a moment behind the last commit — lists,
        dashboards, reports: on the read replica when ``WAYBILL_REPLICA_URL`` is set; else,
        on PostgreSQL, a session of its own on the database; on SQLite the request's own (a
        second connection would wait for the first one's lock). It never writes: its
        transaction is rolled back at the end."""
        from flask import current_app

        url = current_app.config.get("WAYBILL_REPLICA_URL")
        if url:
            if url not in self.replicas:
                self.replicas[url] = make_engine(url)
            engine = self.replicas[url]
        elif self.backend == "postgresql":
            engine = self.engine
        else:
            yield self.session
            return
        with Session(engine, expire_on_commit=False) as own:
            try:
                yield own
            finally:
                own.rollback()

    @property
    def backend(self) -> str:
        assert self.engine is not None, "Database.init_app was not called"
        return self.engine.dialect.name


db = Database()
