"""Languages: every piece of English text the code and templates mark has its Vietnamese,
with the same placeholders; the tracking page and the customers' messages speak the
reader's language; Vietnamese names are called by the given name."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy import select

from app.words import given_name
from tests.auth.conftest import client  # noqa: F401 (fixture: each request its own app context)

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None, "N_": None}
METHODS = [("app/**.py", "python"), ("app/**/templates/**.html", "jinja2")]


def _marked() -> set:
    """Every message id the code and templates mark: a string, or (singular, plural)."""
    return {message if isinstance(message, str) else tuple(message[:2])
            for _, _, message, _, _ in extract_from_dir(str(ROOT), METHODS, keywords=KEYWORDS)}


def _catalogue(language: str):
    with (ROOT / "app" / "translations" / language / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f)


def test_every_message_id_has_its_vietnamese_with_the_same_placeholders():
    marked = _marked()
    assert len(marked) > 60  # the tracking page, its problem form, the customers' messages
    vi = {m.id: m.string for m in _catalogue("vi") if m.id}
    missing = sorted(map(str, marked - {k for k, v in vi.items() if v and all(v if isinstance(v, tuple) else [v])}))
    assert missing == [], f"no Vietnamese for {missing[:5]}: run `make messages` and translate"
    placeholder = re.compile(r"%\(\w+\)s|\{\w+\}")  # %(name)s in Python, {name} in the driver's script
    for english, vietnamese in vi.items():
        # Vietnamese has one form for every number: it says what the English plural says.
        english = english[1] if isinstance(english, tuple) else english
        for text in (vietnamese if isinstance(vietnamese, tuple) else (vietnamese,)):
            assert sorted(placeholder.findall(english)) == sorted(placeholder.findall(text)), english


@pytest.mark.parametrize("name, called", [("Nguyễn Văn An", "An"), ("Trần Thị Hoa", "Hoa"), ("nguyen van an", "an"),
                                          ("Lan Nguyen", "Lan"), ("Khanh", "Khanh"), ("", "")])
def test_vietnamese_names_are_called_by_the_given_name(name, called):
    assert given_name(name) == called


def _shipment(session, partner, name="Nguyễn Văn An", phone="0903 123 456"):
    from tests.factories import create, order_in

    order = order_in("VI-1")
    order.dropoff.name, order.dropoff.phone = name, phone
    shipment = create(session, partner, order)
    session.commit()
    return shipment


def test_the_tracking_page_speaks_vietnamese_when_asked_or_when_the_browser_does(client, session, partner):
    with client.application.app_context():
        path = f"/track/{_shipment(session, partner).tracking_number}"
    english = client.get(path).get_data(as_text=True)
    assert "Order received" in english and "For An in" in english and "Nguyễn in" not in english
    page = client.get(path, headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"}).get_data(as_text=True)
    assert 'lang="vi"' in page and "Đã nhận đơn hàng" in page and "Gửi An tại" in page and "Báo cáo sự cố" in page
    assert re.search(r"Dự kiến giao trước <strong>(thứ|chủ nhật)", page, re.IGNORECASE)  # the day in Vietnamese
    assert re.search(r'id="promise-reason">[^<]*lấy hàng [^<]*, giao ', page), page[page.find("promise-reason"):][:300]
    r = client.get(f"{path}?lang=vi")
    assert "lang=vi" in r.headers["Set-Cookie"]
    assert "Đã nhận đơn hàng" in client.get(path).get_data(as_text=True)  # remembered
    assert "Order received" in client.get(f"{path}?lang=en").get_data(as_text=True)


def test_a_customer_who_reads_vietnamese_gets_messages_in_vietnamese(app, session, partner):
    from app.crm.models import Customer, Notification
    from app.crm.notifications import plan_notifications
    from app.orders.shipments import transition
    from tests.factories import create, order_in

    order = order_in("VI-2", cod=250_000)
    order.dropoff.phone = "0903 999 111"
    shipment = create(session, partner, order)
    session.get(Customer, shipment.order.customer_id).language = "vi"
    for step in ("schedule_pickup", "pick_up", "receive_at_centre", "dispatch_for_delivery"):
        transition(session, shipment.id, step, actor="t")
    plan_notifications(session, [(shipment.id, shipment.last_event_seq)], public_url="http://w")
    sms = session.scalars(select(Notification).where(Notification.channel == "sms")).one()
    assert sms.body.startswith(f"Kiện hàng {shipment.tracking_number} từ ")
    assert "Vui lòng chuẩn bị sẵn 250.000\xa0₫." in sms.body  # money as Vietnamese writes it
    assert f"Theo dõi đơn hàng: http://w/track/{shipment.tracking_number}" in sms.body


def test_a_customer_reports_a_problem_only_with_the_phones_last_digits_and_a_case_opens(client, session, partner):
    from app.crm.models import Case

    with client.application.app_context():
        shipment = _shipment(session, partner, phone="0903 123 456")
        shipment_id, path = shipment.id, f"/track/{shipment.tracking_number}"
    page = client.get(f"{path}?lang=vi").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    r = client.post(f"{path}/problem", data={"type": "late", "phone_end": "9999", "message": "Chưa nhận được",
                                             "csrf_token": token}, follow_redirects=True)
    assert "Đó không phải là 4 số cuối" in r.get_data(as_text=True)
    with client.application.app_context():
        assert session.scalars(select(Case)).all() == []
    r = client.post(f"{path}/problem", data={"type": "late", "phone_end": "3456", "message": "Chưa nhận được hàng",
                                             "email": "An@Example.com", "csrf_token": token}, follow_redirects=True)
    text = r.get_data(as_text=True)
    with client.application.app_context():
        case = session.scalars(select(Case)).one()
        assert f"chúng tôi đã mở yêu cầu #{case.id}" in text
        assert (case.opened_via, case.shipment_id, case.reporter_email, case.reporter_name) == (
            "tracking", shipment_id, "an@example.com", "Nguyễn Văn An")


def test_the_drivers_pages_speak_vietnamese_to_a_phone_that_does(client, session, partner):
    import json

    from app.auth.services import create_user
    from app.delivery.models import Driver
    from tests.auth.conftest import sign_in

    with client.application.app_context():
        driver = session.scalars(select(Driver)).first()
        create_user(session, "taixe@test.example", role="driver", password="correct horse battery",
                    driver_id=driver.id)
        session.commit()
    sign_in(client, "taixe@test.example", "correct horse battery")
    page = client.get("/driver/", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert 'lang="vi"' in page and ">Hôm nay<" in page and "Đăng xuất" in page
    assert "Hôm nay bạn chưa có bảng giao hàng" in page
    words = json.loads(re.search(r"data-words='([^']+)'", page)[1].replace("&#34;", '"'))
    assert words["scan_first"] == "Hãy quét các kiện hàng trước." and words["progress"] == "Xong {done} · còn {left}"
    cash = client.get("/driver/cash", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert "Tiền mặt cần nộp:" in cash
    assert ">Today<" in client.get("/driver/?lang=en").get_data(as_text=True)


def test_the_portal_speaks_vietnamese_to_a_shop_whose_browser_does(client, session, partner, network):
    from app.auth.services import create_user
    from tests.auth.conftest import csrf_of, sign_in
    from tests.factories import create, order_in

    with client.application.app_context():
        create(session, partner, order_in("VI-P1"))
        create_user(session, "cuahang@test.example", role="partner", password="correct horse battery",
                    partner_id=partner.id)
        session.commit()
    sign_in(client, "cuahang@test.example", "correct horse battery")
    page = client.get("/portal/orders", headers={"Accept-Language": "vi-VN"}).get_data(as_text=True)
    assert ">Đơn hàng<" in page and ">Yêu cầu hỗ trợ<" in page and "chưa lấy hàng" in page
    r = client.post("/portal/cases", data={"type": "late", "body": "?", "tracking_number": "WB00000000000",
                                           "csrf_token": csrf_of(page)},
                    headers={"Accept-Language": "vi-VN"}, follow_redirects=True)
    assert "Chưa mở được: no parcel WB00000000000 of yours" in r.get_data(as_text=True)  # the service's own words


def test_a_person_chooses_the_language_of_their_pages_and_it_follows_their_login(client, session, partner):
    from app.auth.models import User
    from app.auth.services import create_user
    from tests.auth.conftest import csrf_of, sign_in

    with client.application.app_context():
        create_user(session, "cuahang@test.example", role="partner", password="correct horse battery",
                    partner_id=partner.id)
        session.commit()
    sign_in(client, "cuahang@test.example", "correct horse battery")
    page = client.get("/portal/orders", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert ">Orders<" in page
    r = client.post("/account/language", data={"language": "vi", "next": "/portal/orders",
                                               "csrf_token": csrf_of(page)})
    assert r.headers["Location"].endswith("/portal/orders")
    assert ">Đơn hàng<" in client.get("/portal/orders", headers={"Accept-Language": "en"}).get_data(as_text=True)
    with client.application.app_context():
        assert session.scalars(select(User.language).where(User.email == "cuahang@test.example")).one() == "vi"
    other = client.application.test_client()  # another device: the login carries the choice
    sign_in(other, "cuahang@test.example", "correct horse battery")
    assert ">Đơn hàng<" in other.get("/portal/orders", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert client.post("/account/language", data={"language": "fr", "csrf_token": csrf_of(page)}).status_code == 400


def test_the_case_queue_speaks_vietnamese_to_customer_service(client, session, partner):
    from app.auth.services import create_user
    from app.crm import cases
    from tests.auth.conftest import sign_in

    with client.application.app_context():
        cases.open_case(session, "damaged", "Hộp bị móp", "Khách gửi ảnh", opened_via="staff", partner_id=partner.id)
        create_user(session, "cskh@test.example", role="customer_service", password="correct horse battery")
        session.commit()
    sign_in(client, "cskh@test.example", "correct horse battery")
    page = client.get("/console/crm/cases", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert ">Hàng đợi<" in page and "Hộp bị móp" in page and ">cao<" in page  # high priority, in words
    assert re.search(r"còn \d+ giờ \d\d phút|còn \d+ phút", page)  # the SLA countdown
    assert "Parcel damaged" not in page  # the type's words are Vietnamese too


def test_signing_in_and_the_error_pages_speak_the_browsers_language(client, session, partner):
    from app.auth.services import create_user
    from tests.auth.conftest import sign_in

    with client.application.app_context():
        create_user(session, "lan@test.example", role="partner", password="correct horse battery",
                    partner_id=partner.id)
        session.commit()
    vi = {"Accept-Language": "vi-VN,vi;q=0.9"}
    page = client.get("/login", headers=vi).get_data(as_text=True)
    assert "<h1>Đăng nhập</h1>" in page and 'lang="vi"' in page
    r = sign_in(client, "lan@test.example", "wrong horse battery", headers=vi)
    assert r.status_code == 401 and "sai e-mail hoặc mật khẩu" in r.get_data(as_text=True)
    assert "wrong email or password" in sign_in(client, "lan@test.example", "wrong again").get_data(as_text=True)
    missing = client.get("/track/WB00000000000/nothing", headers=vi)
    assert missing.status_code == 404 and "Không tìm thấy" in missing.get_data(as_text=True)
    sign_in(client, "lan@test.example", headers=vi)
    page = client.get("/account/password", headers=vi).get_data(as_text=True)
    assert "Đổi mật khẩu" in page and "người dùng của đối tác" in page  # the header names the role too


def test_the_api_gives_the_promises_reason_in_the_language_asked(client, network):
    from tests.api.test_network import BODY, auth

    body = {"service_level": "express", "pickup": BODY["pickup"]["address"], "dropoff": BODY["dropoff"]["address"],
            "parcels": BODY["parcels"]}
    key = network["partners"][0]["api_key"]
    english = client.post("/api/v1/quotes", headers=auth(key), json=body).get_json()["promise"]
    vietnamese = client.post("/api/v1/quotes", headers={**auth(key), "Accept-Language": "vi"}, json=body).get_json()
    assert "line-haul to District 7 Hub" in english["reason"]
    assert "trung chuyển đến District 7 Hub" in vietnamese["promise"]["reason"]
    assert vietnamese["promise"]["date"] == english["date"]


def test_tracking_in_another_language_is_another_answer(client, network):
    from tests.api.test_network import auth, post

    key = network["partners"][0]["api_key"]
    number = post(client, key).get_json()["tracking_number"]
    english = client.get(f"/api/v1/tracking/{number}", headers=auth(key))
    vietnamese = client.get(f"/api/v1/tracking/{number}",
                            headers={**auth(key), "Accept-Language": "vi", "If-None-Match": english.headers["ETag"]})
    assert vietnamese.status_code == 200 and vietnamese.headers["ETag"] != english.headers["ETag"]
    assert english.get_json()["promise"]["reason"] != vietnamese.get_json()["promise"]["reason"]

