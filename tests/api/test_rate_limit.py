"""Rate limits per API key: 429 with Retry-After; counted in Redis, shared by processes."""
import pytest

from app.db import db
from tests.conftest import make_test_app


def hammer(client, key, n):
    return [client.get("/api/v1/hubs", headers={"Authorization": f"Bearer {key}"}) for _ in range(n)]


def test_a_key_over_its_limit_gets_429_with_retry_after(app, network):
    app.config["WAYBILL_API_RATE_LIMIT"] = "5 per minute"
    client = app.test_client()
    a, b = network["partners"][0]["api_key"], network["partners"][1]["api_key"]
    answers = hammer(client, a, 7)
    assert [r.status_code for r in answers] == [200] * 5 + [429] * 2
    over = answers[-1]
    assert over.get_json()["error"]["code"] == "rate_limited"
    assert 0 < int(over.headers["Retry-After"]) <= 60
    assert "5 per 1 minute" in over.get_json()["error"]["message"]
    # Another key has its own allowance.
    assert hammer(client, b, 1)[0].status_code == 200


def test_spellings_of_a_key_and_made_up_keys_get_no_fresh_allowance(app, network):
    app.config["WAYBILL_API_RATE_LIMIT"] = "4 per minute"
    client = app.test_client()
    key = network["partners"][0]["api_key"]
    spellings = [f"Bearer {key}", f"bearer {key}", f"BEARER {key}", f"Bearer  {key} "]
    codes = [client.get("/api/v1/hubs", headers={"Authorization": h}).status_code for h in spellings * 2]
    assert codes[:4] == [200] * 4 and set(codes[4:]) == {429}
    # Made-up keys are refused, and share one allowance: the sender's address.
    forged = [client.get("/api/v1/hubs", headers={"Authorization": f"Bearer wbk_x_{i}"}).status_code
              for i in range(6)]
    assert forged == [401] * 4 + [429] * 2


@pytest.mark.redis
def test_with_redis_the_count_is_shared_by_every_process(app, network, database_url, redis_url):
    """Two apps (as two gunicorn workers) on one Redis: one allowance between them."""
    key = network["partners"][0]["api_key"]
    db.session.remove()
    apps = [make_test_app(database_url, RATELIMIT_STORAGE_URI=redis_url, WAYBILL_API_RATE_LIMIT="4 per minute")
            for _ in range(2)]
    with apps[0].app_context():
        assert [r.status_code for r in hammer(apps[0].test_client(), key, 3)] == [200] * 3
        db.session.remove()
    with apps[1].app_context():
        assert [r.status_code for r in hammer(apps[1].test_client(), key, 2)] == [200, 429]
        db.session.remove()
    # The count is Redis's (a count in one process's memory could not serve two processes).
    import redis

    assert redis.Redis.from_url(redis_url).keys("*waybill-ratelimit*")
