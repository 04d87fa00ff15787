"""Run sheets for a hub's day: planned from what is ready, moved by hand, dispatched."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import clock
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.models import Driver, PickupRun, RunSheet, RunSheetStop
from app.delivery.planning import PlanningError
from app.orders.models import Shipment
from app.orders.shipments import history, transition
from tests.factories import create, order_in, ready_at_centre as at_centre


def stops_of(session, hub_id, day=None):
    return list(session.scalars(select(RunSheetStop).join(RunSheet).where(
        RunSheet.hub_id == hub_id, RunSheet.run_date == (day or clock.today())).order_by(RunSheetStop.run_sheet_id, RunSheetStop.seq)))


def test_a_plan_puts_every_ready_parcel_on_one_sheet_in_order(session, partner, day):
    centre, ids = at_centre(session, partner, 12)
    sheets = planning.plan_run_sheets(session, centre.id, day, seconds=0.2)
    session.commit()
    stops = stops_of(session, centre.id)
    assert sorted(s.shipment_id for s in stops) == sorted(ids)
    for sheet in sheets:
        assert [s.seq for s in sheet.stops] == list(range(1, len(sheet.stops) + 1))
        assert sheet.status == "planned" and sheet.planned_km > 0
        assert session.get(Driver, sheet.driver_id).hub_id == centre.id
    for sid in ids:  # planned, not yet out: the lifecycle has not moved
        shipment = session.get(Shipment, sid)
        assert shipment.status == "at_shipping_centre"
        assert shipment.run_sheet_id in {s.id for s in sheets}


def test_planning_again_replaces_the_planned_sheets(session, partner, day):
    centre, ids = at_centre(session, partner, 6)
    planning.plan_run_sheets(session, centre.id, day)
    session.commit()
    second = {s.id for s in planning.plan_run_sheets(session, centre.id, day)}
    session.commit()
    assert session.scalar(select(func.count()).select_from(RunSheet)) == len(second)
    assert sorted(s.shipment_id for s in stops_of(session, centre.id)) == sorted(ids)


def test_capacity_limits_the_plan_and_the_earliest_promised_go_first(session, partner, day):
    centre, ids = at_centre(session, partner, 7)
    for driver in delivery.drivers_of(session, centre.id):
        driver.capacity = 1
    late = session.get(Shipment, ids[-1])
    late.promised_date = day - timedelta(days=4)  # overdue: goes before the rest
    session.commit()
    sheets = planning.plan_run_sheets(session, centre.id, day)
    planned = [s.shipment_id for s in stops_of(session, centre.id)]
    assert len(sheets) == 4 and len(planned) == 4
    assert late.id in planned


def test_the_days_pickups_go_on_the_centres_sheets(session, partner, day):
    centre, ids = at_centre(session, partner, 3)
    waiting = [create(session, partner, order_in(f"SO-W{i}")).id for i in range(2)]
    session.commit()
    [run] = delivery.schedule_pickups(session, day, only=waiting)
    session.commit()
    planning.plan_run_sheets(session, centre.id, day)
    session.commit()
    [pickup] = [s for s in stops_of(session, centre.id) if s.kind == "pickup"]
    assert pickup.pickup_run_id == run.id
    assert session.get(PickupRun, run.id).driver_id == session.get(RunSheet, pickup.run_sheet_id).driver_id
    # Another day's plan does not take today's pickup.
    assert not [s for s in stops_of(session, centre.id, day + timedelta(days=1))]


def test_a_stop_moves_to_another_driver(session, partner, day):
    centre, ids = at_centre(session, partner, 8)
    for driver in delivery.drivers_of(session, centre.id):
        driver.capacity = 4  # two sheets at least
    sheets = planning.plan_run_sheets(session, centre.id, day, seconds=0.2)
    sheets = sorted(sheets, key=lambda s: -len(s.stops))[:2]
    session.commit()
    source, target = sheets
    stop = source.stops[0]
    planning.move_stop(session, stop.id, target.driver_id)
    session.commit()
    session.expire_all()
    source, target = session.get(RunSheet, source.id), session.get(RunSheet, target.id)
    assert stop.id in [s.id for s in target.stops] and stop.id not in [s.id for s in source.stops]
    for sheet in (source, target):
        assert [s.seq for s in sheet.stops] == list(range(1, len(sheet.stops) + 1))
    assert session.get(Shipment, stop.shipment_id).run_sheet_id == target.id

    session.get(Driver, target.driver_id).capacity = len(target.stops)
    session.commit()
    with pytest.raises(PlanningError, match="no room left"):
        planning.move_stop(session, source.stops[0].id, target.driver_id)
    session.rollback()

    # To a driver with no sheet yet: the driver gets one.
    spare = delivery.create_driver(session, name="New Driver", phone="+84900000999", hub_id=centre.id)
    planning.move_stop(session, source.stops[0].id, spare.id)
    session.commit()
    [new] = [s for s in planning.sheets_of_day(session, centre.id, day) if s.driver_id == spare.id]
    assert len(new.stops) == 1 and new.stops[0].seq == 1 and new.status == "planned"
    other_hub = session.scalars(select(Driver).where(Driver.hub_id != centre.id)).first()
    with pytest.raises(PlanningError, match="same hub"):
        planning.move_stop(session, new.stops[0].id, other_hub.id)


def test_dispatch_sends_the_sheet_out_and_drops_what_cannot_go(session, partner, day):
    centre, ids = at_centre(session, partner, 5)
    for driver in delivery.drivers_of(session, centre.id)[1:]:
        driver.active = False
    [sheet] = planning.plan_run_sheets(session, centre.id, day)
    session.commit()
    held = ids[2]
    transition(session, held, "hold", actor="user:1", reason="address problem")
    session.commit()
    done = planning.dispatch_run_sheet(session, sheet.id, actor="user:7")
    session.commit()
    held_number = session.get(Shipment, held).tracking_number
    assert done.sent == 4
    assert done.dropped == [(held_number, "it is on hold")]
    assert sheet.status == "dispatched" and sheet.dispatched_at is not None
    assert [s.seq for s in sheet.stops] == [1, 2, 3, 4]
    for sid in set(ids) - {held}:
        shipment = session.get(Shipment, sid)
        assert shipment.status == "out_for_delivery" and shipment.run_sheet_id == sheet.id
        event = history(session, sid)[-1]
        assert event.data == {"driver_id": sheet.driver_id, "run_sheet_id": sheet.id} and event.actor == "user:7"
    assert session.get(Shipment, held).run_sheet_id is None

    with pytest.raises(PlanningError, match="already dispatched"):
        planning.move_stop(session, sheet.stops[0].id, sheet.driver_id)
    # The driver's day is counted: planning again leaves the sheet alone and finds no room.
    session.get(Driver, sheet.driver_id).capacity = 4
    transition(session, held, "release", actor="user:1")
    session.commit()
    assert planning.plan_run_sheets(session, centre.id, day) == []
    assert session.get(RunSheet, sheet.id).status == "dispatched"


def test_a_sheet_goes_out_on_its_own_day_or_early_with_a_reason(session, partner, day):
    centre, ids = at_centre(session, partner, 2)
    for driver in delivery.drivers_of(session, centre.id)[1:]:
        driver.active = False
    tomorrow = day + timedelta(days=1)
    [sheet] = planning.plan_run_sheets(session, centre.id, tomorrow)
    session.commit()
    with pytest.raises(PlanningError, match="not today"):
        planning.dispatch_run_sheet(session, sheet.id, actor="user:7")
    session.rollback()
    assert {session.get(Shipment, i).status for i in ids} == {"at_shipping_centre"}
    with pytest.raises(PlanningError, match="not today"):
        planning.dispatch_run_sheet(session, sheet.id, actor="user:7", early_reason="  ")
    session.rollback()
    done = planning.dispatch_run_sheet(session, sheet.id, actor="user:7", early_reason="van free this afternoon")
    session.commit()
    assert done.sent == 2 and sheet.run_date == day  # it is today's sheet now: the driver sees it
    assert {session.get(Shipment, i).status for i in ids} == {"out_for_delivery"}


def test_no_drivers_is_said(session, partner, day):
    centre, _ = at_centre(session, partner, 1)
    for driver in delivery.drivers_of(session, centre.id):
        driver.active = False
    with pytest.raises(PlanningError, match="no active drivers"):
        planning.plan_run_sheets(session, centre.id, day)


def test_a_rescheduled_parcel_leaves_todays_sheet_and_waits_for_its_day(session, partner, day):
    from app.webhooks.services import EVENT_TYPES

    centre, ids = at_centre(session, partner, 3)
    planning.plan_run_sheets(session, centre.id, day)
    session.commit()
    later = day + timedelta(days=2)
    promised_before = session.get(Shipment, ids[0]).promised_date
    planning.reschedule(session, ids[0], later, today=day, actor="user:1", reason="customer away")
    session.commit()
    shipment = session.get(Shipment, ids[0])
    assert shipment.not_before == later and shipment.run_sheet_id is None
    assert sorted(s.shipment_id for s in stops_of(session, centre.id)) == sorted(ids[1:])
    assert [s.seq for s in stops_of(session, centre.id)] == [1, 2] or len(planning.sheets_of_day(session, centre.id, day)) > 1
    events = history(session, ids[0])
    event = next(e for e in reversed(events) if e.type == "rescheduled")
    assert (event.type, event.reason, event.data) == ("rescheduled", "customer away", {"not_before": later.isoformat()})
    assert "shipment.rescheduled" in EVENT_TYPES
    # The promise follows when the day asked for is after it: that day, or the centre's next working day.
    moved = [e for e in events if e.type == "promise_changed"]
    if promised_before < later:
        assert [(e.reason, e.data["to"]) for e in moved] == [("rescheduled", shipment.promised_date.isoformat())]
        assert later <= shipment.promised_date <= later + timedelta(days=3)
    else:
        assert moved == [] and shipment.promised_date == promised_before
    # Not planned before its day; planned on it.
    planning.plan_run_sheets(session, centre.id, day)
    assert ids[0] not in [s.shipment_id for s in stops_of(session, centre.id)]
    planning.plan_run_sheets(session, centre.id, later)
    assert ids[0] in [s.shipment_id for s in stops_of(session, centre.id, later)]

    with pytest.raises(PlanningError, match="after today"):
        planning.reschedule(session, ids[1], day, today=day, actor="user:1", reason="x")
    with pytest.raises(PlanningError, match="within 30 days"):
        planning.reschedule(session, ids[1], day + timedelta(days=31), today=day, actor="user:1", reason="x")
    session.rollback()
    planning.build_run_sheets(session, centre.id, day, actor="u", only=[ids[1]])
    with pytest.raises(PlanningError, match="out for delivery: it cannot be rescheduled"):
        planning.reschedule(session, ids[1], later, today=day, actor="user:1", reason="x")
