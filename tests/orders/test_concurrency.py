"""On PostgreSQL: twenty threads racing on one shipment leave one winner and a
consistent history."""
import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from app.db import db
from app.delivery import planning
from app.delivery import services as delivery
from app.orders import shipments
from app.orders.lifecycle import TransitionError
from app.orders.models import Shipment


@pytest.mark.postgres
def test_twenty_conflicting_threads_one_winner(app, backend, session, partner):
    if backend != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers")
    from app import clock
    from app.hubs import services as hubs
    from app.hubs.models import Hub
    from tests.factories import create, deliver_direct, order_in  # noqa: F401  (same set-up helpers)

    shipment = create(session, partner, order_in("SO-RACE"))
    session.commit()
    [run] = delivery.schedule_pickups(session, clock.today(), only=[shipment.id])
    delivery.confirm_pickup(session, run, actor="d", shipment_ids=[shipment.id])
    hubs.scan_in(session, session.get(Hub, shipment.centre_id), shipment.id, actor="u")
    planning.build_run_sheets(session, shipment.centre_id, clock.today(), actor="u", only=[shipment.id])
    session.commit()
    before = session.get(Shipment, shipment.id)
    version_before, events_before = before.version, before.last_event_seq
    db.session.remove()

    barrier = threading.Barrier(20)
    outcomes = []

    def racer(i):
        with app.app_context():
            s = db.session
            barrier.wait()
            try:
                if i % 2:
                    proof = delivery.ProofIn(recipient_name="Lan", relation="self",
                                             captured_at=datetime.now(timezone.utc))
                    result = delivery.deliver(s, shipment.id, proof, driver_id=None, actor=f"t{i}")
                else:
                    result = delivery.fail_attempt(s, shipment.id, "not_home", driver_id=None, actor=f"t{i}")
                s.commit()
                outcomes.append(("applied" if result.applied else "late", i))
            except TransitionError:
                s.rollback()
                outcomes.append(("refused", i))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(outcomes) == 20
    winners = [i for kind, i in outcomes if kind == "applied"]
    assert len(winners) == 1
    after = db.session.get(Shipment, shipment.id)
    history = shipments.history(db.session, shipment.id)
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    assert shipments.replay(history) == after.status
    assert after.status == ("delivered" if winners[0] % 2 else "delivery_failed")
    new_events = after.last_event_seq - events_before
    assert new_events == sum(1 for kind, _ in outcomes if kind != "refused")
    assert after.version - version_before == new_events  # one committed update per event
    proofs = delivery.proof_for(db.session, shipment.id)
    assert (proofs is not None) == (after.status == "delivered")


@pytest.mark.postgres
def test_concurrent_first_orders_from_a_new_place_and_customer(app, backend, session, partner):
    """Eight orders at once from one new pickup address: all taken, one pickup location.
    Then eight at once to one new customer: all taken, one customer."""
    if backend != "postgresql":
        pytest.skip("concurrent writers are a PostgreSQL matter")
    from app.crm.models import Customer, PickupLocation
    from app.orders.intake import create_order
    from tests.factories import order_in

    partner_id = partner.id
    db.session.remove()
    barrier = threading.Barrier(8)
    errors = []

    def order(i, same_customer):
        with app.app_context():
            s = db.session
            try:
                from app.crm.models import Partner

                p = s.get(Partner, partner_id)
                o = order_in(f"SO-NEW-{i}")
                o.pickup.address.line1 = "1 Brand New Street"
                if not same_customer:  # else they queue on the customer row, hiding the race
                    o.dropoff.phone = f"0903 000 00{i}"
                barrier.wait()
                create_order(s, p, o, actor="t")
                s.commit()
            except Exception as exc:  # collected, asserted below
                errors.append(exc)
            finally:
                db.session.remove()

    def race(same_customer, first):
        threads = [threading.Thread(target=order, args=(i, same_customer)) for i in range(first, first + 8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []

    race(False, 0)
    s = db.session
    assert len(s.scalars(select(PickupLocation).where(PickupLocation.address_key.like("1 brand new%"))).all()) == 1
    assert len(s.scalars(select(Customer)).all()) == 8
    race(True, 8)
    assert len(s.scalars(select(Customer)).all()) == 9


@pytest.mark.postgres
def test_writing_rows_that_refer_to_shipments_never_deadlocks_with_their_lock(app, backend, session, partner):
    """A notification (or any row whose foreign key names a shipment) takes FOR KEY SHARE
    on the shipment; a worker locking shipments for a change must not conflict with it.
    With FOR UPDATE this order of events was a deadlock under ordinary load."""
    if backend != "postgresql":
        pytest.skip("row locks are a PostgreSQL matter; SQLite serialises writers")
    from sqlalchemy.orm import Session

    from app.crm.models import Notification
    from app.orders.models import ShipmentEvent, Order
    from tests.factories import create, order_in

    first, second = (create(session, partner, order_in(f"SO-LOCK{i}")) for i in (1, 2))
    session.commit()
    facts = {s.id: (session.scalars(select(ShipmentEvent.id).where(ShipmentEvent.shipment_id == s.id)).first(),
                    session.get(Order, s.order_id).customer_id) for s in (first, second)}
    db.session.remove()

    def note(s, shipment_id):
        event_id, customer_id = facts[shipment_id]
        s.add(Notification(shipment_id=shipment_id, event_id=event_id, customer_id=customer_id,
                           milestone="created", channel="email", recipient="a@example.com", body="x"))
        s.flush()

    locked, noted, errors = threading.Event(), threading.Event(), []

    def locker():
        with app.app_context():
            try:
                shipments.lock_shipments(db.session, [first.id, second.id])
                locked.set()
                noted.wait(10)
                db.session.commit()
            except Exception as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    with Session(db.engine) as writer:
        note(writer, second.id)             # KEY SHARE on the second shipment
        thread = threading.Thread(target=locker)
        thread.start()                      # locks the first, then the second
        locked.wait(3)
        try:
            note(writer, first.id)          # KEY SHARE on the first: a cycle, were it FOR UPDATE
            writer.commit()
        except Exception as exc:
            errors.append(exc)
        noted.set()
        thread.join(15)
    assert errors == []
    assert locked.is_set()
