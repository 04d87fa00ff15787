"""The production stack of the fault suite: ``deploy/production`` (the command a courier
runs) on a PostgreSQL server and a redis-server of the test module's own."""
from __future__ import annotations

import pytest

from tests.faults.stack import Stack
from tests.pg_instance import PgInstance, binaries
from tests.redis_instance import RedisInstance, binary


def needs_servers():
    return pytest.mark.skipif(binaries() is None or binary() is None,
                              reason="PostgreSQL's initdb/pg_ctl or redis-server is not installed")


@pytest.fixture(scope="module")
def servers():
    with PgInstance() as pg, RedisInstance() as redis:
        yield pg, redis


def start_stack(servers, **settings) -> Stack:
    pg, redis = servers
    return Stack(pg.url, redis.url, **settings).start()
