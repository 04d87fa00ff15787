"""Delivery promises worked out from the network: the pickup cut-off, the route and its
line-haul, the hubs' working days and Vietnam's public holidays, the service level and a
hub's capacity. Each case is at a fixed moment: the promise is a function of the time it
is asked, and these are inputs, not the test's own day."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app import clock
from app.hubs.models import Hub
from app.hubs.routing import invalidate_network, load_network, plan_route
from app.orders import promises
from app.orders.models import Shipment, ShipmentEvent
from app.orders.shipments import lock_shipments
from app.orders.promise_words import explain
from tests.factories import BEN_THANH_MARKET, PICKUP, TAN_BINH_CENTRE_AREA, create, order_in

HCM = ZoneInfo("Asia/Ho_Chi_Minh")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=HCM)


def _plan(session, dropoff):
    return plan_route(load_network(session), PICKUP, dropoff)


@pytest.fixture
def direct(session, network):
    plan = _plan(session, TAN_BINH_CENTRE_AREA)
    assert plan.kind == "direct"
    return plan


@pytest.fixture
def linehaul(session, network):
    plan = _plan(session, BEN_THANH_MARKET)
    assert plan.kind == "linehaul"
    return plan


def _hub(session, code, **schedule):
    hub = session.scalars(select(Hub).where(Hub.code == code)).one()
    for k, v in schedule.items():
        setattr(hub, k, v)
    session.commit()
    invalidate_network()
    promises.forget_loads()
    return hub


def test_before_the_cut_off_it_is_picked_up_today_and_delivered_tomorrow(app, session, direct):
    found = promises.promise(session, direct, "express", at("2027-03-08T10:00"))  # a Monday
    assert found.day == date(2027, 3, 9)
    assert [s["step"] for s in found.basis] == ["pickup", "deliver"]
    assert explain(found.basis, date(2027, 3, 8)) == "picked up today before 14:00, delivered tomorrow"


def test_after_the_cut_off_it_is_picked_up_the_next_working_day(app, session, direct):
    found = promises.promise(session, direct, "express", at("2027-03-08T15:30"))
    assert found.day == date(2027, 3, 10)
    assert explain(found.basis, date(2027, 3, 8)) == (
        "ordered after the 14:00 cut-off, picked up tomorrow before 14:00, delivered Wednesday")


def test_the_hubs_do_not_work_on_sunday(app, session, direct):
    found = promises.promise(session, direct, "express", at("2027-03-13T10:00"))  # a Saturday
    assert found.day == date(2027, 3, 15)
    assert {"step": "skip", "day": "2027-03-14", "why": "closed", "hub": "SGN-C"} in found.basis
    # A hub that works seven days delivers on the Sunday.
    _hub(session, "SGN-C", working_days="1234567")
    assert promises.promise(session, direct, "express", at("2027-03-13T10:00")).day == date(2027, 3, 14)


def test_public_holidays_are_skipped_and_named(app, session, direct):
    # National Day: Thursday 2 and Friday 3 September 2027.
    found = promises.promise(session, direct, "express", at("2027-09-01T10:00"))
    assert found.day == date(2027, 9, 4)
    skipped = [(s["day"], s["why"]) for s in found.basis if s["step"] == "skip"]
    assert skipped == [("2027-09-02", "holiday"), ("2027-09-03", "holiday")]
    assert "tomorrow is a public holiday, Friday is a public holiday, delivered Saturday" in explain(
        found.basis, date(2027, 9, 1))
    # Lunar New Year closes the network for a week.
    assert promises.promise(session, direct, "express", at("2027-02-03T10:00")).day == date(2027, 2, 11)


def test_a_line_haul_goes_tonight_and_a_long_one_costs_a_day(app, session, direct, linehaul):
    monday = at("2027-03-08T10:00")
    found = promises.promise(session, linehaul, "express", monday)
    assert found.day == promises.promise(session, direct, "express", monday).day == date(2027, 3, 9)
    assert explain(found.basis, monday.date()) == (
        "picked up today before 14:00, line-haul to District 7 Hub tonight, delivered tomorrow")
    # Leaving at 20:00 and 14 hours on the road, it is at the hub after 09:00: out the next day.
    _hub(session, "SGN-D7", linehaul_hours=14)
    assert promises.promise(session, linehaul, "express", monday).day == date(2027, 3, 10)
    assert promises.promise(session, direct, "express", monday).day == date(2027, 3, 9)


def test_standard_takes_a_working_day_more_and_same_day_is_for_the_centres_area(app, session, direct, linehaul):
    monday = at("2027-03-08T10:00")
    assert promises.promise(session, direct, "standard", monday).day == date(2027, 3, 10)
    assert promises.promise(session, direct, "same_day", monday).day == date(2027, 3, 8)
    assert promises.promise(session, direct, "same_day", at("2027-03-08T12:30")).day == date(2027, 3, 9)
    across = promises.promise(session, linehaul, "same_day", monday)
    assert across.day == date(2027, 3, 9) and across.basis[0] == {"step": "no_same_day"}
    # Saturday's standard parcel: Monday is its first day out, Tuesday its promise.
    assert promises.promise(session, direct, "standard", at("2027-03-13T10:00")).day == date(2027, 3, 16)


def test_same_day_needs_the_centres_same_day_run(app, session, partner, direct):
    monday = at("2027-03-08T10:00")
    # A run at 11:00: to be on it, the parcel is picked up before 11:00, not noon.
    _hub(session, "SGN-C", same_day_out_by=datetime.strptime("11:00", "%H:%M").time())
    assert promises.promise(session, direct, "same_day", monday).day == date(2027, 3, 8)
    late = promises.promise(session, direct, "same_day", at("2027-03-08T11:15"))
    assert late.day == date(2027, 3, 9) and late.basis[0]["by"] == "11:00"
    # No run: same day is not promised, and the customer reads why.
    _hub(session, "SGN-C", same_day_out_by=None)
    found = promises.promise(session, direct, "same_day", monday)
    assert found.day == date(2027, 3, 9)
    assert found.basis[0] == {"step": "no_same_day", "why": "no_run", "hub": "SGN-C"}
    assert explain(found.basis, monday.date()).startswith("no same-day run from SGN-C")
    # A same-day parcel at the centre after the morning run goes on the afternoon one: its
    # promise, worked out again there, is still today.
    _hub(session, "SGN-C", same_day_out_by=datetime.strptime("13:00", "%H:%M").time())
    with clock.at(at("2027-03-08T09:30")):
        shipment = create(session, partner, order_in("SAME-1", service_level="same_day"))
        session.commit()
    assert shipment.promised_date == date(2027, 3, 8)
    with clock.at(at("2027-03-08T11:30")):
        from app.delivery import services as delivery
        from app.hubs import services as hubs

        [run] = delivery.schedule_pickups(session, clock.today(), only=[shipment.id])
        delivery.confirm_pickup(session, run, actor="driver:1", shipment_ids=[shipment.id])
        hubs.scan_in(session, session.get(Hub, shipment.centre_id), shipment.id, actor="user:1")
        session.commit()
        assert promises.earliest(session, shipment, at("2027-03-08T11:45")).day == date(2027, 3, 8)
        assert promises.earliest(session, shipment, at("2027-03-08T13:30")).day == date(2027, 3, 9)


def test_a_full_day_at_the_hub_is_not_promised(app, session, partner, direct):
    centre = _hub(session, "SGN-C", daily_capacity=2)
    monday = at("2027-03-08T10:00")
    # Two parcels already promised for Tuesday at the centre fill it.
    for i in range(2):
        shipment = create(session, partner, order_in(f"FULL-{i}"))
        shipment.promised_date, shipment.delivery_hub_id = date(2027, 3, 9), centre.id
    session.commit()
    promises.forget_loads()
    found = promises.promise(session, direct, "express", monday)
    assert found.day == date(2027, 3, 10)
    assert {"step": "skip", "day": "2027-03-09", "why": "full", "hub": "SGN-C"} in found.basis
    assert "tomorrow is full" in explain(found.basis, monday.date())
    # Quotes fill nothing; the orders a process takes count at once: two fill Wednesday in turn.
    for _i in range(3):
        assert promises.promise(session, direct, "express", monday).day == date(2027, 3, 10)
    for _i in range(2):
        promises.count_in(session, centre.id, promises.promise(session, direct, "express", monday).day)
    assert promises.promise(session, direct, "express", monday).day == date(2027, 3, 11)


def test_the_window_a_hub_offers_goes_with_the_promise(app, session, direct):
    from datetime import time

    _hub(session, "SGN-C", window_from=time(9), window_until=time(12))
    found = promises.promise(session, direct, "express", at("2027-03-08T10:00"))
    assert found.window == (time(9), time(12))
    assert explain(found.basis, date(2027, 3, 8)).endswith("delivered tomorrow between 09:00 and 12:00")


def test_the_quote_and_the_order_promise_the_same_day_for_the_same_reason(app, session, partner):
    from app.orders.intake import price

    order = order_in("Q-1", dropoff=BEN_THANH_MARKET, service_level="express")
    now = clock.now()
    quoted = price(session, partner, order.pickup.address, order.dropoff.address, order.parcels, "express", now=now)
    shipment = create(session, partner, order)
    assert (shipment.promised_date, shipment.first_promised_date) == (quoted.promised_date, quoted.promised_date)
    assert shipment.promise_basis == quoted.promise.basis and shipment.promise_revisions == 0


def test_a_failed_attempt_moves_the_promise_once_with_a_webhook_and_one_message(app, session, partner):
    from app.delivery import planning
    from app.delivery import services as delivery
    from app.hubs import services as hubs
    from app.webhooks.services import EVENT_TYPES
    from workers.jobs import run_pending

    from app.webhooks import services as webhooks
    from app.webhooks.models import WebhookDelivery

    webhooks.create_endpoint(session, partner, url="https://hooks.example.com/w", event_types=[])
    shipment = create(session, partner, order_in("SLIP-1"))
    session.commit()
    today = clock.today()
    [run] = delivery.schedule_pickups(session, today, only=[shipment.id])
    delivery.confirm_pickup(session, run, actor="driver:1", shipment_ids=[shipment.id])
    hubs.scan_in(session, session.get(Hub, shipment.centre_id), shipment.id, actor="user:1")
    planning.build_run_sheets(session, shipment.centre_id, today, actor="user:1", only=[shipment.id])
    shipment.promised_date = today  # due today: the round is its last chance
    session.commit()

    delivery.fail_attempt(session, shipment.id, "not_home", driver_id=None, actor="driver:1")
    session.commit()
    session.refresh(shipment)
    moved = session.scalars(select(ShipmentEvent).where(ShipmentEvent.shipment_id == shipment.id,
                                                        ShipmentEvent.type == "promise_changed")).all()
    assert len(moved) == 1 and shipment.promised_date > today and shipment.promise_revisions == 1
    assert moved[0].reason == "failed_attempt"
    assert moved[0].data == {"from": today.isoformat(), "to": shipment.promised_date.isoformat()}
    assert shipment.first_promised_date != shipment.promised_date
    assert "shipment.promise_changed" in EVENT_TYPES
    assert explain(shipment.promise_basis, today).startswith("after the failed attempt, ")

    # The same slip seen again (a job redelivered) moves nothing.
    [locked] = lock_shipments(session, [shipment.id])
    assert promises.revise(session, locked, "failed_attempt", actor="system:test") is False
    session.commit()
    assert session.get(Shipment, shipment.id).promise_revisions == 1

    # The customer is told once, in the message for that event.
    run_pending()
    from app.crm.models import Notification

    told = session.scalars(select(Notification).where(Notification.shipment_id == shipment.id,
                                                      Notification.milestone == "promise_changed")).all()
    assert len({n.event_id for n in told}) == 1 and told
    assert all(shipment.tracking_number in n.body for n in told)
    # The partner hears of it by webhook, with the old day and the new.
    [sent] = [d.payload for d in session.scalars(select(WebhookDelivery))
              if d.payload["type"] == "shipment.promise_changed"]
    assert sent["data"]["promised_date"] == {"from": today.isoformat(), "to": shipment.promised_date.isoformat()}
    assert sent["data"]["reason"] == "failed_attempt"


def test_a_missed_line_haul_moves_the_promise_once(app, session, partner):
    from app.delivery import services as delivery
    from app.hubs import services as hubs

    shipment = create(session, partner, order_in("LH-1", dropoff=BEN_THANH_MARKET, service_level="express"))
    session.commit()
    today = clock.today()
    [run] = delivery.schedule_pickups(session, today, only=[shipment.id])
    delivery.confirm_pickup(session, run, actor="driver:1", shipment_ids=[shipment.id])
    hubs.scan_in(session, session.get(Hub, shipment.centre_id), shipment.id, actor="user:1")
    session.commit()
    planned = next(s for s in shipment.promise_basis if s["step"] == "linehaul")
    before = shipment.promised_date
    # Not missed while its line-haul has not left.
    left = datetime.combine(date.fromisoformat(planned["day"]), datetime.min.time(), clock.network_zone()) \
        + timedelta(hours=20)
    assert promises.missed_linehauls(session, now=left - timedelta(minutes=1)) == 0
    # Still at the centre the morning after its line-haul left: the promise moves, once.
    morning = left + timedelta(hours=12)
    assert promises.missed_linehauls(session, now=morning) == 1
    session.commit()
    assert promises.missed_linehauls(session, now=morning) == 0
    session.refresh(shipment)
    assert shipment.promised_date > before and shipment.promise_revisions == 1
    assert shipment.promise_basis[0] == {"step": "since", "why": "missed_linehaul"}


def test_accuracy_counts_kept_revised_and_broken_promises(app, session, partner):
    from app.orders.console_reads import promise_accuracy

    today, tz = clock.today(), clock.network_zone()
    ago = [today - timedelta(days=d) for d in range(6)]

    def shipment(ref, *, first, last, delivered_on=None, outcome=None, status="delivered"):
        s = create(session, partner, order_in(ref, service_level="express"))
        s.first_promised_date, s.promised_date = first, last
        s.promise_revisions = 1 if last != first else 0
        s.outcome, s.status = outcome, status
        if delivered_on:
            s.delivered_at = datetime.combine(delivered_on, datetime.min.time(), tz) + timedelta(hours=15)
        return s

    shipment("KEPT", first=ago[3], last=ago[3], delivered_on=ago[4], outcome="delivered")
    shipment("REVISED", first=ago[4], last=ago[2], delivered_on=ago[2], outcome="delivered")
    shipment("LATE", first=ago[4], last=ago[3], delivered_on=ago[1], outcome="delivered")
    shipment("OVERDUE", first=ago[2], last=ago[2], status="at_local_hub")
    shipment("RETURNED", first=ago[2], last=ago[2], outcome="returned", status="closed")
    shipment("DUE-TODAY", first=today, last=today, status="out_for_delivery")  # not late yet
    session.commit()
    [row] = promise_accuracy(session, ago[5], today, by="service_level", today=today, tz=tz)
    assert (row.key, row.kept, row.revised, row.broken, row.total) == ("express", 1, 1, 2, 4)
    assert row.share(row.kept) == 0.25
    by_partner = promise_accuracy(session, ago[5], today, by="partner", today=today, tz=tz)
    assert [(r.key, r.total) for r in by_partner] == [(partner.id, 4)]
    # Only promises due in the period count.
    assert promise_accuracy(session, ago[2], today, by="hub", today=today, tz=tz)[0].total == 2


def test_an_order_taken_fills_its_day_for_the_next_quote(app, session, partner):
    from app.orders.intake import price

    _hub(session, "SGN-C", daily_capacity=1)
    first = create(session, partner, order_in("CAP-1", service_level="express"))
    session.commit()
    again = order_in("CAP-2", service_level="express")
    quoted = price(session, partner, again.pickup.address, again.dropoff.address, again.parcels, "express")
    assert quoted.promised_date > first.promised_date
    assert {"step": "skip", "day": first.promised_date.isoformat(), "why": "full", "hub": "SGN-C"} in quoted.promise.basis
