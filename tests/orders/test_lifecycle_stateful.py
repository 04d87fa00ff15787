"""Hypothesis drives shipments through random actions against the real services and
database, and checks them against an independent statement of the lifecycle."""
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import func, select

from app.billing.models import Charge
from app.db import Base, db
from app.delivery import services as delivery
from app.orders import shipments
from app.orders.intake import create_order
from app.orders.lifecycle import TransitionError
from app.orders.models import Shipment
from tests.conftest import make_test_app
from tests.factories import THU_DUC_UNIVERSITY, order_in
from workers.jobs import run_pending

MAX = 3
ACTIVE = {"created", "pickup_scheduled", "picked_up", "at_shipping_centre", "in_transit",
          "at_local_hub", "out_for_delivery", "delivery_failed", "returning_to_sender"}


def expected(status, action, route, failed, held_from):
    """The lifecycle as the design states it, written out independently of the table."""
    simple = {
        ("created", "schedule_pickup"): "pickup_scheduled",
        ("created", "pick_up"): "picked_up", ("pickup_scheduled", "pick_up"): "picked_up",
        ("picked_up", "receive_at_centre"): "at_shipping_centre",
        ("in_transit", "receive_at_hub"): "at_local_hub",
        ("at_local_hub", "dispatch_for_delivery"): "out_for_delivery",
        ("out_for_delivery", "deliver"): "delivered",
        ("out_for_delivery", "fail_attempt"): "delivery_failed",
        ("delivery_failed", "return_to_sender"): "returning_to_sender",
        ("returning_to_sender", "complete_return"): "returned",
        ("delivered", "close"): "closed", ("returned", "close"): "closed",  # by billing only
        ("created", "cancel"): "cancelled", ("pickup_scheduled", "cancel"): "cancelled",
        ("on_hold", "declare_lost"): "lost",
    }
    if (status, action) in simple:
        return simple[(status, action)]
    if action == "depart_linehaul" and status == "at_shipping_centre" and route == "linehaul":
        return "in_transit"
    if action == "dispatch_for_delivery":
        if status == "at_shipping_centre" and route == "direct":
            return "out_for_delivery"
        if status == "delivery_failed" and failed < MAX:
            return "out_for_delivery"
    if action == "hold" and status in ACTIVE:
        return "on_hold"
    if action == "release" and status == "on_hold":
        return held_from
    return None


ACTIONS = ["schedule_pickup", "pick_up", "receive_at_centre", "depart_linehaul", "receive_at_hub",
           "dispatch_for_delivery", "deliver", "fail_attempt", "return_to_sender", "complete_return",
           "close", "cancel", "hold", "release", "declare_lost"]


@pytest.fixture(scope="module")
def stateful_app(tmp_path_factory):
    from app import demo

    app = make_test_app(f"sqlite:///{tmp_path_factory.mktemp('stateful') / 'w.db'}")
    with app.app_context():
        Base.metadata.create_all(db.engine)
        demo.seed_network(db.session)
        db.session.commit()
    return app


class Lifecycle(RuleBasedStateMachine):
    app = None

    @initialize()
    def start(self):
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.session = db.session
        self.model = {}  # shipment id -> [status, route, failed, held_from]
        self.counter = getattr(Lifecycle, "_n", 0)

    def teardown(self):
        db.session.remove()
        self.ctx.pop()

    @rule(far=st.booleans())
    def create(self, far):
        from app.crm.models import Partner

        Lifecycle._n = getattr(Lifecycle, "_n", 0) + 1
        partner = self.session.scalars(select(Partner)).first()
        s = create_order(self.session, partner,
                         order_in(f"H-{Lifecycle._n}", dropoff=THU_DUC_UNIVERSITY if far else None,
                                  district="" if far else "Tan Binh"),
                         actor="t")
        self.session.commit()
        self.model[s.shipment_id] = ["created", s.route, 0, None]

    @rule(data=st.data())
    def act(self, data):
        if not self.model:
            return
        sid = data.draw(st.sampled_from(sorted(self.model)))
        status, route, failed, held_from = self.model[sid]
        # Mostly moves the design allows (to get deep into the lifecycle), often any move.
        allowed = [a for a in ACTIONS if a != "close" and expected(status, a, route, failed, held_from)]
        action = data.draw(st.sampled_from(allowed) | st.sampled_from(ACTIONS) if allowed
                           else st.sampled_from(ACTIONS))
        want = None if action == "close" else expected(status, action, route, failed, held_from)
        now = datetime.now(timezone.utc)
        try:
            if action == "deliver":
                result = delivery.deliver(self.session, sid, delivery.ProofIn("Lan", "self", now),
                                          driver_id=None, actor="t")
            elif action == "fail_attempt":
                result = delivery.fail_attempt(self.session, sid, "not_home", driver_id=None, actor="t")
            else:
                # Closing is billing's: anyone else asking is refused (fees_collected unset).
                result = shipments.transition(self.session, sid, action, actor="t", reason="because")
            self.session.commit()
        except TransitionError:
            self.session.rollback()
            assert want is None, f"{action} from {status} was refused but is allowed"
            return
        if result.applied:
            assert want is not None, f"{action} from {status} succeeded but is not allowed"
            assert self.session.get(Shipment, sid).status == want
            if action == "hold":
                held_from = status
            self.model[sid] = [want, route, failed + (action == "fail_attempt"), held_from]
        else:
            assert want is None  # a late scan moves nothing
            assert self.session.get(Shipment, sid).status == status

    @rule()
    def run_jobs(self):
        run_pending()
        for sid in self.model:
            self.model[sid][0] = self.session.get(Shipment, sid).status

    @invariant()
    def history_replays_to_the_state(self):
        for sid, (status, *_rest) in self.model.items():
            s = self.session.get(Shipment, sid)
            assert s.status == status
            assert shipments.replay(shipments.history(self.session, sid)) == status

    @invariant()
    def delivered_implies_proof(self):
        for sid in self.model:
            s = self.session.get(Shipment, sid)
            if s.outcome == "delivered":
                assert delivery.proof_for(self.session, sid) is not None

    @invariant()
    def fee_charged_at_most_once_and_once_closed(self):
        for sid in self.model:
            n = self.session.scalar(select(func.count()).select_from(Charge).where(Charge.shipment_id == sid))
            s = self.session.get(Shipment, sid)
            assert n <= 1
            if s.status == "closed":
                assert n == 1


def test_lifecycle_state_machine(stateful_app):
    Lifecycle.app = stateful_app
    runner = Lifecycle.TestCase
    runner.settings = settings(max_examples=40, stateful_step_count=40, deadline=None,
                               suppress_health_check=[HealthCheck.too_slow])
    runner().runTest()
