"""Orders for tests, built from real coordinates in the demo city."""
from __future__ import annotations

from app import clock
from app.orders.intake import AddressIn, ContactIn, OrderIn, ParcelIn

CITY = "Ho Chi Minh City"
#: Real places: the sort centre's own area, and ones served by local hubs.
BEN_THANH_MARKET = (10.7725, 106.6980)      # District 1: in both the D7 (5.0 km) and Go Vap (8.2 km) areas
TAN_BINH_CENTRE_AREA = (10.7990, 106.6560)  # next to the sort centre: direct delivery
THU_DUC_UNIVERSITY = (10.8700, 106.8030)    # Thu Duc hub
CAN_GIO_BEACH = (10.4114, 106.9547)         # outside every hub's area
PICKUP = (10.7735, 106.7005)


def order_in(reference="SO-1", *, dropoff=TAN_BINH_CENTRE_AREA, cod=0, service_level="standard",
             parcels=None, district="", email="lan@example.com", **overrides) -> OrderIn:
    lat, lon = dropoff if dropoff else (None, None)
    order = OrderIn(
        reference=reference, service_level=service_level,
        pickup=ContactIn(name="Saigon Books", phone="028 3822 1234",
                         address=AddressIn(line1="45 Le Loi", district="District 1", city=CITY,
                                           country="VN", lat=PICKUP[0], lon=PICKUP[1])),
        dropoff=ContactIn(name="Lan Nguyen", phone="0903 123 456", email=email,
                          address=AddressIn(line1="12 Nguyen Hue", district=district, city=CITY,
                                            country="VN", lat=lat, lon=lon)),
        parcels=parcels or [ParcelIn(weight_grams=1200, length_cm=30, width_cm=20, height_cm=10)],
        cod_amount=cod, cod_currency="VND" if cod else None,
    )
    for k, v in overrides.items():
        setattr(order, k, v)
    return order


def deliver_direct(session, partner, reference, *, cod=0, email="lan@example.com", paid=None, method="cash"):
    """Take an order to the centre's own area through every step up to delivery, using
    the services the real surfaces call (the customer pays ``paid`` of the ``cod`` due, by
    ``method``). Returns the shipment."""
    shipment = create(session, partner, order_in(reference, cod=cod, email=email))
    session.commit()
    return carry_to_door(session, shipment, cod=cod, paid=paid, method=method)


def carry_to_door(session, shipment, *, cod=0, paid=None, method="cash"):
    """Take a new shipment for the centre's own area through pickup, scan-in and a run
    sheet to its delivery (``deliver_direct``'s steps, for a shipment already made)."""
    from app.delivery import planning
    from app.delivery import services as delivery
    from app.hubs import services as hubs
    from app.hubs.models import Hub

    today = clock.today()
    [run] = delivery.schedule_pickups(session, today, only=[shipment.id])
    delivery.confirm_pickup(session, run, actor="driver:1", shipment_ids=[shipment.id])
    centre = session.get(Hub, shipment.centre_id)
    hubs.scan_in(session, centre, shipment.id, actor="user:1")
    planning.build_run_sheets(session, centre.id, today, actor="user:1", only=[shipment.id])
    paid = cod if paid is None else paid
    proof = delivery.ProofIn(recipient_name="Lan", relation="self",
                             captured_at=clock.now(), cod_received_amount=paid,
                             cod_method=method if cod else None,
                             cod_difference_reason=None if paid == cod else "the customer paid another amount")
    delivery.deliver(session, shipment.id, proof, driver_id=None, actor="driver:1")
    session.commit()
    return shipment


def create(session, partner, order):
    """Take an order through intake; return its shipment (ORM object)."""
    from app.orders.intake import create_order
    from app.orders.models import Shipment

    return session.get(Shipment, create_order(session, partner, order, actor="t").shipment_id)


def ready_at_centre(session, partner, n, *, prefix="SO-P"):
    """``n`` parcels for the centre's own area, picked up and scanned in there: ready to go
    out on a run sheet. Returns the centre and the shipment ids."""
    import random

    from app.delivery import services as delivery
    from app.hubs import services as hubs
    from app.hubs.models import Hub
    from app.orders.models import Shipment

    rng = random.Random(n)
    ids = [create(session, partner, order_in(
        f"{prefix}{i}", dropoff=(TAN_BINH_CENTRE_AREA[0] + rng.uniform(-0.02, 0.02),
                                 TAN_BINH_CENTRE_AREA[1] + rng.uniform(-0.02, 0.02)))).id
           for i in range(n)]
    session.commit()
    for run in delivery.schedule_pickups(session, clock.today(), only=ids):
        delivery.confirm_pickup(session, run, actor="d")
    centre = session.get(Hub, session.get(Shipment, ids[0]).centre_id)
    hubs.scan_in_many(session, centre, ids, actor="u")
    session.commit()
    return centre, ids


def twice_at_once(app, work, *, at):
    """Run ``work(session)`` in two threads at the same moment (each in its own app
    context and transaction, committed), the clock at ``at``. Returns what each returned
    and the errors raised."""
    import threading

    import time_machine

    from app.db import db

    made, errors = [], []
    barrier = threading.Barrier(2)

    def once():
        with app.app_context(), time_machine.travel(at, tick=True):
            try:
                barrier.wait()
                made.append(work(db.session))
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - handed to the test
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=once) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return made, errors
