"""Background processes beat in Redis; /healthz, /metrics and `flask health` read the beats."""
from __future__ import annotations

import json
import socket
import time

import pytest
import redis

from app import heartbeats
from app.db import Base, db
from tests.conftest import make_test_app


@pytest.fixture
def client(redis_url):
    return redis.Redis.from_url(redis_url)


def test_a_process_beats_while_healthy_and_takes_its_key_away_when_it_stops(redis_url, client):
    well = [True]
    beat = heartbeats.Heartbeat(redis_url, "relay", healthy=lambda: well[0])
    assert beat.beat() is True
    assert client.ttl(beat.key) == heartbeats.TTL
    here = f"{socket.gethostname()}:{beat.key.rpartition(':')[2]}"
    assert here in heartbeats.alive(client)["relay"]
    assert heartbeats.alive(client, host="elsewhere") == {"relay": [], "worker": []}
    client.flushall()  # Redis emptied: the next beat writes the key again
    assert heartbeats.alive(client)["relay"] == []
    beat.start()  # its first beat is at once
    for _ in range(100):
        if here in heartbeats.alive(client)["relay"]:
            break
        time.sleep(0.02)
    assert here in heartbeats.alive(client)["relay"]
    client.delete(beat.key)  # expired: read no more, and dropped from the index as it is read
    assert here not in heartbeats.alive(client)["relay"]
    assert beat.key.encode() not in client.smembers(heartbeats.INDEX)
    beat.beat()
    well[0] = False  # an unhealthy process does not renew its key
    assert beat.beat() is False
    beat.stop()
    assert not beat.is_alive() and client.exists(beat.key) == 0
    assert client.smembers(heartbeats.INDEX) == set()


def test_healthz_metrics_and_the_health_command_count_the_beats(redis_url, client, tmp_path):
    app = make_test_app(f"sqlite:///{tmp_path}/h.db", REDIS_URL=redis_url, WAYBILL_METRICS_TOKEN="scrape")
    with app.app_context():
        Base.metadata.create_all(db.engine)
    web = app.test_client()
    runner = app.test_cli_runner()
    assert web.get("/healthz").get_json()["processes"] == {"relay": 0, "worker": 0}
    failed = runner.invoke(args=["health", "--process", "worker"])
    assert failed.exit_code == 1 and json.loads(failed.output)["ok"] is False

    worker = heartbeats.Heartbeat(redis_url, "worker")
    worker.beat()
    assert web.get("/healthz").get_json()["processes"] == {"relay": 0, "worker": 1}
    scraped = web.get("/metrics", headers={"Authorization": "Bearer scrape"}).get_data(as_text=True)
    assert 'waybill_processes_alive{kind="worker"} 1.0' in scraped
    assert 'waybill_processes_alive{kind="relay"} 0.0' in scraped
    assert runner.invoke(args=["health", "--process", "worker", "--here"]).exit_code == 0
    assert runner.invoke(args=["health", "--process", "relay"]).exit_code == 1
    assert runner.invoke(args=["health"]).exit_code == 0  # the database and Redis answer
    worker.stop()
    assert runner.invoke(args=["health", "--process", "worker"]).exit_code == 1
