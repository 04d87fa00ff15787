from __future__ import annotations

import random
from datetime import datetime, time, timedelta

import pytest
from sqlalchemy import select

from app import clock


@pytest.fixture
def month(session, network):
    """Last month played: orders over four of its days carried to the door or back, cash
    counted, fees charged, invoiced and COD remitted; a case and a score. Returns
    (period, first day, last day)."""
    from app import demo
    from app.billing import ledger, periods, remittances
    from app.crm import cases, csat
    from app.orders.models import Shipment
    from app.simulation import Simulation
    from workers.jobs import run_pending

    period = ledger.period_of(clock.today().replace(day=1) - timedelta(days=1))
    demo.seed_month(Simulation(session, drain=run_pending, rng=random.Random(7), only=set()), period, 48)
    remittances.run(session)
    start, after = periods.bounds(period)
    delivered = session.scalars(select(Shipment).where(Shipment.outcome == "delivered").order_by(Shipment.id)).all()
    with clock.at(clock.local(delivered[0].delivered_at) + timedelta(hours=1)):
        cases.open_case(session, "damaged", "Crushed box", "The box was crushed", shipment_id=delivered[0].id,
                        opened_via="staff")
        csat.record(session, delivered[1].id, partner_id=delivered[1].partner_id,
                    customer_id=delivered[1].order.customer_id, score=4)
    # Three parcels that take hours, not moments, to reach the door: 5, 9 and 30 hours.
    from app.crm.models import Partner
    from tests.factories import carry_to_door, create, order_in

    partner = session.get(Partner, network["partners"][0]["id"])
    taken = datetime.combine(start + timedelta(days=5), time(8), clock.network_zone())
    for hours in (5, 9, 30):
        with clock.at(taken):
            shipment = create(session, partner, order_in(f"SLOW-{hours}"))
            session.commit()
        with clock.at(taken + timedelta(hours=hours)):
            carry_to_door(session, shipment)
    session.commit()
    return period, start, after - timedelta(days=1)
