"""Entry point for dramatiq worker processes: ``dramatiq workers.main``."""
from wsgi import app

if not app.config.get("REDIS_URL"):
    raise SystemExit("dramatiq workers need REDIS_URL; without it `flask --app wsgi serve` "
                     "runs the workers in-process")

broker = app.extensions["dramatiq"]
