import pytest
from sqlalchemy import func, select

from app.orders.intake import IntakeError, ParcelIn, create_order
from app.orders.models import Order, Shipment, ShipmentEvent
from app.orders.shipments import history
from app.orders.tracking import is_valid_tracking_number
from app.outbox import OutboxMessage
from tests.factories import CAN_GIO_BEACH, THU_DUC_UNIVERSITY, order_in


def order_of(session, created):
    return session.get(Order, created.order_id)


def test_creates_order_parcels_shipment_and_first_event(session, partner):
    created = create_order(session, partner, order_in("SO-1", cod=250_000), actor="partner:1")
    session.commit()
    order = session.get(Order, created.order_id)
    shipment = order.shipment
    assert (created.shipment_id, created.tracking_number, created.status) == (
        shipment.id, shipment.tracking_number, "created")
    assert is_valid_tracking_number(shipment.tracking_number)
    assert shipment.status == "created" and shipment.version == 1
    assert order.recipient_phone == "+84903123456"
    assert order.cod_amount == 250_000 and order.cod_currency == "VND"
    assert [p.seq for p in order.parcels] == [1]
    events = session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id)).all()
    assert [(e.seq, e.type, e.to_status) for e in events] == [(1, "created", "created")]
    # Creation notifies no customer; partners' webhooks hear of it.
    [message] = session.scalars(select(OutboxMessage)).all()
    assert (message.topic, message.payload) == ("webhook", {"shipment_id": shipment.id, "seq": 1})


def test_route_and_quote_are_recorded(session, partner):
    order = order_of(session, create_order(session, partner, order_in("SO-2", dropoff=THU_DUC_UNIVERSITY), actor="t"))
    s = order.shipment
    assert s.route == "linehaul"
    assert [leg["kind"] for leg in s.planned_legs] == ["pickup", "linehaul", "delivery"]
    assert s.planned_legs[1] == {"kind": "linehaul", "from": "SGN-C", "to": "SGN-TD"}
    # The demo's standard card: volumetric 30x20x10/5000 = 1.2 kg = actual, so the 2 kg
    # band of the zone the distance falls in (A up to 5 km, B up to 15, C beyond); VAT 8 %.
    assert s.billable_grams == 1200
    zone = "A" if s.distance_km <= 5 else "B" if s.distance_km <= 15 else "C"
    freight = {"A": 22_000, "B": 28_000, "C": 36_000}[zone]
    assert s.quote["zone"] == zone and s.quote["lines"][0] == ["freight", freight]
    net = sum(amount for _, amount in s.quote["lines"])
    assert s.quoted_fee_amount == net + int(net * 0.08 + 0.5) and s.quoted_fee_currency == "VND"


def test_volumetric_weight_is_billed_when_larger(session, partner):
    bulky = [ParcelIn(weight_grams=500, length_cm=50, width_cm=40, height_cm=30)]
    order = order_of(session, create_order(session, partner, order_in("SO-3", parcels=bulky), actor="t"))
    assert order.shipment.billable_grams == 12_000


def test_address_without_coordinates_is_geocoded_by_district(session, partner):
    order = order_of(session, create_order(session, partner, order_in("SO-4", dropoff=None, district="Quận 7"), actor="t"))
    address = order.dropoff_address
    assert address.located_by == "gazetteer"
    assert (address.lat, address.lon) == (10.7340, 106.7216)
    assert order.shipment.delivery_hub_id is not None


def test_address_that_cannot_be_placed_is_a_clear_error(session, partner):
    with pytest.raises(IntakeError) as err:
        create_order(session, partner, order_in("SO-5", dropoff=None, district=""), actor="t")
    assert err.value.errors[0]["field"] == "dropoff.address"
    assert "cannot place" in err.value.errors[0]["message"]


def test_dropoff_outside_every_area_is_refused(session, partner):
    with pytest.raises(IntakeError) as err:
        create_order(session, partner, order_in("SO-6", dropoff=CAN_GIO_BEACH), actor="t")
    assert "outside every hub's delivery area" in str(err.value)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Order)) == 0


def test_every_bad_field_is_named(session, partner):
    bad = order_in("", service_level="overnight",
                   parcels=[ParcelIn(weight_grams=0, length_cm=10, width_cm=-1, height_cm=5)],
                   cod_amount=1000, cod_currency="XYZ")
    with pytest.raises(IntakeError) as err:
        create_order(session, partner, bad, actor="t")
    fields = {e["field"] for e in err.value.errors}
    assert fields == {"reference", "service_level", "parcels[0].weight_grams",
                      "parcels[0].width_cm", "cod.currency"}


def test_reference_is_unique_per_partner_not_globally(session, network, partner):
    from app.crm.models import Customer, Partner
    from app.orders.models import Address

    create_order(session, partner, order_in("SO-7"), actor="t")
    session.commit()
    before = [session.scalar(select(func.count()).select_from(m)) for m in (Address, Customer)]
    with pytest.raises(IntakeError, match="already an order"):
        create_order(session, partner, order_in("SO-7", email="other@example.com"), actor="t")
    # Nothing of the refused order was written, even before the caller rolls back.
    assert [session.scalar(select(func.count()).select_from(m)) for m in (Address, Customer)] == before
    assert session.scalar(select(Customer.email)) == "lan@example.com"
    other = session.get(Partner, network["partners"][1]["id"])
    create_order(session, other, order_in("SO-7"), actor="t")
    session.commit()
    assert session.scalar(select(func.count()).select_from(Shipment)) == 2


def test_customer_is_found_again_by_phone(session, partner):
    a = order_of(session, create_order(session, partner, order_in("SO-8"), actor="t"))
    b = order_of(session, create_order(session, partner, order_in("SO-9", email="new@example.com"), actor="t"))
    assert a.customer_id == b.customer_id
    session.expire_all()
    assert b.customer.email == "new@example.com"
    assert a.pickup_location_id == b.pickup_location_id


def test_a_batch_takes_the_good_orders_and_names_the_bad_ones(session, partner):
    from app.orders.intake import create_orders

    create_order(session, partner, order_in("B-0"), actor="t")
    batch = [order_in("B-1", cod=10_000), order_in("B-2", dropoff=CAN_GIO_BEACH),
             order_in("B-0"), order_in("B-3", dropoff=THU_DUC_UNIVERSITY),
             order_in("B-1"), order_in("", service_level="overnight")]
    results = create_orders(session, partner, batch, actor="t")
    session.commit()
    created = [r for r in results if not isinstance(r, IntakeError)]
    assert [type(r).__name__ for r in results] == [
        "CreatedOrder", "IntakeError", "IntakeError", "CreatedOrder", "IntakeError", "IntakeError"]
    assert "outside every hub's delivery area" in str(results[1])
    assert "'B-0' is already an order" in str(results[2])
    assert "'B-1' is already an order" in str(results[4])  # twice in one batch
    assert {e["field"] for e in results[5].errors} == {"reference", "service_level"}
    # Each created order is whole and is what its result says.
    for r, reference in zip(created, ("B-1", "B-3")):
        order = session.get(Order, r.order_id)
        assert order.reference == reference and order.shipment.id == r.shipment_id
        assert order.shipment.tracking_number == r.tracking_number and is_valid_tracking_number(r.tracking_number)
        assert [p.seq for p in order.parcels] == [1]
        assert [e.type for e in history(session, r.shipment_id)] == ["created"]
    assert (session.get(Order, created[0].order_id).cod_amount, created[1].route) == (10_000, "linehaul")
    assert session.scalar(select(func.count()).select_from(Order)) == 3
    # Same phone in one batch: one customer.
    assert len({session.get(Order, r.order_id).customer_id for r in created}) == 1


def test_a_reference_taken_by_another_request_meanwhile_refuses_only_that_order(session, partner, monkeypatch):
    """Two requests may both find a reference free; the batch then writes each order in a
    savepoint of its own, so only the one that collided is refused."""
    from app.orders import intake

    create_order(session, partner, order_in("R-1"), actor="t")
    session.commit()
    monkeypatch.setattr(intake, "_taken_references", lambda conn, partner_id, refs: set())
    results = intake.create_orders(session, partner, [order_in("R-0"), order_in("R-1"), order_in("R-2")],
                                   actor="t")
    session.commit()
    assert [isinstance(r, IntakeError) for r in results] == [False, True, False], results
    assert "'R-1' is already an order" in str(results[1])
    assert sorted(session.scalars(select(Order.reference))) == ["R-0", "R-1", "R-2"]
    assert session.scalar(select(func.count()).select_from(Shipment)) == 3
