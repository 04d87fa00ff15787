"""Customer satisfaction: the "delivered" message carries a signed link; one tap scores
the delivery, a comment may follow, answering again changes the score; a forged link or
a parcel not delivered is a 404; the account page shows the scores."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.crm import csat
from app.crm.models import CsatResponse, Notification
from tests.auth.conftest import client, csrf_of, sign_in, users  # noqa: F401 (fixtures)
from tests.factories import deliver_direct


def _delivered_link(client, session, partner) -> tuple[str, int]:
    from app.crm.notifications import plan_notifications

    with client.application.app_context():
        shipment = deliver_direct(session, partner, "CSAT-1", email="lan@example.com")
        plan_notifications(session, [(shipment.id, shipment.last_event_seq)], public_url="http://w")
        session.commit()
        sms = session.scalars(select(Notification).where(Notification.channel == "sms",
                                                         Notification.milestone == "delivered")).one()
        link = re.search(r"http://w(/feedback/\S+)", sms.body)[1]
        return link, shipment.id


def test_one_tap_scores_a_delivery_and_a_comment_may_follow(client, session, partner):
    link, shipment_id = _delivered_link(client, session, partner)
    page = client.get(link).get_data(as_text=True)
    assert "How did we do?" in page and 'id="comment"' not in page
    client.post(link, data={"score": "4", "csrf_token": csrf_of(page)})
    page = client.get(link).get_data(as_text=True)
    assert 'class="chosen" aria-label="4"' in page and 'id="comment"' in page
    client.post(link, data={"score": "5", "comment": "Tài xế rất lịch sự", "csrf_token": csrf_of(page)})
    client.post(link, data={"score": "9", "csrf_token": csrf_of(page)})  # not a score: nothing changes
    with client.application.app_context():
        [answer] = session.scalars(select(CsatResponse)).all()
        assert (answer.shipment_id, answer.score, answer.comment) == (shipment_id, 5, "Tài xế rất lịch sự")
        total, average, by_score = csat.scores_of(session, partner.id, since=answer.created_at)
        assert (total, average, by_score[5]) == (1, 5.0, 1)


def test_a_forged_link_finds_nothing(client, session, partner):
    link, shipment_id = _delivered_link(client, session, partner)
    assert client.get("/feedback/" + csat.token_for("another secret", shipment_id)).status_code == 404
    assert client.get(link[:-2] + "xx").status_code == 404


def test_the_account_page_shows_the_scores(client, users, session, partner):
    from app.auth.services import create_user

    link, _ = _delivered_link(client, session, partner)
    page = client.get(link).get_data(as_text=True)
    client.post(link, data={"score": "3", "comment": "Giao hơi trễ", "csrf_token": csrf_of(page)})
    with client.application.app_context():
        create_user(session, "am@test.example", role="account_manager", password="correct horse battery")
        session.commit()
    staff = client.application.test_client()
    sign_in(staff, "am@test.example")
    page = staff.get(f"/console/crm/accounts/{partner.id}").get_data(as_text=True)
    assert re.search(r'id="csat-average">3\.0 ', page) and "Giao hơi trễ" in page
