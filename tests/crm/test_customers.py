"""Customers who are known: one record per person by E.164 phone; their wishes followed
by every message; two records of one person merged without losing a shipment or a
message, and the merge undone as cleanly."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.crm import customers as known
from app.crm.models import Customer, Notification
from app.crm.notifications import messages_of_customers, plan_notifications
from app.crm.services import InvalidPhone, normalise_phone
from app.orders import console_reads
from app.orders.shipments import transition
from tests.factories import create, order_in


@pytest.mark.parametrize("written, e164", [
    ("0903 123 456", "+84903123456"), ("+84 90 312 3456", "+84903123456"), ("0084903123456", "+84903123456"),
    ("(028) 3822-1234", "+842838221234"), ("+65 9123 4567", "+6591234567"),
])
def test_phones_are_kept_in_e164_however_they_are_written(written, e164):
    assert normalise_phone(written) == e164


@pytest.mark.parametrize("bad", ["12345", "not a phone", "", "+84 1"])
def test_what_cannot_be_a_phone_is_refused(bad):
    with pytest.raises(InvalidPhone):
        normalise_phone(bad)


def _order_for(session, partner, reference, phone, email=None):
    order = order_in(reference, email=email)
    order.dropoff.phone = phone
    shipment = create(session, partner, order)
    transition(session, shipment.id, "pick_up", actor="t")
    session.flush()
    return shipment


def _picked_up_key(shipment):
    return (shipment.id, shipment.last_event_seq)


def test_one_person_across_partners_and_ways_of_writing_the_phone(session, partner, network):
    from app.crm.models import Partner

    other = session.get(Partner, network["partners"][1]["id"])
    a = _order_for(session, partner, "K-1", "0903 555 666", email="Mai@Example.com")
    b = _order_for(session, other, "K-2", "+84 903 555 666")
    assert a.order.customer_id == b.order.customer_id
    person = session.get(Customer, a.order.customer_id)
    assert (person.phone, person.email) == ("+84903555666", "mai@example.com")
    assert known.find(session, "MAI@example.com") == [person] == known.find(session, "090 3555 666")


def test_a_merge_loses_nothing_and_its_undo_gives_both_back(session, partner):
    a = _order_for(session, partner, "M-1", "0903 111 111", email="lan@example.com")
    b = _order_for(session, partner, "M-2", "0903 222 222", email="lan@example.com")
    plan_notifications(session, [_picked_up_key(a), _picked_up_key(b)], public_url="http://x")
    first, second = session.get(Customer, a.order.customer_id), session.get(Customer, b.order.customer_id)
    assert known.duplicates(session, first) == [second]
    before = {cid: (len(console_reads.customer_orders(session, [cid])), len(messages_of_customers(session, [cid])))
              for cid in (first.id, second.id)}
    assert before[first.id] == before[second.id] == (1, 2)

    with pytest.raises(known.CustomerError, match="say why"):
        known.merge(session, first, second, reason="", user_id=None)
    merge = known.merge(session, first, second, reason="same person, new SIM", user_id=None)
    ids = known.family(session, first.id)
    assert sorted(ids) == sorted([first.id, second.id]) and known.root_of(session, second) == first
    assert len(console_reads.customer_orders(session, ids)) == 2 and len(messages_of_customers(session, ids)) == 4
    assert known.duplicates(session, first) == []
    with pytest.raises(known.CustomerError, match="already merged"):
        known.merge(session, first, second, reason="again", user_id=None)
    with pytest.raises(known.CustomerError, match="merge the other way"):
        known.merge(session, second, first, reason="loop", user_id=None)

    known.undo_merge(session, merge.id, user_id=None)
    assert known.family(session, first.id) == [first.id] and second.merged_into_id is None
    after = {cid: (len(console_reads.customer_orders(session, [cid])), len(messages_of_customers(session, [cid])))
             for cid in (first.id, second.id)}
    assert after == before
    with pytest.raises(known.CustomerError, match="undone already"):
        known.undo_merge(session, merge.id, user_id=None)


def test_an_opted_out_customer_gets_no_message_and_a_merged_record_follows_its_survivor(session, partner):
    a = _order_for(session, partner, "O-1", "0903 333 333")
    person = session.get(Customer, a.order.customer_id)
    known.opt_out(session, person)
    assert person.marketing_consent is False
    assert plan_notifications(session, [_picked_up_key(a)], public_url="http://x") == []
    assert session.scalar(select(func.count()).select_from(Notification)) == 0
    # Their other number, merged into them: its messages follow their wish too.
    b = _order_for(session, partner, "O-2", "0903 444 444")
    known.merge(session, person, session.get(Customer, b.order.customer_id), reason="two SIMs", user_id=None)
    plan_notifications(session, [_picked_up_key(b)], public_url="http://x")
    assert session.scalar(select(func.count()).select_from(Notification)) == 0
    # Asking for messages again: they come.
    known.opt_out(session, person, out=False)
    c = _order_for(session, partner, "O-3", "0903 333 333")
    plan_notifications(session, [_picked_up_key(c)], public_url="http://x")
    assert session.scalar(select(func.count()).select_from(Notification)) == 1  # an SMS (no e-mail is known)


def test_preferences_are_checked(session, partner):
    a = _order_for(session, partner, "P-1", "0903 777 777")
    person = session.get(Customer, a.order.customer_id)
    with pytest.raises(known.CustomerError, match="language"):
        known.set_preferences(session, person, language="fr", instructions=None, safe_place=None,
                              preferred_time=None, notify_email=True, notify_sms=True)
    known.set_preferences(session, person, language="vi", instructions="Gọi trước 10 phút", safe_place="Bảo vệ",
                          preferred_time="evening", notify_email=False, notify_sms=True)
    assert (person.language, person.preferred_time, person.notify_email) == ("vi", "evening", False)
