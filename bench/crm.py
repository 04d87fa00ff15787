"""Account management and customer service over a million shipments in PostgreSQL.

The console pages' million shipments (``bench.pages``' seed) in a database of their own,
with e-mails and consent given to the first hundred thousand of its 400,000 customers.
Measured, through the app's own WSGI stack: an account's page (a partner with a third of
the shipments), a customer found by phone and by e-mail; then a campaign to the hundred
thousand who agreed (the segment: those who read Vietnamese), queued in chunks (wall time, and the longest transaction), and sent
through the log carrier for a few seconds (messages a second: the broker's pace is the
carrier's). The campaign's rows are deleted afterwards, so a later run measures the same.
"""
from __future__ import annotations

import re
import statistics
import time

from sqlalchemy import text

from bench.pages import PASSWORD, _count, seed

AUDIENCE = 100_000


def _prepare(app) -> None:
    from app.auth.services import create_user
    from app.auth.models import User
    from app.db import db

    with app.app_context():
        if not db.session.scalar(text("SELECT count(*) FROM users WHERE email = 'am@bench.example'")):
            create_user(db.session, "am@bench.example", role="account_manager", password=PASSWORD)
        db.session.execute(text(
            "UPDATE customers SET email = 'customer' || id || '@example.com', marketing_consent = true, "
            "language = 'vi' WHERE id < 1000 + :n + 1 AND email IS NULL"), {"n": AUDIENCE})
        db.session.commit()
        db.session.execute(text("ANALYZE customers"))
        db.session.commit()
        assert db.session.query(User).count() >= 1


def _timed_get(client, path: str, rounds: int) -> tuple[float, float]:
    times = []
    for i in range(rounds + 2):
        start = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, (path, response.status_code)
        if i >= 2:
            times.append(elapsed)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def bench_crm(url: str, make_app, fresh_database, emit, *, n: int = 1_000_000, reseed: bool = False,
              rounds: int = 15, send_seconds: float = 10.0) -> None:
    from app import clock
    from app.crm import campaigns
    from app.db import db

    app = make_app(url)
    app.config.update(WAYBILL_SECURE_COOKIES=False, SESSION_COOKIE_SECURE=False, SMS_GATEWAY="log")
    with app.app_context():
        have = _count(db)
    if reseed or have != n:
        seed(app, fresh_database, n, emit)
    _prepare(app)
    with app.app_context():
        partner = db.session.execute(text("SELECT partner_id FROM shipments GROUP BY partner_id "
                                          "ORDER BY count(*) DESC LIMIT 1")).scalar()
        phone, email = db.session.execute(text("SELECT phone, email FROM customers WHERE email IS NOT NULL "
                                               "ORDER BY id DESC LIMIT 1")).one()
        db.session.remove()
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"email": "am@bench.example", "password": PASSWORD,
                                       "csrf_token": token}).status_code == 302
    # The dashboard in the same run: the reference the figures are read beside (this
    # machine's speed varies from day to day).
    for name, path in {"reference_dashboard": "/console/",
                       "account_page": f"/console/crm/accounts/{partner}",
                       "customer_by_phone": f"/console/crm/customers?q={phone.replace('+84', '0')}&go=0",
                       "customer_by_email": f"/console/crm/customers?q={email}&go=0"}.items():
        median, p95 = _timed_get(client, path, rounds)
        emit(f"crm_{name}_ms", median, "ms", "postgresql", shipments=n, p95=round(p95, 1), path=path)

    from workers.jobs import queue_campaigns, send_campaign_messages

    with app.app_context():
        campaign = campaigns.create(db.session, name="bench", channel="sms", subject=None,
                                    body="Chào {{ name }}! Ưu đãi tháng này. {{ unsubscribe_link }}",
                                    segment={"language": "vi"},
                                    user_id=None)
        campaigns.schedule(db.session, campaign, clock.now())
        db.session.commit()
        campaign_id = campaign.id
        longest = [0.0]
        original = campaigns.queue_chunk

        def timed_chunk(session, cid, **kw):
            start = time.perf_counter()
            done = original(session, cid, **kw)
            session.commit()
            longest[0] = max(longest[0], time.perf_counter() - start)
            return done

        campaigns.queue_chunk = timed_chunk
        try:
            start = time.perf_counter()
            queue_campaigns()
            queued = time.perf_counter() - start
        finally:
            campaigns.queue_chunk = original
        results = campaigns.results(db.session, campaign_id)
        emit("crm_campaign_queue_seconds", queued, "s", "postgresql", customers=sum(results.values()),
             reached=results["pending"], longest_transaction_s=round(longest[0], 2))
        start, sent = time.perf_counter(), 0
        while time.perf_counter() - start < send_seconds:
            done, failed = send_campaign_messages(limit=2_000)
            sent += done + failed
            if not done + failed:
                break
        emit("crm_campaign_send_per_second", sent / (time.perf_counter() - start), "msg/s", "postgresql",
             carrier="log", sent=sent)
        db.session.execute(text("DELETE FROM campaign_messages WHERE campaign_id = :c"), {"c": campaign_id})
        db.session.execute(text("DELETE FROM campaigns WHERE id = :c"), {"c": campaign_id})
        db.session.commit()
