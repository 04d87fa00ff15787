"""The Waybill app plus one no-op POST route, for measuring the ceiling of the stack
(gunicorn, Flask, the app's request hooks) beside the real routes. Like the API's routes
it takes a bearer key without cookies, so it is exempt from CSRF (else every no-op would
be a refusal, not a 204)."""
from app.auth.web import csrf
from wsgi import app


@app.post("/bench/noop")
@csrf.exempt
def noop():
    return "", 204
