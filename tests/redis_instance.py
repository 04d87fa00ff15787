"""A redis-server of a test's own, on a free port, keeping nothing on disk (the machine's
shared Redis is never touched)."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
import time

import redis

from tests.smtp import free_port


def binary() -> str | None:
    return shutil.which("redis-server")


class RedisInstance:
    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="waybill-redis-")
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "RedisInstance":
        self.process = subprocess.Popen(
            [binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = self.client()
        for _ in range(100):
            try:
                client.ping()
                return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=5)

    def __exit__(self, *exc) -> None:
        if self.process:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
