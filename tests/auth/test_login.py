"""Sign-in, roles, sessions and the headers every page carries."""
import re
import time

import pytest

from sqlalchemy import select

from app.auth.models import AuditEntry, User
from tests.auth.conftest import PASSWORD, sign_in


def test_staff_land_on_the_console_and_drivers_on_their_pages(client, users):
    r = sign_in(client, "DISP@test.example ")  # case and spaces do not matter
    assert r.status_code == 302 and r.headers["Location"] == "/console/"
    assert client.get("/console/").status_code == 200
    other = client.application.test_client()
    r = sign_in(other, "driver@test.example")
    assert r.headers["Location"] == "/driver/"
    assert other.get("/driver/").status_code == 200


def test_the_root_takes_each_person_home_and_the_public_to_tracking(client, users):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"] == "/track"
    sign_in(client, "disp@test.example")
    assert client.get("/").headers["Location"] == "/console/"
    page = client.get("/console/").get_data(as_text=True)
    assert '<a class="brand" href="/">' in page
    driver = client.application.test_client()
    sign_in(driver, "driver@test.example")
    assert driver.get("/").headers["Location"] == "/driver/"


def test_the_session_cookie_is_secure_httponly_and_samesite(client, users):
    r = sign_in(client, "disp@test.example")
    cookie = r.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_five_wrong_passwords_make_that_address_wait_for_that_email_only(client, users, session):
    for _ in range(5):
        r = sign_in(client, "disp@test.example", "wrong password!")
        assert r.status_code == 401 and "wrong email or password" in r.get_data(as_text=True)
    waiting = sign_in(client, "disp@test.example")  # the right password, too late from here
    assert waiting.status_code == 401 and "try again in 15 minutes" in waiting.get_data(as_text=True)
    # An unknown email answers exactly as a known one: wrong, then waiting.
    for _ in range(5):
        assert "wrong email or password" in sign_in(client, "nobody@test.example", "x" * 12).get_data(as_text=True)
    assert "try again in 15 minutes" in sign_in(client, "nobody@test.example", "x" * 12).get_data(as_text=True)
    # The person signs in from their own address: nobody locked them out.
    elsewhere = client.application.test_client()
    assert sign_in(elsewhere, "disp@test.example", environ_base={"REMOTE_ADDR": "10.9.9.9"}).status_code == 302
    session.expire_all()
    whys = [(e.details or {}).get("why") for e in session.scalars(select(AuditEntry).where(
        AuditEntry.action == "sign_in_failed").order_by(AuditEntry.id))]
    assert whys[:6] == ["wrong password"] * 5 + ["waiting after failures"]


def test_one_address_trying_many_emails_is_slowed_down(client, users, session):
    for i in range(20):
        assert sign_in(client, f"guess{i}@test.example", "x" * 12).status_code == 401
    r = sign_in(client, "admin@test.example")
    assert r.status_code == 401 and "too many failed sign-ins from this address" in r.get_data(as_text=True)


def test_known_unknown_and_waiting_emails_cost_one_password_check_each(app, users, session, monkeypatch):
    """The time a refusal takes is one argon2 check (tens of milliseconds) whatever the
    reason, so the answer's timing tells nothing about the email."""
    from app.auth import services

    checks = []
    real = services._verify
    monkeypatch.setattr(services, "_verify", lambda h, p: checks.append(h) or real(h, p))

    def checks_for(email, ip):
        before = len(checks)
        with pytest.raises(services.SignInRefused):
            services.sign_in(session, email, "wrong password!", ip=ip)
        return len(checks) - before

    assert [checks_for("disp@test.example", "10.0.0.1") for _ in range(6)] == [1] * 6  # wrong x5, then waiting
    assert checks_for("nobody@test.example", "10.0.0.2") == 1
    assert checks[-1] == services._profile()[1]  # the hash of a password nobody has


def test_forms_need_the_csrf_token(client, users):
    r = client.post("/login", data={"email": "disp@test.example", "password": PASSWORD})
    assert r.status_code == 400
    sign_in(client, "disp@test.example")
    assert client.post("/logout").status_code == 400  # no token: still signed in
    assert client.get("/console/").status_code == 200


def _console_routes(app) -> list[tuple[str, str]]:
    """Every console route, with 1 for each id: (method, path)."""
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/console"):
            path = re.sub(r"<any\(([^,)]+)[^)]*\):\w+>", r"\1", rule.rule)  # a choice: its first
            path = re.sub(r"<(?:\w+:)?\w+>", "1", path)
            routes += [(m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


def test_every_console_page_needs_a_staff_login(client, users):
    routes = _console_routes(client.application)
    assert len(routes) > 25  # every page and action, found in the URL map
    for method, path in routes:
        if method == "GET":
            r = client.get(path)
            assert r.status_code == 302 and r.headers["Location"].startswith("/login?next="), path
    for role in ("driver", "partner"):
        c = client.application.test_client()
        sign_in(c, users[role].email)
        client.application.config["WTF_CSRF_CHECK_DEFAULT"] = False  # the role is what is tested here
        try:
            for method, path in routes:  # every page and every action
                r = c.open(path, method=method)
                assert r.status_code == 403, (role, method, path, r.status_code)
        finally:
            client.application.config["WTF_CSRF_CHECK_DEFAULT"] = True
    c = client.application.test_client()
    sign_in(c, "disp@test.example")
    assert c.get("/console/audit").status_code == 403  # admins only
    assert c.get("/driver/").status_code == 403


def test_sign_in_returns_to_the_page_asked_for_but_never_elsewhere(client, users):
    page = client.get("/login?next=/console/shipments")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = client.post("/login?next=/console/shipments", data={"email": "disp@test.example", "password": PASSWORD,
                                                            "csrf_token": token})
    assert r.headers["Location"] == "/console/shipments"
    other = client.application.test_client()
    page = other.get("/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    r = other.post("/login?next=//evil.example/x", data={"email": "disp@test.example", "password": PASSWORD,
                                                         "csrf_token": token})
    assert r.headers["Location"] == "/console/"


def test_sessions_end_after_twelve_hours_and_when_signed_out_everywhere(client, users, session):
    from app.auth.services import sign_out_everywhere

    sign_in(client, "disp@test.example")
    with client.session_transaction() as s:
        s["signed_in_at"] = time.time() - 13 * 3600
    r = client.get("/console/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    sign_in(client, "disp@test.example")
    with client.session_transaction() as s:
        s["seen_at"] = time.time() - 31 * 60  # half an hour idle
    assert client.get("/console/").status_code == 302
    sign_in(client, "disp@test.example")
    assert client.get("/console/").status_code == 200
    sign_out_everywhere(session, session.get(User, users["dispatcher"].id))
    session.commit()
    assert client.get("/console/").status_code == 302


def test_a_drivers_phone_stays_signed_in_for_weeks_until_signed_out_everywhere(client, users, session):
    from app.auth.services import sign_out_everywhere

    sign_in(client, "driver@test.example")
    with client.session_transaction() as s:  # signed in three weeks ago, last used two days ago
        s["signed_in_at"] = time.time() - 21 * 86400
        s["seen_at"] = time.time() - 2 * 86400
    assert client.get("/driver/").status_code == 200
    with client.session_transaction() as s:
        s["seen_at"] = time.time() - 8 * 86400  # a week and a day without use
    assert client.get("/driver/").status_code == 302
    sign_in(client, "driver@test.example")
    sign_out_everywhere(session, session.get(User, users["driver"].id))  # a lost phone
    session.commit()
    assert client.get("/driver/").status_code == 302


def _cookie(client):
    return client.get_cookie("session").value


def _with_cookie(app, value):
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def test_signing_out_ends_the_session_on_the_server_so_a_copied_cookie_is_refused(client, users, session):
    from app.auth.models import UserSession

    sign_in(client, "disp@test.example")
    stolen = _cookie(client)
    assert _with_cookie(client.application, stolen).get("/console/").status_code == 200  # the copy works...
    page = client.get("/console/").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/logout", data={"csrf_token": token})
    assert _with_cookie(client.application, stolen).get("/console/").status_code == 302  # ...until sign-out
    ended = session.scalars(select(UserSession).where(UserSession.user_id == users["dispatcher"].id)).one()
    assert ended.ended_reason == "signed out" and ended.ended_at is not None
    assert len(ended.token_hash) == 64 and ended.token_hash not in stolen  # only a hash is stored


def test_sign_out_everywhere_from_the_account_page(client, users, session):
    sign_in(client, "disp@test.example")
    laptop = client.application.test_client()
    sign_in(laptop, "disp@test.example")
    page = client.get("/account/password").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = client.post("/logout/everywhere", data={"csrf_token": token})
    assert r.status_code == 302 and "Signed out on 2 devices" in client.get("/login").get_data(as_text=True)
    assert laptop.get("/console/").status_code == 302 and client.get("/console/").status_code == 302


def test_a_password_change_needs_the_current_one_and_ends_the_other_sessions(client, users, session):
    sign_in(client, "disp@test.example")
    phone = client.application.test_client()
    sign_in(phone, "disp@test.example")
    page = client.get("/account/password").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    new = "a new and longer secret"
    r = client.post("/account/password", data={"csrf_token": token, "current": "not it at all",
                                               "new": new, "again": new})
    assert r.status_code == 400 and "the current password is wrong" in r.get_data(as_text=True)
    r = client.post("/account/password", data={"csrf_token": token, "current": PASSWORD, "new": new, "again": "x" * 12})
    assert r.status_code == 400 and "differ" in r.get_data(as_text=True)
    r = client.post("/account/password", data={"csrf_token": token, "current": PASSWORD, "new": new, "again": new})
    assert r.status_code == 302
    assert client.get("/console/").status_code == 200  # this session goes on
    assert phone.get("/console/").status_code == 302  # the others end
    assert sign_in(client.application.test_client(), "disp@test.example").status_code == 401
    assert sign_in(client.application.test_client(), "disp@test.example", new).status_code == 302


def test_deactivating_a_user_ends_their_sessions_at_once(client, users, session):
    from app.auth.services import set_active

    sign_in(client, "driver@test.example")
    assert client.get("/driver/").status_code == 200
    set_active(session, session.get(User, users["driver"].id), False)
    session.commit()
    assert client.get("/driver/").status_code == 302
    set_active(session, session.get(User, users["driver"].id), True)
    session.commit()
    assert client.get("/driver/").status_code == 302  # reactivated: a new sign-in is needed
    assert sign_in(client, "driver@test.example").status_code == 302


def test_pages_carry_the_security_headers(client, users):
    sign_in(client, "disp@test.example")
    for path in ("/login", "/console/", "/track", "/docs"):
        headers = client.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "same-origin"
        assert headers["X-Frame-Options"] == "DENY"
    assert client.get("/console/").headers["Cache-Control"] == "no-store"


def test_the_admin_reads_the_audit_log(client, users):
    sign_in(client, "disp@test.example", "wrong password!")
    sign_in(client, "admin@test.example")
    page = client.get("/console/audit").get_data(as_text=True)
    assert "sign_in_failed" in page and "disp@test.example" in page and "signed_in" in page


def test_error_pages_keep_the_menu_and_say_what_to_do(client, users):
    sign_in(client, "d7@test.example")  # a hub operator
    missing = client.get("/console/shipments/999999")
    assert missing.status_code == 404
    page = missing.get_data(as_text=True)
    assert "Not found" in page and 'href="/console/shipments"' in page and 'class="brand"' in page
    forbidden = client.get("/console/audit")
    assert forbidden.status_code == 403 and "Not yours to see" in forbidden.get_data(as_text=True)
    bad = client.get("/console/pickups?date=0001-13-01")
    assert bad.status_code == 400 and "date must be YYYY-MM-DD" in bad.get_data(as_text=True)
    assert client.get("/api/v1/nothing").get_json()["error"]["code"] == "not_found"  # the API stays JSON


def test_hsts_over_https_only_and_the_proxy_is_believed_only_when_configured(database_url, network):
    from tests.conftest import make_test_app

    direct = make_test_app(database_url)
    assert "Strict-Transport-Security" not in direct.test_client().get("/login").headers
    assert "max-age=31536000" in direct.test_client().get("/login", base_url="https://waybill.example").headers[
        "Strict-Transport-Security"]
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert "Strict-Transport-Security" not in direct.test_client().get("/login", headers=forwarded).headers
    behind = make_test_app(database_url, WAYBILL_TRUSTED_PROXIES=1)
    assert "Strict-Transport-Security" in behind.test_client().get("/login", headers=forwarded).headers


def test_production_hashes_passwords_with_rfc_9106_and_tests_with_the_cheapest_argon2id(app, session):
    """The suite hashes at argon2id's lowest cost to stay fast; production must not."""
    import config
    from argon2 import extract_parameters, profiles

    from app.auth.services import hash_password, use_password_profile

    assert config.from_env({})["WAYBILL_PASSWORD_PROFILE"] == "RFC_9106_LOW_MEMORY"
    with pytest.raises(ValueError, match="WAYBILL_PASSWORD_PROFILE"):
        config.from_env({"WAYBILL_PASSWORD_PROFILE": "CHEAPEST"})
    assert extract_parameters(hash_password("correct horse battery")) == profiles.CHEAPEST
    with pytest.raises(RuntimeError, match="test suite only"):
        use_password_profile("CHEAPEST", testing=False)
    try:
        use_password_profile("RFC_9106_LOW_MEMORY", testing=False)
        made = extract_parameters(hash_password("correct horse battery"))
        assert (made.type, made.memory_cost, made.time_cost) == (profiles.RFC_9106_LOW_MEMORY.type, 65536, 3)
    finally:
        use_password_profile("CHEAPEST", testing=True)
