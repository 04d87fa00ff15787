"""Cases: SLA clocks in business hours (holidays closed, waiting stops the clock), cases
opened by events once per event however often the event is delivered, and outcomes that
reach finance (a credit note or a charge adjustment) and delivery (a reschedule)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from app import clock
from app.billing import fees, invoices, ledger
from app.billing.models import Charge, Invoice
from app.crm import cases
from app.crm.cases import CaseError
from app.crm.models import Case, CaseMessage
from app.orders.shipments import transition
from app.outbox import OutboxMessage
from tests.factories import create, deliver_direct, order_in, twice_at_once


def local(*args) -> datetime:
    return datetime(*args, tzinfo=clock.network_zone())


def _count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_sla_targets_count_business_hours_and_skip_a_public_holiday(session, partner):
    # Saturday 29 August 2026, 11:00 (the office closes at noon): Monday 31st is a day off
    # in lieu, 1-2 September are National Day.
    with time_machine.travel(local(2026, 8, 29, 11, 0), tick=False):
        case = cases.open_case(session, "late", "", "Where is my parcel?", opened_via="staff")
        # normal priority: first response within 4 business hours, resolution within 24.
        assert case.first_response_due == local(2026, 9, 3, 11, 0)  # 1 h on Saturday, 3 h on Thursday
        assert case.status == "new" and case.queue == "customer_service"
        [response, resolution] = cases.clocks(case)
        assert response.state == "running" and response.left == timedelta(hours=4)
        assert resolution.due == case.resolution_due and resolution.left == timedelta(hours=24)
    with time_machine.travel(local(2026, 9, 3, 10, 30), tick=False):
        [response, _] = cases.clocks(case)
        assert response.state == "at_risk" and response.left == timedelta(minutes=30)
    with time_machine.travel(local(2026, 9, 3, 11, 30), tick=False):
        [response, _] = cases.clocks(case)
        assert response.state == "breached" and response.left == -timedelta(minutes=30)
        cases.reply(session, case, "note", "Called the hub", author_id=None, author_name="Lan")
        assert case.first_response_at is None  # a note is not a response


def test_waiting_on_the_customer_stops_the_resolution_clock(session, partner):
    shipment = create(session, partner, order_in("CASE-W1", email="lan@example.com"))
    with time_machine.travel(local(2026, 10, 5, 9, 0), tick=False):  # a Monday
        case = cases.open_case(session, "wrong_address", "", "The street number is wrong", opened_via="staff",
                               shipment_id=shipment.id)
        assert (case.priority, case.partner_id) == ("high", partner.id)
        due = case.resolution_due
    with time_machine.travel(local(2026, 10, 5, 10, 0), tick=False):
        cases.reply(session, case, "to_customer", "Which number is it?", author_id=None, author_name="Lan",
                    wait=True)
        assert case.status == "waiting" and case.first_response_at == local(2026, 10, 5, 10, 0)
        assert cases.clocks(case)[0].state == "met"
        message = session.scalars(select(CaseMessage).where(CaseMessage.kind == "to_customer")).one()
        assert message.recipient == "lan@example.com"
        assert _count(session, OutboxMessage, OutboxMessage.topic == "case_email") == 1
    with time_machine.travel(local(2026, 10, 7, 15, 0), tick=False):  # two days waiting: no time counted
        assert cases.clocks(case)[1].state == "paused"
        cases.receive(session, case, "It is 12B", from_="from_customer", author_name="Lan")
        assert case.status == "open"
        # It had 15 business hours left when it began waiting; they run from now.
        assert case.resolution_due > due
        assert workdays_between(case.resolution_due) == timedelta(hours=15)


def workdays_between(due):
    from app import workdays

    return workdays.office().between(clock.now(), due)


def test_a_new_priority_sets_new_targets_from_the_opening(session, partner):
    with time_machine.travel(local(2026, 10, 5, 9, 0), tick=False):
        case = cases.open_case(session, "feedback", "", "Nice driver", opened_via="staff")
        assert case.first_response_due == local(2026, 10, 5, 17, 0)  # low: 8 h
        cases.assign(session, case, owner_id=None, queue="customer_service", priority="urgent", author_id=None,
                     author_name="Lan")
        assert case.first_response_due == local(2026, 10, 5, 10, 0)
        with pytest.raises(CaseError, match="priority must be one of"):
            cases.assign(session, case, owner_id=None, queue="customer_service", priority="asap", author_id=None,
                         author_name="Lan")


def test_a_case_cannot_be_resolved_without_saying_how_nor_reopened_when_closed_without_a_reply(session, partner):
    case = cases.open_case(session, "feedback", "", "Nice driver", opened_via="staff")
    with pytest.raises(CaseError, match="say how"):
        cases.resolve(session, case, "explained", note=" ", author_id=None, author_name="Lan")
    with pytest.raises(CaseError, match="resolve a case with its outcome"):
        cases.set_status(session, case, "resolved", author_id=None, author_name="Lan")
    cases.resolve(session, case, "explained", note="Thanked them", author_id=None, author_name="Lan")
    assert case.status == "resolved" and cases.clocks(case)[1].state == "met"
    cases.set_status(session, case, "closed", author_id=None, author_name="Lan")
    with pytest.raises(CaseError, match="closed"):
        cases.reply(session, case, "note", "more", author_id=None, author_name="Lan")
    with pytest.raises(CaseError, match="cannot become waiting"):
        cases.set_status(session, case, "waiting", author_id=None, author_name="Lan")


def test_a_damaged_parcel_compensated_before_invoicing_is_a_credit_on_its_charges(session, partner):
    shipment = deliver_direct(session, partner, "CASE-C1")
    fees.collect_fees(session, [shipment.id])
    charged = int(session.scalar(select(func.sum(Charge.amount)).where(Charge.shipment_id == shipment.id)))
    case = cases.open_case(session, "damaged", "", "The box was crushed", opened_via="staff",
                           shipment_id=shipment.id)
    with pytest.raises(CaseError, match="cannot be credited more"):
        cases.resolve(session, case, "compensation", note="fee back", author_id=None, author_name="Lan",
                      amount=charged + 1)
    details = cases.resolve(session, case, "compensation", note="fee back", author_id=None, author_name="Lan",
                            amount=charged)
    adjustment = session.get(Charge, details["adjustment_id"])
    assert (adjustment.kind, adjustment.amount) == ("adjustment", -charged)
    assert session.scalar(select(func.sum(Charge.amount)).where(Charge.shipment_id == shipment.id)) == 0
    assert case.status == "resolved" and case.outcome == "compensation"
    # Posted: revenue back out of the unbilled receivable, in balance.
    balances = ledger.trial_balance(session)
    assert sum(amount for (_, _), amount in balances.items()) == 0


def test_a_compensation_after_invoicing_is_a_credit_note_on_that_invoice(session, partner, day):
    shipment = deliver_direct(session, partner, "CASE-C2")
    fees.collect_fees(session, [shipment.id])
    session.commit()
    next_month = datetime.combine((day.replace(day=1) + timedelta(days=32)).replace(day=2), datetime.min.time(),
                                  clock.network_zone()) + timedelta(hours=10)
    with time_machine.travel(next_month, tick=False):
        invoices.run(session, ledger.period_of(day), partner_ids=[partner.id], user_id=None)
        invoice = session.scalars(select(Invoice).where(Invoice.kind == "invoice")).one()
        case = cases.open_case(session, "damaged", "", "The box was crushed", opened_via="staff",
                               shipment_id=shipment.id)
        details = cases.resolve(session, case, "compensation", note="sorry", author_id=None, author_name="Lan",
                                amount=10_000)
    note = session.get(Invoice, details["credit_note_id"])
    assert (note.kind, note.corrects_id, note.total_amount) == ("credit_note", invoice.id, 10_000)
    assert note.number == details["credit_note"] and cases.credit_note_of(session, case) == note
    assert "Case" in note.reason


def test_a_reschedule_outcome_puts_the_delivery_off(session, partner, day):
    shipment = create(session, partner, order_in("CASE-R1"))
    case = cases.open_case(session, "failed_delivery", "", "Not home this week", opened_via="staff",
                           shipment_id=shipment.id)
    with pytest.raises(CaseError, match="the new day must be after today"):
        cases.resolve(session, case, "reschedule", note="customer away", author_id=None, author_name="Lan", day=day)
    cases.resolve(session, case, "reschedule", note="customer away", author_id=None, author_name="Lan",
                  day=day + timedelta(days=3))
    assert shipment.not_before == day + timedelta(days=3)
    assert case.outcome_details == {"day": (day + timedelta(days=3)).isoformat()}


def _hold_and_declare(session, shipment_id):
    from app.billing import claims

    transition(session, shipment_id, "hold", actor="t", reason="box wet")
    claims.declare_loss(session, shipment_id, kind="damaged", reason="soaked", currency="VND", evidence_ref=None,
                        user_id=None, actor="t")


def test_a_parcel_declared_damaged_opens_one_case_however_often_the_event_comes(app, session, partner):
    from workers.jobs import run_outbox_jobs

    shipment = create(session, partner, order_in("CASE-A1"))
    _hold_and_declare(session, shipment.id)
    session.commit()
    [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "open_case")).all()
    run_outbox_jobs([row.id])
    run_outbox_jobs([row.id])  # the message redelivered: the row is done
    key = (row.payload["shipment_id"], row.payload["seq"])
    assert cases.open_for_events(session, [key]) == []  # the event handled again by hand
    session.commit()
    [case] = session.scalars(select(Case)).all()
    assert (case.type, case.opened_via, case.queue, case.shipment_id) == ("damaged", "auto", "claims", shipment.id)
    assert case.trigger == f"event:{key[0]}:{key[1]}"


@pytest.mark.postgres
def test_two_workers_opening_the_same_events_case_at_once_make_one(app, session, partner, backend):
    if backend != "postgresql":
        pytest.skip("two writers at once: PostgreSQL")
    shipment = create(session, partner, order_in("CASE-A2"))
    _hold_and_declare(session, shipment.id)
    session.commit()
    key = (shipment.id, shipment.last_event_seq)
    made, errors = twice_at_once(app, lambda s: len(cases.open_for_events(s, [key])), at=clock.now())
    assert errors == [] and sorted(made) == [0, 1]
    assert _count(session, Case) == 1


def test_the_third_failed_attempt_opens_a_case_and_the_first_two_do_not(session, partner):
    shipment = create(session, partner, order_in("CASE-F1"))
    for step in ("schedule_pickup", "pick_up", "receive_at_centre"):
        transition(session, shipment.id, step, actor="t")
    for attempt in range(3):
        transition(session, shipment.id, "dispatch_for_delivery", actor="t")
        transition(session, shipment.id, "fail_attempt", actor="t", reason="not_home")
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "open_case")).all()
    assert len(rows) == 1  # only the third
    opened = cases.open_for_events(session, [(r.payload["shipment_id"], r.payload["seq"]) for r in rows])
    assert [c.type for c in opened] == ["failed_delivery"] and "3 failed attempts" in opened[0].subject


def test_a_parcel_late_by_two_days_gets_one_case(session, partner, day):
    shipment = create(session, partner, order_in("CASE-L1"))
    session.commit()
    later = datetime.combine(shipment.promised_date + timedelta(days=2), datetime.min.time(),
                             clock.network_zone()) + timedelta(hours=10)
    with time_machine.travel(later, tick=False):
        assert cases.open_for_late(session, days=3) == []
        [case] = cases.open_for_late(session, days=2)
        assert case.type == "late" and case.trigger == f"late:{shipment.id}"
        assert cases.open_for_late(session, days=2) == []


def test_owners_are_warned_once_as_a_target_nears(session, partner, users_for_cases):
    owner = users_for_cases
    with time_machine.travel(local(2026, 10, 5, 9, 0), tick=False):
        case = cases.open_case(session, "lost", "", "Nothing arrived", opened_via="staff")  # high: 2 h
        case.owner_id = owner.id
        assert cases.due_warnings(session) == []
    with time_machine.travel(local(2026, 10, 5, 10, 5), tick=False):
        assert cases.due_warnings(session) == [(case.id, "first response")]
        assert cases.due_warnings(session) == []
        assert _count(session, OutboxMessage, OutboxMessage.topic == "case_warning") == 1
        subject, body = cases.warning_text(case, "first response", public_url="http://w")
        assert "due at 11:00" in subject and f"/console/crm/cases/{case.id}" in body


@pytest.fixture
def users_for_cases(session, network):
    from app.auth.services import create_user

    user = create_user(session, "care@test.example", role="customer_service", password="correct horse battery")
    session.commit()
    return user


def test_a_task_that_falls_due_reminds_its_owner_once_by_e_mail(app, session, partner, users_for_cases):
    from app.crm import accounts
    from workers.jobs import run_outbox_jobs

    owner = users_for_cases
    with time_machine.travel(local(2026, 10, 5, 9, 0), tick=False):
        task = accounts.log_activity(session, "partner", partner.id, "task", "Call about Tết volumes",
                                     due_at=local(2026, 10, 5, 14, 0), owner_id=owner.id)
        assert accounts.remind_due_tasks(session) == []  # not yet
    with time_machine.travel(local(2026, 10, 5, 14, 1), tick=False):
        assert accounts.remind_due_tasks(session) == [task.id]
        assert accounts.remind_due_tasks(session) == []  # once
        session.commit()
        [row] = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "task_reminder")).all()
        subject, body = accounts.reminder_text(task, public_url="http://w")
        assert subject == "Due now: Call about Tết volumes" and f"/console/crm/accounts/{partner.id}" in body
        run_outbox_jobs([row.id])  # the log carrier takes it; the row is done
        session.expire_all()
        assert session.get(OutboxMessage, row.id).processed_at is not None


def test_a_lost_parcels_case_accepts_its_claim_and_finance_pays_it_both_posted(session, partner):
    from app.billing import claims
    from app.billing.ledger import balance
    from app.billing.models import Claim
    from app.orders.intake import ParcelIn

    parcels = [ParcelIn(weight_grams=900, length_cm=20, width_cm=20, height_cm=10, declared_value_amount=400_000,
                        declared_value_currency="VND")]
    shipment = create(session, partner, order_in("CASE-CL1", parcels=parcels))
    no_claim = cases.open_case(session, "lost", "", "Never arrived", opened_via="staff", shipment_id=shipment.id)
    with pytest.raises(CaseError, match="no claim"):
        cases.resolve(session, no_claim, "claim", note="pay", author_id=None, author_name="Lan")
    _hold_and_declare(session, shipment.id)
    claim = session.scalars(select(Claim)).one()
    assert claim.amount == 400_000
    with pytest.raises(CaseError, match="at most the declared value"):
        cases.resolve(session, no_claim, "claim", note="pay", author_id=None, author_name="Lan", amount=500_000)
    details = cases.resolve(session, no_claim, "claim", note="declared value", author_id=None, author_name="Lan")
    assert details == {"claim_id": claim.id, "amount": 400_000, "currency": "VND"}
    party = ("partner", partner.id)
    assert balance(session, "2300", "VND", party=party) == -400_000  # owed to the partner
    assert balance(session, "5100", "VND") == 400_000
    with pytest.raises(claims.ClaimError, match="bank's reference"):
        claims.pay(session, claim, reference=" ", actor="t")
    claims.pay(session, claim, reference="VCB-778899", actor="t")
    assert claim.status == "paid" and balance(session, "2300", "VND", party=party) == 0
    assert balance(session, "1200", "VND") == -400_000
    with pytest.raises(claims.ClaimError, match="the claim is paid"):
        claims.pay(session, claim, reference="again", actor="t")
