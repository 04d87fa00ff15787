"""Browser tests: the real app served over HTTP on loopback, driven by Debian's headless
Chromium through Playwright (its own browser download is not used)."""
from __future__ import annotations

import os
import random
import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def playwright():
    if not shutil.which(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield browser
    browser.close()


@pytest.fixture
def demo(app, session, backend):
    """The demo network, its logins and some orders in every state."""
    if backend != "sqlite":
        pytest.skip("pages are the same on every database; browsed once, on SQLite")
    from app import demo as demo_data
    from app.simulation import Simulation
    from workers.jobs import run_pending

    made = demo_data.seed_network(session)
    logins = {u["role"]: u for u in demo_data.seed_users(session)}
    session.commit()
    sim = Simulation(session, drain=run_pending, rng=random.Random(5))
    demo_data.seed_orders(sim, 70)
    session.commit()
    session.remove()  # SQLite: no transaction of the test's may hold the lock the server needs
    return {**made, "logins": logins}


@pytest.fixture
def live_server(app, demo):
    """The app on a real port, served from its own thread (each request its own context).
    No map tiles: this machine has no internet (the maps' plain background is tested)."""
    app.config["WAYBILL_MAP_TILES"] = ""
    server = make_server("localhost", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}"
    server.shutdown()


def watched_page(context):
    """A new page whose script errors and console errors collect in ``page.errors``."""
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors
    return page


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1366, "height": 860}, base_url=live_server)
    yield watched_page(context)
    context.close()


def sign_in(page, login: dict) -> None:
    page.goto("/login")
    page.fill("#email", login["email"])
    page.fill("#password", login["password"])
    page.click("button[type=submit]")
