"""A driver's batch of attempts, as a phone sends it when it is back online."""
from sqlalchemy import func, select

from app import clock
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.models import DeliveryAttempt, ProofOfDelivery
from app.delivery.services import AttemptIn, DeliveryError, ProofIn
from app.hubs import services as hubs
from app.hubs.models import Hub
from app.orders.lifecycle import TransitionError
from app.orders.models import Shipment
from tests.factories import create, order_in

def out_for_delivery(session, partner, n, cod=0):
    ids = [create(session, partner, order_in(f"SO-A{i}", cod=cod)).id for i in range(n)]
    session.commit()
    today = clock.today()
    for run in delivery.schedule_pickups(session, today, only=ids):
        delivery.confirm_pickup(session, run, actor="d")
    centre = session.get(Hub, session.get(Shipment, ids[0]).centre_id)
    hubs.scan_in_many(session, centre, ids, actor="u")
    planning.build_run_sheets(session, centre.id, today, actor="u", only=ids)
    session.commit()
    return ids


def proof(cod=0, **kw):
    return ProofIn(recipient_name="Lan", relation="self", captured_at=clock.now(), cod_received_amount=cod,
                   cod_method="cash" if cod else None, **kw)


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def test_mixed_batch_keeps_the_good_and_refuses_the_bad(session, partner):
    a, b, c, d = out_for_delivery(session, partner, 4, cod=150_000)
    batch = [
        AttemptIn(a, proof=proof(150_000), client_event_id="ph-1"),
        AttemptIn(b, reason_code="not_home", client_event_id="ph-2"),
        AttemptIn(c, proof=proof(150_000, ), client_event_id="ph-3"),
        AttemptIn(c, reason_code="not_home", client_event_id="ph-4"),  # after delivery: late
        AttemptIn(d, reason_code="teleported", client_event_id="ph-5"),  # unknown reason
        AttemptIn(999_999, reason_code="not_home", client_event_id="ph-6"),
    ]
    results = delivery.record_attempts(session, batch, driver_id=None, actor="driver:7")
    session.commit()
    kinds = [type(r).__name__ if isinstance(r, Exception) else ("applied" if r.applied else "late")
             for r in results]
    assert kinds == ["applied", "applied", "applied", "late", "DeliveryError", "LookupError"]
    statuses = {s.id: s.status for s in session.scalars(select(Shipment))}
    assert (statuses[a], statuses[b], statuses[c], statuses[d]) == (
        "delivered", "delivery_failed", "delivered", "out_for_delivery")
    assert count(session, ProofOfDelivery) == 2 and count(session, DeliveryAttempt) == 3


def test_a_resent_batch_records_nothing_twice(session, partner):
    a, b = out_for_delivery(session, partner, 2, cod=250_000)
    batch = [AttemptIn(a, proof=proof(250_000), client_event_id="ph-a"),
             AttemptIn(b, reason_code="refused", client_event_id="ph-b")]
    first = delivery.record_attempts(session, batch, driver_id=None, actor="driver:7")
    session.commit()
    again = delivery.record_attempts(session, batch, driver_id=None, actor="driver:7")
    session.commit()
    assert [r.duplicate for r in again] == [True, True]
    assert [r.event.id for r in again] == [r.event.id for r in first]
    assert count(session, ProofOfDelivery) == 1 and count(session, DeliveryAttempt) == 2
    assert session.get(Shipment, b).failed_attempts == 1


def test_cod_due_needs_a_method(session, partner):
    [a] = out_for_delivery(session, partner, 1, cod=99_000)
    [result] = delivery.record_attempts(session, [AttemptIn(a, proof=ProofIn("Lan", "self", clock.now()))],
                                        driver_id=None, actor="d")
    assert isinstance(result, DeliveryError) and "due on delivery" in str(result)
    try:
        delivery.fail_attempt(session, a, "not_home", driver_id=None, actor="d")
        delivery.fail_attempt(session, a, "not_home", driver_id=None, actor="d")
    except TransitionError as exc:
        assert "cannot fail_attempt a shipment that is delivery_failed" in str(exc)
    else:
        raise AssertionError("a second failure without going out again must be refused")


def test_attempts_recorded_without_a_driver_are_the_sheet_drivers_in_the_cash_too(session, partner):
    """The simulation records without a driver: the delivery is the sheet driver's, on the
    sheet and in that driver's cash for the day alike."""
    from app.billing import cash
    from app.delivery.models import Driver, RunSheet

    [sid] = out_for_delivery(session, partner, 1, cod=120_000)
    sheet = session.get(RunSheet, session.get(Shipment, sid).run_sheet_id)
    delivery.deliver(session, sid, proof(cod=120_000), driver_id=None, actor="driver:simulated")
    session.commit()
    assert session.scalars(select(ProofOfDelivery.driver_id)).one() == sheet.driver_id
    assert session.scalars(select(DeliveryAttempt.driver_id)).one() == sheet.driver_id
    taken = cash.collected(session, sheet.driver_id, clock.today(), clock.network_zone())
    assert [(c.shipment_id, c.amount) for c in taken] == [(sid, 120_000)]
    assert session.get(Driver, sheet.driver_id) is not None


def test_the_delivery_code_is_the_services_rule_whatever_the_surface(session, partner):
    """The service refuses a delivery without the right code: no surface can skip it."""
    import pytest

    from app.orders import assignments
    from app.orders.shipments import DeliveryCodeRefused

    [sid] = out_for_delivery(session, partner, 1)
    code = assignments.give_delivery_code(session.get(Shipment, sid))
    session.commit()
    for given in (None, "000000" if code != "000000" else "111111"):
        with pytest.raises(DeliveryCodeRefused):
            delivery.deliver(session, sid, proof(delivery_code=given), driver_id=None, actor="t")
        session.rollback()
    words = delivery.count_wrong_code(session, sid, DeliveryCodeRefused("the delivery code does not match"))
    assert words == "the delivery code does not match (4 tries left)"
    assert delivery.deliver(session, sid, proof(delivery_code=code), driver_id=None, actor="t").applied
    assert session.get(Shipment, sid).status == "delivered"
