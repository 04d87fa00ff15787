"""What an operator sees: a request id on the answer, on each log line and on the outbox
rows the request wrote, and again on the worker's lines about those rows; JSON log lines;
Prometheus metrics for the token or an admin, with the outbox's depth and lag."""
from __future__ import annotations

import json
import logging

from sqlalchemy import select

from app.outbox import OutboxMessage
from tests.api.test_orders import BODY


def test_a_request_id_follows_an_order_through_the_outbox_to_the_worker(app, network, session, caplog):
    from workers.jobs import run_pending

    client = app.test_client()
    key = network["partners"][0]["api_key"]
    r = client.post("/api/v1/orders", json=BODY, headers={"Authorization": f"Bearer {key}",
                                                          "Idempotency-Key": "obs-1", "X-Request-Id": "shop-req-0001"})
    assert r.status_code == 201 and r.headers["X-Request-Id"] == "shop-req-0001"
    rows = session.scalars(select(OutboxMessage)).all()
    assert rows and {row.request_id for row in rows} == {"shop-req-0001"}
    session.rollback()  # SQLite: the test's read must not hold the lock the worker needs
    made = client.get("/healthz")
    assert len(made.headers["X-Request-Id"]) == 32  # none given: one is made
    odd = client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert odd.headers["X-Request-Id"] != "<script>"
    with caplog.at_level(logging.INFO, logger="waybill.jobs"):
        run_pending()
    worked = [rec for rec in caplog.records if rec.name == "waybill.jobs" and "outbox rows" in rec.getMessage()]
    assert worked and all(rec.request_id == "shop-req-0001" for rec in worked)


def test_log_lines_as_json_carry_the_request_id(app):
    from app.observability import json_formatter
    from app.outbox import REQUEST_ID

    token = REQUEST_ID.set("abc-12345678")
    try:
        record = logging.getLogger("waybill.test").makeRecord("waybill.test", logging.WARNING, __file__, 1,
                                                              "a parcel %s", ("WB1",), None)
    finally:
        REQUEST_ID.reset(token)
    line = json.loads(json_formatter().format(record))
    assert line["request_id"] == "abc-12345678" and line["message"] == "a parcel WB1" and line["level"] == "WARNING"


def test_metrics_for_the_token_or_an_admin_only(app, network):
    client = app.test_client()
    assert client.get("/metrics").status_code == 404
    app.config["WAYBILL_METRICS_TOKEN"] = "scrape-secret"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    client.post("/api/v1/orders", json=BODY, headers={"Authorization": f"Bearer {network['partners'][0]['api_key']}",
                                                      "Idempotency-Key": "obs-2"})
    r = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert r.status_code == 200
    body = r.get_data(as_text=True)
    depth = next(line for line in body.splitlines() if line.startswith("waybill_outbox_depth "))
    assert float(depth.split()[1]) >= 1  # the order's webhook row, not yet done
    assert 'waybill_http_request_seconds_count{method="POST",route="/api/v1/orders",status="201"}' in body
    assert "waybill_outbox_lag_seconds" in body and "waybill_webhook_deliveries" in body
