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


@pytest.mark.redis
def test_processes_count_ahead_of_redis_and_add_their_counts_within_a_tenth_of_a_second(redis_url):
    """Two processes' storages on one Redis: the first hit of a key is counted in Redis at
    once, the next in the process, added to Redis at the next flush; each then knows the
    other's count."""
    from limits import parse
    from limits.strategies import FixedWindowRateLimiter

    from app.api.ratelimit import CountedAhead

    limit = parse("10 per minute")
    a, b = CountedAhead(f"batched+{redis_url}"), CountedAhead(f"batched+{redis_url}")
    limiter_a, limiter_b = FixedWindowRateLimiter(a), FixedWindowRateLimiter(b)
    in_redis = CountedAhead(f"batched+{redis_url}").redis
    key = limit.key_for("key:abc")
    assert all(limiter_a.hit(limit, "key:abc") for _ in range(3))
    assert in_redis.get(key) == 1  # the first hit; two more wait in process a
    a.flush()
    assert in_redis.get(key) == 3
    assert all(limiter_b.hit(limit, "key:abc") for _ in range(4))  # b starts from Redis's 3
    b.flush()
    assert in_redis.get(key) == 7
    # a's count is read back at its next flush: then a knows b's hits too.
    assert limiter_a.hit(limit, "key:abc")  # 8 (a counts 3 + 1 locally until it flushes)
    a.flush()
    assert a.get(key) == 8 and in_redis.get(key) == 8
    assert [limiter_a.hit(limit, "key:abc") for _ in range(3)] == [True, True, False]
    a.flush()
    # b knows Redis's count as of its last flush: one more gets through (the overshoot the
    # module allows: what others counted since); from its next flush b knows it all.
    assert limiter_b.hit(limit, "key:abc")
    b.flush()
    assert b.get(key) == in_redis.get(key) == 12
    assert not limiter_b.hit(limit, "key:abc")
    assert in_redis.get_expiry(key) > 0
    # A count not read for longer than KNOWN_FOR is not relied on: the hit goes to Redis.
    a.KNOWN_FOR = 0.0
    limiter_a.hit(limit, "key:other")
    limiter_a.hit(limit, "key:other")
    assert in_redis.get(limit.key_for("key:other")) == 2


@pytest.mark.redis
def test_with_redis_the_api_counts_ahead_and_still_refuses_over_the_limit(database_url, redis_url, app,
                                                                          network):
    from app.api.ratelimit import CountedAhead, limiter

    key = network["partners"][0]["api_key"]
    db.session.remove()
    counted = make_test_app(database_url, REDIS_URL=redis_url, WAYBILL_API_RATE_LIMIT="5 per minute")
    assert isinstance(limiter.storage, CountedAhead)
    with counted.app_context():
        assert [r.status_code for r in hammer(counted.test_client(), key, 7)] == [200] * 5 + [429] * 2
        db.session.remove()
