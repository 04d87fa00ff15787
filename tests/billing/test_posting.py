"""Posting rules: the services that move money post their entries in the same
transaction, once per source and rule, and the books balance whatever happens."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from app import clock
from app.billing import cash, fees, ledger
from app.billing.models import Charge, CodCollection, JournalEntry
from app.delivery.models import Driver
from tests.factories import create, deliver_direct, order_in


def _deliver(session, partner, reference, *, cod=0, paid=None, method="cash"):
    """A parcel delivered by the centre's driver (paid ``paid`` of ``cod`` by ``method``)
    and its fees collected. Returns the shipment id."""
    shipment = deliver_direct(session, partner, reference, cod=cod, paid=paid, method=method)
    fees.collect_fees(session, [shipment.id])
    session.commit()
    return shipment.id


def _by_currency(session) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (_, currency), amount in ledger.trial_balance(session).items():
        totals[currency] = totals.get(currency, 0) + amount
    return totals


def test_a_delivery_posts_its_fee_and_its_cash_once(session, partner):
    sid = _deliver(session, partner, "PO-1", cod=250_000)
    charge = session.scalars(select(Charge).where(Charge.shipment_id == sid)).one()
    cod = session.scalars(select(CodCollection).where(CodCollection.shipment_id == sid)).one()
    p, d = ("partner", partner.id), ("driver", cod.driver_id)
    assert cod.driver_id is not None
    assert ledger.balance(session, "1305", "VND", party=p) == charge.amount  # charged, not yet invoiced
    # Freight to delivery revenue, the COD fee to surcharges, VAT payable: the quote's lines.
    lines = dict(charge.breakdown["lines"])
    assert ledger.balance(session, "4100", "VND") == -lines["freight"]
    assert ledger.balance(session, "4300", "VND") == -lines["cod_fee"] == -5_000
    assert ledger.balance(session, "2200", "VND") == -charge.vat_amount < 0
    assert charge.amount == sum(lines.values()) + charge.vat_amount
    assert ledger.balance(session, "1100", "VND", party=d) == 250_000
    assert ledger.balance(session, "2100", "VND", party=p) == -250_000
    entries = {e.rule: e for e in session.scalars(select(JournalEntry))}
    assert set(entries) == {"fee_charged", "cod_collected"}
    assert (entries["fee_charged"].source_type, entries["fee_charged"].source_id) == ("charge", str(charge.id))
    assert entries["fee_charged"].entry_date == clock.today()

    # Collected again (a redelivered job): nothing more is charged or posted.
    fees.collect_fees(session, [sid])
    session.commit()
    assert session.scalar(select(func.count()).select_from(JournalEntry)) == 2


def test_card_cod_goes_through_the_clearing_account_and_a_short_one_is_the_drivers(session, partner):
    sid = _deliver(session, partner, "PO-2", cod=300_000, paid=200_000, method="card")
    cod = session.scalars(select(CodCollection).where(CodCollection.shipment_id == sid)).one()
    assert ledger.balance(session, "1150", "VND", party=("provider", 1)) == 200_000
    assert ledger.balance(session, "1310", "VND", party=("driver", cod.driver_id)) == 100_000
    assert ledger.balance(session, "2100", "VND", party=("partner", partner.id)) == -300_000
    assert ledger.balance(session, "1100", "VND", party=("driver", cod.driver_id)) == 0

    # Finance: Waybill bears it. The driver owes nothing; the expense is booked.
    fees.settle_cod_difference(session, sid, user_id=None, note="card terminal fault", actor="user:1",
                               outcome="written_off")
    session.commit()
    assert ledger.balance(session, "1310", "VND", party=("driver", cod.driver_id)) == 0
    assert ledger.balance(session, "5200", "VND") == 100_000
    assert set(_by_currency(session).values()) == {0}


def test_a_short_count_at_the_hub_is_owed_by_the_driver(session, partner):
    sid = _deliver(session, partner, "PO-3", cod=250_000)
    driver = session.get(Driver, session.scalars(select(CodCollection.driver_id)).one())
    handover = cash.declare(session, driver, clock.today(), clock.network_zone(), "VND", 240_000)
    session.commit()
    cash.confirm(session, handover.id, 240_000, user_id=None, hub_id=None, note="10,000 short")
    session.commit()
    d = ("driver", driver.id)
    assert ledger.balance(session, "1100", "VND", party=d) == 0
    assert ledger.balance(session, "1310", "VND", party=d) == 10_000
    assert ledger.balance(session, "1110", "VND", party=("hub", handover.hub_id)) == 240_000
    entry = ledger.entry_for(session, "cash_handover", handover.id, "cash_counted")
    assert entry is not None and sid


def test_a_posting_that_fails_takes_its_business_change_with_it(session, partner, monkeypatch):
    """The entry is written in the business transaction: if it cannot be posted, the fee
    is not charged either (and the job's retry will do both)."""
    from app.billing import posting

    create(session, partner, order_in("PO-4"))
    session.commit()
    monkeypatch.setitem(posting.LINES, "freight", ("Freight", "9999"))
    with pytest.raises(ledger.LedgerError, match="no account"):
        _deliver(session, partner, "PO-5")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Charge)) == 0
    assert session.scalar(select(func.count()).select_from(JournalEntry)) == 0


EVENTS = st.lists(st.one_of(
    st.tuples(st.just("deliver"), st.sampled_from([0, 100_000, 250_000]), st.sampled_from(["cash", "card", "transfer"]),
              st.sampled_from([1.0, 0.5, 1.2])),
    st.tuples(st.just("count"), st.sampled_from([1.0, 0.9, 1.1])),
    st.tuples(st.just("settle"), st.sampled_from(["partner_accepts", "driver_owes", "written_off"])),
), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(EVENTS)
def test_any_sequence_of_business_events_keeps_the_books_balanced(session, partner, events):
    """Deliveries with any COD and payment, counts at the hub short or over, settlements of
    any kind: after each, the trial balance is zero per currency, every source posted once,
    and the COD payable equals what is due less what partners accepted to lose. (The
    examples share the test's database: each adds to the books the last one left.)"""
    for i, event in enumerate(events):
        if event[0] == "deliver":
            _, cod, method, share = event
            _deliver(session, partner, f"H-{uuid.uuid4().hex[:8]}-{i}", cod=cod, paid=int(cod * share),
                     method=method)
        elif event[0] == "count":
            for driver in session.scalars(select(Driver)):
                due = cash.still_to_hand_over(session, driver, clock.today(), clock.network_zone(), "VND")
                if due:
                    h = cash.declare(session, driver, clock.today(), clock.network_zone(), "VND", due)
                    cash.confirm(session, h.id, int(due * event[1]), user_id=None, hub_id=None, note="counted")
            session.commit()
        else:
            for cod in fees.open_cod_differences(session):
                outcome = event[1]
                if outcome == "driver_owes" and cod.difference > 0:
                    outcome = "partner_accepts"
                fees.settle_cod_difference(session, cod.shipment_id, user_id=None, note="settled",
                                           actor="user:1", outcome=outcome)
            session.commit()
        assert set(_by_currency(session).values()) <= {0}
        keys = session.execute(select(JournalEntry.source_type, JournalEntry.source_id, JournalEntry.rule)).all()
        assert len(keys) == len(set(keys))
        cods = list(session.scalars(select(CodCollection)))
        accepted = sum(c.amount_due - c.amount_collected for c in cods if c.settlement_outcome == "partner_accepts")
        assert -ledger.balance(session, "2100", "VND", party=("partner", partner.id)) == \
            sum(c.amount_due for c in cods) - accepted
