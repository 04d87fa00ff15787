"""COD from the doorstep to the partner's bank: deposits of counted cash, remittances on
the partner's cycle (T+N), netting of open invoices, the payout file, "paid" once; nothing
remitted twice or left out; drivers' shortages and the providers' clearing balances."""
from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

import pytest
import time_machine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import clock
from app.billing import cash, fees, invoices, ledger, remittances
from app.billing.models import CashHandover, CodCollection, Remittance
from app.crm.models import Partner
from app.delivery.models import Driver
from app.outbox import OutboxMessage
from tests.factories import deliver_direct, twice_at_once


def _at(day, days=0, hour=10):
    return datetime.combine(day + timedelta(days=days), time(hour), clock.network_zone())


def _cod(session, partner, reference, amount=250_000, paid=None, method="cash"):
    shipment = deliver_direct(session, partner, reference, cod=amount, paid=paid, method=method)
    fees.collect_fees(session, [shipment.id])
    session.commit()
    return shipment


def _payable(session, partner):
    return -ledger.balance(session, "2100", "VND", party=("partner", partner.id))


def test_counted_cash_goes_to_the_bank_on_a_slip(session, partner, day):
    _cod(session, partner, "DP-1")
    driver = session.get(Driver, session.scalars(select(CodCollection.driver_id)).one())
    handover = cash.declare(session, driver, day, clock.network_zone(), "VND", 250_000)
    cash.confirm(session, handover.id, 250_000, user_id=None, hub_id=None)
    session.commit()
    with pytest.raises(remittances.RemittanceError, match="reference"):
        remittances.deposit(session, handover.hub_id, "VND", bank_reference=" ", user_id=None)
    session.rollback()
    slip = remittances.deposit(session, handover.hub_id, "VND", bank_reference="VCB-778812", user_id=None)
    session.commit()
    session.expire_all()  # the deposit claimed the handovers in one UPDATE
    assert slip.amount == 250_000 and session.get(CashHandover, handover.id).deposit_id == slip.id
    assert ledger.balance(session, "1110", "VND", party=("hub", handover.hub_id)) == 0
    assert ledger.balance(session, "1200", "VND") == 250_000
    with pytest.raises(remittances.RemittanceError, match="no counted cash"):
        remittances.deposit(session, handover.hub_id, "VND", bank_reference="again", user_id=None)
    session.rollback()


def test_cod_is_remitted_on_the_partners_cycle_once(session, partner, day):
    _cod(session, partner, "RM-1")
    assert remittances.run(session).remittances == []  # T+2: not yet
    session.rollback()
    with time_machine.travel(_at(day, 2), tick=False):
        [r] = remittances.run(session).remittances
        session.commit()
        assert (r.shipments, r.cod_amount, r.netted_amount, r.payout_amount, r.status) == (
            1, 250_000, 0, 250_000, "approved")
        assert r.number == f"REM-{clock.today().year}-000001"
        assert remittances.run(session).remittances == []  # nothing twice
        assert "RM-" not in remittances.payout_file(session) and r.number in remittances.payout_file(session)
        with pytest.raises(remittances.RemittanceError, match="reference"):
            remittances.mark_paid(session, r.id, bank_reference="", user_id=None)
        remittances.mark_paid(session, r.id, bank_reference="VCB-PAYOUT-1", user_id=None)
        session.commit()
        assert _payable(session, partner) == 0 and ledger.balance(session, "1200", "VND") == -250_000
        assert r.number not in remittances.payout_file(session)
        with pytest.raises(remittances.RemittanceError, match="paid already"):
            remittances.mark_paid(session, r.id, bank_reference="twice", user_id=None)
        session.rollback()
        topics = set(session.scalars(select(OutboxMessage.topic)))
        assert {"remittance_email", "partner_event"} <= topics


def test_an_open_cash_difference_waits_and_a_short_accepted_one_pays_what_was_collected(session, partner, day):
    short = _cod(session, partner, "RM-S", paid=200_000)
    with time_machine.travel(_at(day, 3), tick=False):
        assert remittances.run(session).remittances == []
        session.rollback()
        fees.settle_cod_difference(session, short.id, user_id=None, note="customer paid less, partner agrees",
                                   actor="user:1", outcome="partner_accepts")
        session.commit()
        [r] = remittances.run(session).remittances
        session.commit()
    assert r.cod_amount == 200_000
    assert _payable(session, partner) == 200_000  # until paid


def test_open_invoices_are_netted_when_the_partner_agreed(session, partner, day):
    partner.net_cod_against_invoices = True
    session.commit()
    _cod(session, partner, "RM-N1", amount=100_000)
    next_month = _at((day.replace(day=1) + timedelta(days=32)).replace(day=3), 0)  # the COD is due (T+2)
    with time_machine.travel(next_month, tick=False):
        [invoice] = invoices.run(session, ledger.period_of(day)).invoices
        session.commit()
        [r] = remittances.run(session).remittances
        session.commit()
    assert r.netted_amount == invoice.total_amount and r.payout_amount == 100_000 - invoice.total_amount
    assert invoices.status_of(invoice, invoices.paid_amount(session, invoice)) == "paid"
    assert ledger.balance(session, "1300", "VND", party=("partner", partner.id)) == 0
    assert remittances.netted_invoices(session, r.id) == [(invoice.number, invoice.total_amount)]


def test_cod_fully_netted_is_paid_without_a_transfer(session, partner, day):
    partner.net_cod_against_invoices = True
    session.commit()
    for i in range(3):
        fees.collect_fees(session, [deliver_direct(session, partner, f"RM-F{i}").id])  # fees, no COD
    _cod(session, partner, "RM-F-cod", amount=10_000)
    next_month = _at((day.replace(day=1) + timedelta(days=32)).replace(day=3), 0)  # the COD is due (T+2)
    with time_machine.travel(next_month, tick=False):
        invoices.run(session, ledger.period_of(day))
        [r] = remittances.run(session).remittances
        session.commit()
    assert r.payout_amount == 0 and r.netted_amount == 10_000 and r.status == "paid"


def test_two_remittance_runs_at_once_make_one_set(app, session, network, day, backend):
    if backend != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")

    for p in session.scalars(select(Partner)):
        _cod(session, p, f"RM-C{p.id}")
    made, errors = twice_at_once(app, lambda s: [r.number for r in remittances.run(s).remittances],
                                 at=_at(day, 3))
    partners = session.scalar(select(func.count()).select_from(Partner))
    assert errors == [] and sorted(map(len, made)) == [0, partners]
    assert sorted(int(n[-6:]) for run in made for n in run) == list(range(1, partners + 1))
    assert session.scalar(select(func.count()).select_from(CodCollection)
                          .where(CodCollection.remittance_id.is_(None))) == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.tuples(st.just("deliver"), st.sampled_from([50_000, 250_000]), st.sampled_from(["cash", "card"]),
              st.booleans()),
    st.tuples(st.just("days"), st.integers(1, 3)),
    st.just(("remit",)), st.just(("paid",)), st.just(("settle",)),
), min_size=1, max_size=7))
def test_cod_collected_is_always_remitted_plus_payable(session, partner, day, steps):
    """At every moment: what 2100 holds for the partner is the payable of its collections
    not yet paid out; every collection is on at most one remittance; remitted + payable =
    collected (less short payments the partner accepted)."""
    offset = 0
    # Whatever came before, the example ends with the COD due, remitted and paid.
    for i, step in enumerate([*steps, ("days", 3), ("settle",), ("remit",), ("paid",)]):
        with time_machine.travel(_at(day, offset, 9 + i % 8), tick=False):
            if step[0] == "deliver":
                _, amount, method, short = step
                _cod(session, partner, f"H-{uuid.uuid4().hex[:10]}", amount=amount,
                     paid=amount // 2 if short else amount, method=method)
            elif step[0] == "days":
                offset += step[1]
            elif step[0] == "remit":
                remittances.run(session)
            elif step[0] == "paid":
                for r in remittances.remittances_of(session, status="approved"):
                    remittances.mark_paid(session, r.id, bank_reference="bank", user_id=None)
            else:
                for cod in fees.open_cod_differences(session):
                    fees.settle_cod_difference(session, cod.shipment_id, user_id=None, note="ok", actor="user:1",
                                               outcome="partner_accepts")
            session.commit()
        session.expire_all()  # runs claim collections with one UPDATE: read them afresh
        cods = list(session.scalars(select(CodCollection).where(CodCollection.partner_id == partner.id)))
        remitted = {r.id: r for r in session.scalars(select(Remittance).where(Remittance.partner_id == partner.id))}
        assert sum(r.cod_amount for r in remitted.values()) == sum(
            remittances.payable(c) for c in cods if c.remittance_id is not None)
        unpaid = sum(remittances.payable(c) for c in cods if c.remittance_id is None or
                     remitted[c.remittance_id].status != "paid")
        assert _payable(session, partner) == unpaid
        entitled = sum(c.amount_due for c in cods) - sum(
            c.amount_due - c.amount_collected for c in cods if c.settlement_outcome == "partner_accepts")
        paid_out = sum(r.payout_amount for r in remitted.values() if r.status == "paid")
        assert entitled == paid_out + _payable(session, partner)


def test_a_drivers_shortage_is_settled_once_and_no_more_than_owed(session, partner, day):
    _cod(session, partner, "SH-1")
    driver = session.get(Driver, session.scalars(select(CodCollection.driver_id)).one())
    h = cash.declare(session, driver, day, clock.network_zone(), "VND", 230_000)
    cash.confirm(session, h.id, 230_000, user_id=None, hub_id=None, note="short 20,000")
    session.commit()
    assert remittances.driver_balances(session) == [(driver.id, "VND", 20_000)]
    with pytest.raises(remittances.RemittanceError, match="owes 20,000 VND"):
        remittances.settle_shortage(session, driver.id, 30_000, "VND", how="repaid", note="x", user_id=None)
    remittances.settle_shortage(session, driver.id, 15_000, "VND", how="repaid", note="kept from pay", user_id=None)
    remittances.settle_shortage(session, driver.id, 5_000, "VND", how="written_off", note="forgiven", user_id=None)
    session.commit()
    assert remittances.driver_balances(session) == []
    assert ledger.balance(session, "5200", "VND") == 5_000


def test_card_cod_is_cleared_when_the_acquirer_pays_out(session, partner):
    _cod(session, partner, "CL-1", method="card")
    held = ledger.balance(session, "1150", "VND", party=("provider", 1))
    assert held == 250_000
    with pytest.raises(remittances.RemittanceError, match="holds 250,000 VND"):
        remittances.provider_payout(session, 1, 300_000, "VND", received_on=clock.today(), reference="x",
                                    user_id=None)
    remittances.provider_payout(session, 1, 250_000, "VND", received_on=clock.today(), reference="ACQ-1",
                                user_id=None)
    session.commit()
    assert ledger.balance(session, "1150", "VND", party=("provider", 1)) == 0
    assert ledger.balance(session, "1200", "VND") == 250_000
