"""The partner portal: a partner's people work their own account — orders, uploads,
pickup windows, cases, billing, keys and webhooks, logins — and reach nothing of another
account's (every route that names an object, from the URL map, answers 404)."""
from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from app import clock, photos
from app.auth.models import User
from app.auth.services import create_user
from app.billing.models import Invoice, Remittance
from app.crm import cases
from app.crm import services as crm
from app.crm.models import Case, CaseMessage, Partner, PickupLocation
from app.delivery.services import proof_for
from app.orders.models import Order, Shipment
from app.reports import schedules
from app.webhooks import services as webhooks
from tests.auth.conftest import PASSWORD, csrf_of, sign_in
from tests.console.test_losses import _jpeg
from tests.factories import create, deliver_direct, order_in


@pytest.fixture
def shop(client, users, session, partner):
    """The demo's first partner with an order and its own login ("shop@test.example")."""
    with client.application.app_context():
        shipment = create(session, partner, order_in("PORTAL-1"))
        session.commit()
        made = {"partner_id": partner.id, "order_id": shipment.order_id, "tracking_number": shipment.tracking_number,
                "shipment_id": shipment.id}
    sign_in(client, "shop@test.example")
    return made


def test_a_partner_signs_in_to_the_portal_and_finds_its_orders(client, shop, session, network):
    r = client.get("/")
    assert r.headers["Location"].endswith("/portal/")
    page = client.get("/portal/orders").get_data(as_text=True)
    assert shop["tracking_number"] in page
    # Another partner's order is not listed, nor found by its number.
    with client.application.app_context():
        other = session.get(Partner, network["partners"][1]["id"])
        theirs = create(session, other, order_in("OTHER-1")).tracking_number
        session.commit()
    assert theirs not in client.get("/portal/orders").get_data(as_text=True)
    assert "No order here" in client.get(f"/portal/orders?q={theirs}").get_data(as_text=True)
    found = client.get(f"/portal/orders?q={shop['tracking_number'].lower()}").get_data(as_text=True)
    assert found.count('id="order-') == 1
    by_phone = client.get("/portal/orders?q=0903 123 456").get_data(as_text=True)  # the recipient's phone, national form
    assert shop["tracking_number"] in by_phone
    # Staff have the console, not the portal.
    staff = client.application.test_client()
    sign_in(staff, "disp@test.example")
    assert staff.get("/portal/orders").status_code == 403


def test_one_order_whole_its_label_a_cancel_and_a_case(client, shop, session):
    path = f"/portal/orders/{shop['order_id']}"
    page = client.get(path).get_data(as_text=True)
    assert 'id="history"' in page and "Order created" in page and 'id="cancel"' in page
    label = client.get(f"{path}/label")
    assert label.status_code == 200 and label.data.startswith(b"%PDF")
    r = client.post("/portal/cases", data={"type": "wrong_address", "tracking_number": shop["tracking_number"],
                                            "body": "The customer moved to District 3", "csrf_token": csrf_of(page)})
    case_id = int(r.headers["Location"].rsplit("/", 1)[1])
    case = session.get(Case, case_id)
    assert (case.opened_via, case.partner_id, case.shipment_id, case.type) == (
        "portal", shop["partner_id"], shop["shipment_id"], "wrong_address")
    r = client.post(f"{path}/address", data={"line1": "12 Vo Van Tan", "district": "Nowhere Land",
                                             "city": "Atlantis", "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Not changed: " in r.get_data(as_text=True)
    r = client.post(f"{path}/address", data={"line1": "12 Vo Van Tan", "district": "District 3",
                                             "city": "Ho Chi Minh City", "reason": "moved", "csrf_token": csrf_of(page)},
                    follow_redirects=True)
    assert "The new address is on its way to the hub." in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Order, shop["order_id"]).dropoff_address.line1 == "12 Vo Van Tan"
    r = client.post(f"{path}/cancel", data={"reason": "the customer moved", "csrf_token": csrf_of(page)},
                    follow_redirects=True)
    assert "Cancelled." in r.get_data(as_text=True)
    session.expire_all()
    assert session.get(Shipment, shop["shipment_id"]).status == "cancelled"


def test_the_partner_follows_its_case_and_never_reads_internal_notes(client, shop, session):
    with client.application.app_context():
        case = cases.open_case(session, "late", "", "Where is it?", opened_via="portal", partner_id=shop["partner_id"],
                               shipment_id=shop["shipment_id"], author_name="Shop")
        cases.reply(session, case, "note", "INTERNAL: the hub lost the bag", author_id=None, author_name="Lan")
        cases.reply(session, case, "to_partner", "It is on today's van.", author_id=None, author_name="Lan",
                    wait=True)
        session.commit()
        case_id = case.id
    page = client.get(f"/portal/cases/{case_id}").get_data(as_text=True)
    assert "on today&#39;s van" in page and "INTERNAL" not in page and 'id="case-status">waiting' in page
    client.post(f"/portal/cases/{case_id}/reply", data={"body": "Thanks, it arrived", "csrf_token": csrf_of(page)})
    session.expire_all()
    assert session.get(Case, case_id).status == "open"  # their answer restarts the clock
    kinds = session.scalars(select(CaseMessage.kind).where(CaseMessage.case_id == case_id)
                            .order_by(CaseMessage.id)).all()
    assert kinds[-2:] == ["from_partner", "status"]  # their message, then waiting → open
    assert "Thanks, it arrived" in client.get(f"/portal/cases/{case_id}").get_data(as_text=True)


def test_a_csv_upload_takes_the_good_rows_and_says_what_is_wrong_with_the_others(client, shop, session):
    from app.orders import csv_import

    page = client.get("/portal/upload").get_data(as_text=True)
    template = client.get("/portal/upload/template.csv").get_data(as_text=True)
    header, example = template.splitlines()[:2]
    reference = csv_import.template().splitlines()[1].split(",")[0]
    good = example.replace(reference, "UP-GOOD", 1)
    bad = example.replace(reference, "UP-BAD", 1).replace("standard", "overnight", 1)
    body = f"{header}\n{good}\n{bad}\n"
    r = client.post("/portal/upload", data={"file": (io.BytesIO(body.encode()), "orders.csv"),
                                            "csrf_token": csrf_of(page)}, content_type="multipart/form-data")
    text = r.get_data(as_text=True)
    assert "1 taken, 1 refused" in text and "service_level" in text
    assert session.scalars(select(Order.reference).where(Order.reference.like("UP-%"))).all() == ["UP-GOOD"]


def test_pickup_windows_keys_and_endpoints_of_the_account(client, shop, session, app):
    app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
    page = client.get("/portal/pickups").get_data(as_text=True)
    place_id = int(re.search(r'id="place-(\d+)"', page)[1])
    r = client.post(f"/portal/pickups/{place_id}", data={"ready_from": "13:00", "ready_until": "12:00",
                                                        "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "Not changed: the window must start before it ends" in r.get_data(as_text=True)
    client.post(f"/portal/pickups/{place_id}", data={"ready_from": "13:00", "ready_until": "18:00",
                                                    "csrf_token": csrf_of(page)})
    session.expire_all()
    assert session.get(PickupLocation, place_id).ready_from.hour == 13

    page = client.get("/portal/developers").get_data(as_text=True)
    r = client.post("/portal/developers/keys", data={"csrf_token": csrf_of(page)})
    key = re.search(r"<code>(wbk_[^<]+)</code>", r.get_data(as_text=True))[1]
    with client.application.app_context():
        assert crm.partner_for_api_key(session, key).id == shop["partner_id"]
    assert key not in client.get("/portal/developers").get_data(as_text=True)  # shown once
    r = client.post("/portal/developers/endpoints", data={"url": "http://127.0.0.1:9/hook", "events": ["shipment.delivered"],
                                                          "csrf_token": csrf_of(page)})
    assert r.status_code == 201 and "whsec_" in r.get_data(as_text=True)
    [endpoint] = webhooks.endpoints_of(session, shop["partner_id"])
    assert endpoint.event_types == ["shipment.delivered"]
    assert client.get(f"/portal/developers/endpoints/{endpoint.id}").status_code == 200
    client.post(f"/portal/developers/endpoints/{endpoint.id}/delete", data={"csrf_token": csrf_of(page)})
    session.expire_all()
    assert webhooks.endpoints_of(session, shop["partner_id"]) == []


def test_the_account_adds_its_own_people_and_switches_them_off(client, shop, session):
    page = client.get("/portal/users").get_data(as_text=True)
    client.post("/portal/users", data={"email": "Packer@Shop.example", "name": "Packer", "password": PASSWORD,
                                       "csrf_token": csrf_of(page)})
    user = session.scalars(select(User).where(User.email == "packer@shop.example")).one()
    assert (user.role, user.partner_id) == ("partner", shop["partner_id"])
    client.post(f"/portal/users/{user.id}/active", data={"csrf_token": csrf_of(page)})
    session.expire_all()
    assert session.get(User, user.id).active is False
    me = session.scalars(select(User).where(User.email == "shop@test.example")).one()
    r = client.post(f"/portal/users/{me.id}/active", data={"csrf_token": csrf_of(page)}, follow_redirects=True)
    assert "you cannot switch yourself off" in r.get_data(as_text=True)


# -- isolation ------------------------------------------------------------------------------

def _objects_of(session, partner_id: int, app) -> dict[str, int]:
    """One object of each kind a portal route names, all the account's."""
    app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
    partner = session.get(Partner, partner_id)
    shipment = deliver_direct(session, partner, "ISO-1")
    proof_for(session, shipment.id).photo_ref = photos.save_photo(_jpeg(), photos.photo_dir())
    today = clock.today()
    invoice = Invoice(number=f"INV-ISO-{partner_id}", partner_id=partner_id, period_start=today, period_end=today,
                      issued_on=today, due_on=today, currency="VND", net_amount=1000, vat_amount=80,
                      total_amount=1080)
    remittance = Remittance(number=f"REM-ISO-{partner_id}", partner_id=partner_id, currency="VND",
                            delivered_until=today, shipments=0, cod_amount=0, payout_amount=0)
    session.add_all([invoice, remittance])
    endpoint = webhooks.create_endpoint(session, partner, url="http://127.0.0.1:9/h", event_types=[],
                                        allow_private=True)
    case = cases.open_case(session, "feedback", "", "hi", opened_via="portal", partner_id=partner_id)
    user = create_user(session, f"iso{partner_id}@shop.example", role="partner", password=PASSWORD,
                       partner_id=partner_id)
    place = crm.pickup_locations_of(session, partner_id)[0]
    report = schedules.save(session, "Theirs", {"source": "shipments", "measures": ["count"]}, owner_id=user.id,
                            partner_id=partner_id, shared=True)
    subscription = schedules.subscribe(session, "partner", partner_id, f"iso{partner_id}@shop.example",
                                       user_id=user.id, partner_id=partner_id)
    session.commit()
    return {"order_id": shipment.order_id, "case_id": case.id, "invoice_id": invoice.id,
            "remittance_id": remittance.id, "endpoint_id": endpoint.id, "user_id": user.id,
            "location_id": place.id, "report_id": report.id, "subscription_id": subscription.id}


def _fill(rule: str, values=None) -> str:
    """A route's path with its parts filled: a choice by its first value, an object by
    ``values`` (else 1)."""
    rule = re.sub(r"<any\(([^)]*)\):\w+>", lambda m: m[1].split(",")[0].strip(), rule)
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]) if values else "1", rule)


def portal_routes(app):
    return sorted({(method, rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/portal")
                   for method in rule.methods - {"HEAD", "OPTIONS"}})


def test_every_portal_route_naming_another_accounts_object_is_a_404(client, users, session, network, app):
    with client.application.app_context():
        theirs = _objects_of(session, network["partners"][1]["id"], app)
    routes = [(m, r) for m, r in portal_routes(app) if re.search(r"<(?:\w+:)?\w+>", r)]
    # Every kind of object a route names is made above (a new kind fails here first).
    assert {name for _, rule in routes for name in re.findall(r"<(?:\w+:)?(\w+)>", rule)} == set(theirs)
    sign_in(client, "shop@test.example")
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False  # the account is what is tested here
    try:
        for method, rule in routes:
            path = _fill(rule, theirs)
            r = client.open(path, method=method, data={"body": "x", "reason": "x", "line1": "1 A", "city": "HCMC",
                                                       "ready_from": "09:00", "ready_until": "10:00"})
            assert r.status_code == 404, (method, path, r.status_code)
    finally:
        app.config["WTF_CSRF_CHECK_DEFAULT"] = True
    # Their owner reaches the same pages.
    owner = client.application.test_client()
    sign_in(owner, f"iso{network['partners'][1]['id']}@shop.example")
    for method, rule in routes:
        if method == "GET":
            assert owner.get(_fill(rule, theirs), follow_redirects=True).status_code == 200, rule


def test_every_portal_page_needs_a_partner_login(client, users, app):
    routes = portal_routes(app)
    for method, rule in routes:
        path = _fill(rule)
        if method == "GET":
            r = client.get(path)
            assert r.status_code == 302 and "/login" in r.headers["Location"], path
    for role in ("driver", "dispatcher", "admin"):
        c = app.test_client()
        sign_in(c, users[role].email)
        for method, rule in routes:
            if method == "GET":
                assert c.get(_fill(rule)).status_code == 403, (role, rule)


def test_a_case_cannot_name_another_accounts_parcel(client, shop, session, network):
    with client.application.app_context():
        other = session.get(Partner, network["partners"][1]["id"])
        theirs = create(session, other, order_in("THEIRS-1")).tracking_number
        session.commit()
    page = client.get("/portal/cases").get_data(as_text=True)
    r = client.post("/portal/cases", data={"type": "late", "tracking_number": theirs, "body": "where?",
                                           "csrf_token": csrf_of(page)}, follow_redirects=True)
    assert f"Not opened: no parcel {theirs} of yours" in r.get_data(as_text=True)
    with client.application.app_context():
        assert session.scalars(select(Case)).all() == []
