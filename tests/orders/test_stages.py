"""Stage SLAs: each stage of a journey has a time target — the network's, a hub's, a
partner's, or a partner's at a hub, the most specific counting — and the shipments past
it (or past three quarters of it) are listed, by the hub whose stage it is."""
from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from app import clock
from app.hubs.models import Hub
from app.orders import stages
from tests.auth.conftest import client, csrf_of, sign_in, users  # noqa: F401 (fixtures)
from tests.factories import THU_DUC_UNIVERSITY, create, order_in


def _waiting(session, partner, reference, hours_ago, **kw):
    """A new order, as if taken ``hours_ago`` and not picked up since."""
    shipment = create(session, partner, order_in(reference, **kw))
    shipment.stage_since = clock.now() - timedelta(hours=hours_ago)
    session.commit()
    return shipment


def _ids(found):
    return {w.shipment_id for w in found}


def test_a_stage_past_its_target_is_breached_and_near_it_at_risk(session, partner):
    late = _waiting(session, partner, "SLA-LATE", 25)
    near = _waiting(session, partner, "SLA-NEAR", 19)
    fresh = _waiting(session, partner, "SLA-FRESH", 2)
    breached, at_risk, capped = stages.watch(session)
    assert not capped
    assert _ids(breached) == {late.id} and _ids(at_risk) == {near.id}
    # A stage with more late shipments than a page reads says so, and keeps the longest waiting.
    few = stages.watch(session, limit=1)
    assert few.capped and _ids(few.breached) == {late.id} and few.at_risk == []
    [w] = breached
    assert (w.stage, w.target_hours, w.hub_id) == ("pickup", 24, late.centre_id)
    assert timedelta(hours=-1, minutes=-1) < w.left(clock.now()) < timedelta(minutes=-59)
    assert fresh.id not in _ids(breached) | _ids(at_risk)


def test_the_most_specific_target_counts(session, partner, network):
    shipment = _waiting(session, partner, "SLA-T", 20)
    centre = shipment.centre_id
    stages.set_target(session, "pickup", 10)  # the network's
    assert _ids(stages.watch(session)[0]) == {shipment.id}
    stages.set_target(session, "pickup", 40, hub_id=centre)  # the centre's
    assert _ids(stages.watch(session)[0]) == set() and _ids(stages.watch(session)[1]) == set()
    stages.set_target(session, "pickup", 24, partner_id=partner.id)  # the partner's, anywhere
    assert _ids(stages.watch(session)[1]) == {shipment.id}
    stages.set_target(session, "pickup", 12, hub_id=centre, partner_id=partner.id)  # the partner's at that hub
    assert _ids(stages.watch(session)[0]) == {shipment.id}
    stages.set_target(session, "pickup", None, hub_id=centre, partner_id=partner.id)  # cleared: the partner's again
    assert _ids(stages.watch(session)[1]) == {shipment.id}
    session.commit()
    other = session.scalars(select(Hub.id).where(Hub.id != centre)).first()
    assert stages.watch(session, hub_id=other) == ([], [], False)


def test_a_line_haul_parcel_is_watched_at_its_delivering_hub(session, partner):
    from app.delivery import services as delivery
    from app.hubs import services as hubs

    shipment = create(session, partner, order_in("SLA-LH", dropoff=THU_DUC_UNIVERSITY))
    session.commit()
    [run] = delivery.schedule_pickups(session, clock.today(), only=[shipment.id])
    delivery.confirm_pickup(session, run, actor="driver:1", shipment_ids=[shipment.id])
    hubs.scan_in(session, session.get(Hub, shipment.centre_id), shipment.id, actor="user:1")
    before = clock.now()
    with time_machine.travel(before - timedelta(hours=13), tick=False):  # the line-haul left 13 hours ago
        hubs.dispatch_linehauls(session, only=[shipment.id])
    session.commit()
    session.refresh(shipment)
    assert shipment.stage_since == before - timedelta(hours=13)
    [w] = stages.watch(session).breached
    assert (w.shipment_id, w.stage, w.hub_id) == (shipment.id, "linehaul", shipment.delivery_hub_id)
    assert stages.watch(session, hub_id=shipment.centre_id).breached == []


def test_the_console_lists_breaches_and_sets_targets(client, session, partner, users):  # noqa: F811
    with client.application.app_context():
        late = _waiting(session, partner, "SLA-PAGE", 30)
        number = late.tracking_number
    sign_in(client, "disp@test.example")
    dashboard = client.get("/console/").get_data(as_text=True)
    assert 'id="stage-breached">1<' in dashboard
    page = client.get("/console/stages").get_data(as_text=True)
    breached = page[page.index('id="breached"'):page.index('id="at-risk"')]
    assert number in breached and "waiting for pickup" in breached and "6 h 00 min over" in breached
    r = client.post("/console/stages/targets", data={"csrf_token": csrf_of(page), "stage": "pickup", "hours": "48"},
                    follow_redirects=True)
    text = r.get_data(as_text=True)
    assert "Target saved." in text and number not in text[text.index('id="breached"'):text.index('id="at-risk"')]
    r = client.post("/console/stages/targets", data={"csrf_token": csrf_of(page), "stage": "pickup", "hours": "lots"},
                    follow_redirects=True)
    assert "Not saved: hours: a whole number, or empty to clear" in r.get_data(as_text=True)


def test_the_stage_clock_starts_when_the_stage_does_not_at_every_status(session, partner):
    from app.delivery import services as delivery

    shipment = create(session, partner, order_in("SLA-CLOCK"))
    session.commit()
    taken = shipment.stage_since
    assert taken is not None
    with time_machine.travel(clock.now() + timedelta(hours=2), tick=False):
        delivery.schedule_pickups(session, clock.today(), only=[shipment.id])  # still waiting for pickup
    session.commit()
    session.refresh(shipment)
    assert shipment.status == "pickup_scheduled" and shipment.stage_since == taken
    later = clock.now() + timedelta(hours=3)
    with time_machine.travel(later, tick=False):
        [run] = delivery.planned_runs(session)
        delivery.confirm_pickup(session, run, actor="driver:1", shipment_ids=[shipment.id])  # a new stage
    session.commit()
    session.refresh(shipment)
    assert shipment.status == "picked_up" and shipment.stage_since == later
