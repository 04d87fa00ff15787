"""The production stack, started with the one documented command, comes back by itself from
``kill -9`` of any of its processes, and stops gracefully on SIGTERM."""
from __future__ import annotations

import json
import os
import signal

import pytest

from tests.faults.conftest import needs_servers, start_stack
from tests.faults.stack import children_of, wait_for

pytestmark = needs_servers()


@pytest.fixture(scope="module")
def stack(servers):
    stack = start_stack(servers)
    try:
        stack.ready()
        yield stack
    finally:
        stack.stop()
        stack.log.close()


def _beating(stack, kind: str) -> set[int]:
    alive = json.loads(stack.cli("health", "--process", kind, check=False).stdout)["alive"]
    return {int(place.rpartition(":")[2]) for place in alive[kind]}


def _until(what, timeout: float = 60):
    found = wait_for(what, timeout, step=0.5)
    assert found, f"not within {timeout:g}s: {what.__doc__ or what}"
    return found


def test_each_process_is_started_and_beats(stack):
    programs = stack.programs()
    assert set(programs) == {"web", "relay:relay-0", "worker:worker-0", "worker:worker-1"}
    assert all(state == "RUNNING" for state, _ in programs.values())
    assert stack.health()["processes"] == {"relay": 1, "worker": 2}
    # Each process's own check, as a supervisor or an orchestrator runs it.
    assert stack.cli("health", "--process", "relay", "--here", check=False).returncode == 0
    assert stack.cli("health", "--process", "worker", check=False).returncode == 0
    assert _beating(stack, "relay") == {stack.pid("relay:relay-0")}
    assert _beating(stack, "worker") == {child for name in ("worker:worker-0", "worker:worker-1")
                                         for child in children_of(stack.pid(name))}


def test_kill_9_of_any_process_is_followed_by_a_new_one(stack):
    # gunicorn: a worker is replaced by its master; the master by supervisord.
    master = stack.pid("web")
    child = children_of(master)[0]
    os.kill(child, signal.SIGKILL)
    _until(lambda: len(children_of(master)) == 2 and child not in children_of(master))
    os.kill(master, signal.SIGKILL)
    _until(lambda: stack.pid("web") not in (None, master))
    _until(lambda: (stack.health() or {}).get("status") == "ok")

    # The relay.
    relay = stack.pid("relay:relay-0")
    os.kill(relay, signal.SIGKILL)
    new_relay = _until(lambda: stack.pid("relay:relay-0") not in (None, relay) and stack.pid("relay:relay-0"))
    _until(lambda: new_relay in _beating(stack, "relay"))

    # A dramatiq worker process: dramatiq stops its whole invocation; supervisord starts it again.
    invocation = stack.pid("worker:worker-0")
    (process,) = children_of(invocation)
    os.kill(process, signal.SIGKILL)
    _until(lambda: stack.pid("worker:worker-0") not in (None, invocation))
    _until(lambda: _worker_beats(stack, "worker:worker-0"))

    # A dramatiq invocation itself: its worker process stops too (it would otherwise run on
    # unsupervised beside the new one).
    invocation = stack.pid("worker:worker-1")
    (orphan,) = children_of(invocation)
    os.kill(invocation, signal.SIGKILL)
    _until(lambda: not os.path.exists(f"/proc/{orphan}") or _zombie(orphan), timeout=30)
    _until(lambda: _worker_beats(stack, "worker:worker-1"))

    after = stack.ready(workers=2)
    assert all(state == "RUNNING" for state, _ in stack.programs().values()), after


def _worker_beats(stack, name: str) -> bool:
    """The invocation runs and each of its worker processes beats."""
    pid = stack.pid(name)
    processes = set(children_of(pid)) if pid else set()
    return bool(processes) and processes <= _beating(stack, "worker")


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_sigterm_stops_every_process_gracefully(servers):
    stack = start_stack(servers)
    try:
        pids = stack.ready()
        processes = set(pids.values()) | {c for pid in pids.values() for c in children_of(pid)}
        assert stack.stop(timeout=90) == 0
        assert all(not os.path.exists(f"/proc/{pid}") or _zombie(pid) for pid in processes)
        logs = stack.logs()
        assert "Stopping worker process" in logs and "Killing worker process" not in logs  # finished, not cut
        # They said goodbye: none of them beats (the keys of those killed above may still
        # be waiting to expire).
        assert not (_beating(stack, "worker") | _beating(stack, "relay")) & processes
    finally:
        stack.stop()
        stack.log.close()
