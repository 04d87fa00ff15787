"""Waybill's production stack, started as a courier starts it (``deploy/production``:
gunicorn, the relays and the dramatiq workers under supervisord) against a PostgreSQL server
and a redis-server of the test's own."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
if not (BIN / "supervisord").exists():  # a suite run from another environment than the project's
    BIN = Path(sys.executable).parent


def children_of(pid: int) -> list[int]:
    """The direct children of a process (from /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def wait_for(what, timeout: float, step: float = 1.0):
    """``what()`` once it is truthy, asked every ``step`` seconds; after ``timeout``, its
    last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = what()
        if found:
            return found
        time.sleep(step)
    return what()


class Stack:
    def __init__(self, database_url: str, redis_url: str, **settings: str):
        self.run_dir = tempfile.mkdtemp(prefix="waybill-stack-")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "SECRET_KEY": "fault-suite", "WAYBILL_RUN_DIR": self.run_dir, "PORT": str(self.port),
                    "WEB_PROCESSES": "2", "RELAYS": "1", "WORKERS": "2", "WORKER_PROCESSES": "1",
                    "WORKER_THREADS": "4", "PATH": f"{BIN}:{os.environ.get('PATH', '')}", **settings}
        for name in ("TEST_DATABASE_URL", "FLASK_APP"):
            self.env.pop(name, None)
        self.process: subprocess.Popen | None = None

    # -- the one command ------------------------------------------------------------------
    def start(self) -> "Stack":
        self.log = open(os.path.join(self.run_dir, "production.out"), "wb")
        self.process = subprocess.Popen([str(ROOT / "deploy" / "production")], cwd=ROOT, env=self.env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM to supervisord, as a service manager stops it; its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A ``flask`` command against the stack's database and Redis."""
        return subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=600, check=check)

    def supervisorctl(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "supervisorctl"), "-c", str(ROOT / "deploy" / "supervisord.conf"), *args],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=30)
        return done.stdout

    def logs(self) -> str:
        parts = []
        for path in sorted(Path(self.run_dir).glob("*.log")) + [Path(self.run_dir) / "production.out"]:
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"== {path.name}\n{text[-3000:]}")
        return "\n".join(parts)

    # -- what runs ------------------------------------------------------------------------
    def programs(self) -> dict[str, tuple[str, int | None]]:
        """supervisord's view: name → (state, pid)."""
        found = {}
        for line in self.supervisorctl("status").splitlines():
            fields = line.split()
            if len(fields) >= 2:
                pid = int(fields[3].rstrip(",")) if len(fields) > 3 and fields[2] == "pid" else None
                found[fields[0]] = (fields[1], pid)
        return found

    def pid(self, name: str) -> int | None:
        """The pid of a running program; None while it is not running."""
        state, pid = self.programs().get(name, (None, None))
        return pid if state == "RUNNING" else None

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as answer:
                return json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def ready(self, *, relays: int = 1, workers: int = 2, timeout: float = 120, since: float | None = None) -> dict:
        """Wait until every program runs, /healthz answers 200, and the relays and worker
        processes beat; the programs' pids. ``since``: each program must have started after
        it (a restarted one is back)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            programs = self.programs()
            health = self.health()
            last = (programs, health)
            running = programs and all(state == "RUNNING" for state, _ in programs.values())
            counts = (health or {}).get("processes") or {}
            if running and health and health["status"] == "ok" and counts.get("relay", 0) >= relays \
                    and counts.get("worker", 0) >= workers:
                return {name: pid for name, (_, pid) in programs.items()}
            time.sleep(0.5)
        raise AssertionError(f"the stack is not ready: {last}\n{self.logs()}")

    def __enter__(self) -> "Stack":
        return self.start()

    def __exit__(self, *exc) -> None:
        try:
            self.stop()
        finally:
            self.log.close()
