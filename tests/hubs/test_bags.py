"""Bags and trips by hand: sort at the centre, close, dispatch, unload at the hub with a
discrepancy report."""
import pytest
from sqlalchemy import select

from app import clock
from app.delivery import services as delivery
from app.hubs import bags
from app.hubs import services as hubs
from app.hubs.models import Bag, Hub, LinehaulTrip, TripDiscrepancy
from app.orders.models import Shipment
from app.orders.shipments import lock_shipments, transition
from tests.factories import THU_DUC_UNIVERSITY, create, order_in


def at_centre_for_thu_duc(session, partner, n, prefix="B-"):
    ids = [create(session, partner, order_in(f"{prefix}{i}", dropoff=THU_DUC_UNIVERSITY)).id for i in range(n)]
    session.commit()
    for run in delivery.schedule_pickups(session, clock.today(), only=ids):
        delivery.confirm_pickup(session, run, actor="d")
    first = session.get(Shipment, ids[0])
    centre = session.get(Hub, first.centre_id)
    hubs.scan_in_many(session, centre, ids, actor="u")
    session.commit()
    return centre, session.get(Hub, first.delivery_hub_id), ids


def sort(session, centre, sid):
    [s] = lock_shipments(session, [sid])
    return bags.sort_to_bag(session, centre, s, actor="user:1")


def test_parcels_go_into_their_hubs_open_bag_and_a_closed_bag_leaves_on_a_trip(session, partner):
    centre, td, ids = at_centre_for_thu_duc(session, partner, 4)
    bag = sort(session, centre, ids[0])
    assert bag.code == f"BG{bag.id:08d}" and bag.to_hub_id == td.id and bag.status.value == "open"
    assert sort(session, centre, ids[1]).id == bag.id  # same hub, same open bag
    with pytest.raises(bags.BagError, match=f"already in bag {bag.code}"):
        sort(session, centre, ids[0])
    bags.close_bag(session, bag.id, centre.id)
    second = sort(session, centre, ids[2])  # the first is closed: a new bag
    assert second.id != bag.id
    session.commit()

    # The schedule's automatic line-haul leaves bagged parcels alone, takes the rest.
    [auto] = hubs.dispatch_linehauls(session, only=ids)
    session.commit()
    assert {s.id for s in session.scalars(select(Shipment).where(Shipment.linehaul_trip_id == auto.id))} == {ids[3]}

    done = bags.dispatch_trip(session, centre, td.id, actor="user:1")
    session.commit()
    assert done.bags == [bag.code] and done.parcels == 2 and done.dropped == []
    for sid in ids[:2]:
        s = session.get(Shipment, sid)
        assert s.status == "in_transit" and s.linehaul_trip_id == done.trip.id
    assert session.get(Shipment, ids[2]).status == "at_shipping_centre"  # its bag is still open
    with pytest.raises(bags.BagError, match="no closed bag"):
        bags.dispatch_trip(session, centre, td.id, actor="user:1")


def test_a_bag_is_only_for_line_haul_parcels_at_this_centre(session, partner):
    centre, td, [sid] = at_centre_for_thu_duc(session, partner, 1)
    direct = create(session, partner, order_in("B-direct"))  # delivered from the centre itself
    early = create(session, partner, order_in("B-early", dropoff=THU_DUC_UNIVERSITY))  # not picked up
    session.commit()
    with pytest.raises(bags.BagError, match="no line-haul"):
        sort(session, centre, direct.id)
    with pytest.raises(bags.BagError, match="it is created, not at the centre"):
        sort(session, centre, early.id)
    with pytest.raises(bags.BagError, match="at a shipping centre"):
        sort(session, td, sid)
    with pytest.raises(bags.BagError, match="empty"):
        empty = Bag(from_hub_id=centre.id, to_hub_id=td.id, status=bags.BagStatus.OPEN)
        session.add(empty)
        session.flush()
        bags.close_bag(session, empty.id, centre.id)


def test_a_held_parcel_stays_behind_when_its_bag_leaves(session, partner):
    centre, td, ids = at_centre_for_thu_duc(session, partner, 2)
    bag = sort(session, centre, ids[0])
    sort(session, centre, ids[1])
    bags.close_bag(session, bag.id, centre.id)
    transition(session, ids[1], "hold", actor="user:1", reason="damaged box")
    session.commit()
    done = bags.dispatch_trip(session, centre, td.id, actor="user:1")
    number = session.get(Shipment, ids[1]).tracking_number
    assert done.parcels == 1 and done.dropped == [(number, "it is on hold")]
    assert [i.shipment_id for i in session.get(Bag, bag.id).items] == [ids[0]]


def test_unloading_a_trip_reports_missing_and_unexpected_parcels(session, partner):
    centre, td, ids = at_centre_for_thu_duc(session, partner, 5)
    bag = sort(session, centre, ids[0])
    sort(session, centre, ids[1])
    bags.close_bag(session, bag.id, centre.id)
    other = sort(session, centre, ids[2])  # a second bag, closed too
    sort(session, centre, ids[3])
    bags.close_bag(session, other.id, centre.id)
    trip = bags.dispatch_trip(session, centre, td.id, actor="user:1").trip
    [stray_trip] = hubs.dispatch_linehauls(session, only=[ids[4]])  # another trip's parcel
    session.commit()
    numbers = {sid: session.get(Shipment, sid).tracking_number for sid in ids}

    trip = bags.departed_trip(session, trip.id, td)
    moved, message = bags.receive_scan(session, td, trip, bag.code.lower(), actor="user:2")
    assert moved == 2 and message == f"bag {bag.code}: 2 parcels received"
    moved, message = bags.receive_scan(session, td, trip, numbers[ids[2]], actor="user:2")
    assert moved == 1 and message.endswith("received")
    moved, message = bags.receive_scan(session, td, trip, numbers[ids[4]], actor="user:2")
    assert moved == 1 and "not on trip" in message  # it came off this truck: received, noted
    with pytest.raises(bags.BagError, match="unknown"):
        bags.receive_scan(session, td, trip, "NOPE", actor="user:2")
    session.commit()

    report = bags.finish_receiving(session, td, trip.id, actor="user:2")
    session.commit()
    assert report.received == 3
    assert report.missing == [numbers[ids[3]]] and report.unexpected == [numbers[ids[4]]]
    missing = session.get(Shipment, ids[3])
    assert missing.status == "on_hold" and missing.held_from == "in_transit"
    assert missing.hold_reason == f"missing from line-haul trip {trip.id}"
    assert session.get(LinehaulTrip, trip.id).status.value == "arrived"
    kinds = {(d.kind, d.shipment_id) for d in session.scalars(select(TripDiscrepancy))}
    assert kinds == {("missing", ids[3]), ("unexpected", ids[4])}
    assert {b.status.value for b in session.scalars(select(Bag).where(Bag.trip_id == trip.id))} == {"received"}
    with pytest.raises(bags.BagError, match="received already"):
        bags.finish_receiving(session, td, trip.id, actor="user:2")
    assert stray_trip.id != trip.id
