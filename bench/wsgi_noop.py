"""The Waybill app plus one no-op POST route, for measuring the ceiling of the stack
(gunicorn, Flask, the app's request hooks) beside the real routes."""
from wsgi import app


@app.post("/bench/noop")
def noop():
    return "", 204
