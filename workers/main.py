"""Entry point for dramatiq worker processes: ``dramatiq workers.main``.

dramatiq imports this in each worker process it starts. A worker process is told to stop
(SIGTERM: finish or give back what it holds) when the invocation that started it dies,
even by ``kill -9``: otherwise it would run on, unsupervised, beside the one the
supervisor starts in its place."""
import ctypes
import multiprocessing
import os
import signal
import sys

from wsgi import app

if not app.config.get("REDIS_URL"):
    raise SystemExit("dramatiq workers need REDIS_URL; without it `flask --app wsgi serve` "
                     "runs the workers in-process")

PR_SET_PDEATHSIG = 1
if sys.platform == "linux":
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before the line above
        os.kill(os.getpid(), signal.SIGTERM)

broker = app.extensions["dramatiq"]
