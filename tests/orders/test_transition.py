from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.orders import shipments
from app.orders.lifecycle import TransitionError
from app.outbox import OutboxMessage
from tests.factories import THU_DUC_UNIVERSITY, create, order_in

@pytest.fixture
def shipment(session, partner):
    s = create(session, partner, order_in("SO-T", dropoff=THU_DUC_UNIVERSITY))
    session.commit()
    return s


def move(session, shipment, *actions):
    for action in actions:
        shipments.transition(session, shipment.id, action, actor="test")
    session.commit()


def outbox_topics(session, shipment):
    return [(m.topic, m.payload) for m in session.scalars(
        select(OutboxMessage).where(OutboxMessage.shipment_id == shipment.id).order_by(OutboxMessage.id))]


def test_transition_appends_event_bumps_version_and_writes_outbox(session, shipment):
    move(session, shipment, "schedule_pickup", "pick_up")
    session.refresh(shipment)
    assert shipment.status == "picked_up"
    assert shipment.version == 3
    events = shipments.history(session, shipment.id)
    assert [(e.seq, e.type, e.from_status, e.to_status) for e in events] == [
        (1, "created", None, "created"), (2, "pickup_scheduled", "created", "pickup_scheduled"),
        (3, "picked_up", "pickup_scheduled", "picked_up")]
    # Every event is a webhook (seq 1 from intake); picked up is also a customer milestone.
    assert outbox_topics(session, shipment) == [
        ("webhook", {"shipment_id": shipment.id, "seq": 1}), ("webhook", {"shipment_id": shipment.id, "seq": 2}),
        ("webhook", {"shipment_id": shipment.id, "seq": 3}),
        ("notify_customer", {"shipment_id": shipment.id, "seq": 3})]


def test_forbidden_transition_raises_and_changes_nothing(session, shipment):
    with pytest.raises(TransitionError, match="cannot deliver a shipment that is created"):
        shipments.transition(session, shipment.id, "deliver", actor="test")
    session.rollback()
    session.refresh(shipment)
    assert shipment.status == "created" and shipment.last_event_seq == 1


def test_duplicate_scan_returns_the_first_result(session, shipment):
    move(session, shipment, "schedule_pickup")
    first = shipments.transition(session, shipment.id, "pick_up", actor="driver:1",
                                 client_event_id="phone-abc-1", device_time=clock.now())
    session.commit()
    again = shipments.transition(session, shipment.id, "pick_up", actor="driver:1",
                                 client_event_id="phone-abc-1", device_time=clock.now())
    session.commit()
    assert again.duplicate and again.event.id == first.event.id
    assert len(shipments.history(session, shipment.id)) == 3
    assert len(outbox_topics(session, shipment)) == 4  # 3 webhooks, 1 notification


def test_client_event_id_of_another_shipment_is_refused(session, partner, shipment):
    other = create(session, partner, order_in("SO-T2"))
    move(session, shipment, "schedule_pickup")
    move(session, other, "schedule_pickup")
    shipments.transition(session, shipment.id, "pick_up", actor="d", client_event_id="same")
    session.commit()
    with pytest.raises(TransitionError, match="another shipment"):
        shipments.transition(session, other.id, "pick_up", actor="d", client_event_id="same")


def test_late_scan_is_kept_in_history_without_moving_back(session, shipment):
    move(session, shipment, "schedule_pickup", "pick_up", "receive_at_centre", "depart_linehaul",
         "receive_at_hub")
    late = shipments.transition(session, shipment.id, "receive_at_centre", actor="scanner:7",
                                client_event_id="late-1", device_time=clock.now() - timedelta(hours=5))
    session.commit()
    session.refresh(shipment)
    assert late.applied is False
    assert shipment.status == "at_local_hub"
    history = shipments.history(session, shipment.id)
    assert history[-1].type == "arrived_at_centre" and history[-1].applied is False
    assert shipments.replay(history) == "at_local_hub"


def test_hold_remembers_and_release_restores(session, shipment):
    move(session, shipment, "schedule_pickup")
    shipments.transition(session, shipment.id, "hold", actor="user:1", reason="address problem")
    session.commit()
    session.refresh(shipment)
    assert (shipment.status, shipment.held_from, shipment.hold_reason) == (
        "on_hold", "pickup_scheduled", "address problem")
    move(session, shipment, "release")
    session.refresh(shipment)
    assert (shipment.status, shipment.held_from) == ("pickup_scheduled", None)


def test_failures_count_towards_return(session, shipment):
    move(session, shipment, "schedule_pickup", "pick_up", "receive_at_centre", "depart_linehaul",
         "receive_at_hub")
    for _ in range(3):
        move(session, shipment, "dispatch_for_delivery")
        shipments.transition(session, shipment.id, "fail_attempt", actor="d", reason="not_home")
        session.commit()
    session.refresh(shipment)
    assert shipment.failed_attempts == 3
    with pytest.raises(TransitionError, match="back to the sender"):
        shipments.transition(session, shipment.id, "dispatch_for_delivery", actor="d")


def test_stale_object_cannot_overwrite_a_newer_state(session, app, shipment):
    """The version counter: a change made from an out-of-date copy fails."""
    from sqlalchemy.orm import Session
    from sqlalchemy.orm.exc import StaleDataError

    from app.db import db

    other = Session(db.engine, expire_on_commit=False)
    stale = other.get(type(shipment), shipment.id)
    other.commit()  # keeps the copy, now out of date once the next line commits
    move(session, shipment, "schedule_pickup")
    stale.hold_reason = "stale write"
    with pytest.raises(StaleDataError):
        other.commit()
    other.close()
