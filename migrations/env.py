"""Alembic environment: runs on the connection Waybill hands it (``flask --app wsgi db
upgrade``), or on DATABASE_URL when alembic is called directly."""
from alembic import context

import app.models  # noqa: F401
from app.db import Base, UTCDateTime, make_engine, schema_change
from app.orders.event_partitions import include_name, include_object_on

target_metadata = Base.metadata


def render_item(type_, obj, autogen_context):
    # Timestamps are stored as plain DateTime; UTCDateTime only converts in Python.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def run(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True,
                      render_item=render_item, include_name=include_name,
                      include_object=include_object_on(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    import config

    engine = make_engine(config.from_env()["DATABASE_URL"])
    with schema_change(engine) as conn:
        run(conn)
