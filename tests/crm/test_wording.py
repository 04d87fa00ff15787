"""Message templates: per event, channel, language and partner, rendered in a sandbox,
checked before they are saved, used for the partner's customers (the network's for the
others), and falling back to Waybill's own wording."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.crm import wording
from app.crm.models import Customer, Notification
from app.crm.notifications import plan_notifications
from app.orders.shipments import transition
from tests.auth.conftest import client, csrf_of, sign_in, users  # noqa: F401 (fixtures)
from tests.factories import create, order_in


@pytest.mark.parametrize("body, message", [
    ("{{ name.__class__.__mro__ }}", "SecurityError"), ("{{ ''.__class__ }}", "SecurityError"),
    ("{{ secret_key }}", "secret_key"), ("{% for x in %}", "TemplateSyntaxError"),
    ("{{ code }}", "code"),  # not a variable of "picked up"
])
def test_a_template_that_reaches_outside_its_variables_is_refused(body, message):
    with pytest.raises(wording.WordingError, match=message):
        wording.check("picked_up", "sms", None, body)


def test_an_email_template_needs_a_subject_and_renders_its_sample():
    with pytest.raises(wording.WordingError, match="subject"):
        wording.check("delivered", "email", "", "Hi {{ name }}")
    subject, body = wording.check("delivered", "email", "{{ shop }}: delivered", "Chào {{ name }}! {{ feedback_link }}")
    assert subject == "Saigon Books: delivered" and body.startswith("Chào An!")


def _picked_up(session, partner, reference, phone):
    order = order_in(reference, email=None)
    order.dropoff.phone, order.dropoff.name = phone, "Nguyễn Văn An"
    shipment = create(session, partner, order)
    session.get(Customer, shipment.order.customer_id).language = "vi"
    transition(session, shipment.id, "pick_up", actor="t")
    return shipment.id, shipment.last_event_seq


def test_the_partners_template_speaks_to_its_customers_and_the_networks_to_the_others(session, partner, network):
    from app.crm.models import Partner

    other = session.get(Partner, network["partners"][1]["id"])
    wording.save(session, event="picked_up", channel="sms", language="vi", partner_id=None,
                 subject=None, body="Waybill: {{ name }} ơi, đơn {{ tracking_number }} đã được lấy.", user_id=None)
    wording.save(session, event="picked_up", channel="sms", language="vi", partner_id=partner.id, subject=None,
                 body="{{ shop }} chào {{ name }}! Đơn {{ tracking_number }} giao trước {{ promised_day }}.",
                 user_id=None)
    keys = [_picked_up(session, partner, "W-1", "0903 000 001"), _picked_up(session, other, "W-2", "0903 000 002")]
    plan_notifications(session, keys, public_url="http://w")
    texts = {n.recipient: n.body for n in session.scalars(select(Notification).where(Notification.channel == "sms"))}
    assert texts["+84903000001"].startswith(f"{partner.name} chào An! Đơn WB")
    assert texts["+84903000002"].startswith("Waybill: An ơi, đơn WB")
    # Back to the default: Waybill's own wording, in Vietnamese.
    for row in wording.templates(session):
        wording.remove(session, row)
    plan_notifications(session, [_picked_up(session, partner, "W-3", "0903 000 003")], public_url="http://w")
    body = session.scalars(select(Notification.body).where(Notification.recipient == "+84903000003")).one()
    assert body.startswith(f"{partner.name} đã giao kiện hàng")


def test_staff_preview_and_save_a_template_from_the_console(client, users, session, partner):
    from app.auth.services import create_user

    with client.application.app_context():
        create_user(session, "am@test.example", role="account_manager", password="correct horse battery")
        session.commit()
    sign_in(client, "am@test.example")
    path = "/console/crm/messages?event=delivered&channel=sms&language=vi"
    page = client.get(path).get_data(as_text=True)
    assert "own wording is in use" in page
    form = {"event": "delivered", "channel": "sms", "language": "vi", "partner_id": str(partner.id),
            "csrf_token": csrf_of(page)}
    r = client.post("/console/crm/messages", data={**form, "body": "{{ nope }}", "action": "save"})
    assert r.status_code == 422 and "nope" in r.get_data(as_text=True)
    r = client.post("/console/crm/messages", data={**form, "body": "Đã giao {{ tracking_number }}. {{ feedback_link }}",
                                                   "action": "preview"})
    assert "Đã giao WB12345678901. https://track.example/feedback/abc" in r.get_data(as_text=True)
    client.post("/console/crm/messages", data={**form, "body": "Đã giao {{ tracking_number }}.", "action": "save"})
    page = client.get(f"{path}&partner_id={partner.id}").get_data(as_text=True)
    assert "This template is in use." in page
