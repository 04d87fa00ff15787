"""The lifecycle table on its own: no database."""
import pytest

from app.orders import lifecycle
from app.orders.lifecycle import (
    PUBLIC_VOCABULARY,
    TERMINAL,
    TRANSITIONS,
    Facts,
    Status,
    TransitionError,
    decide,
    public_status,
)

S = Status


def facts(status, route="linehaul", failed=0, max_attempts=3, held_from=None, fees=False):
    return Facts(S(status), route, failed, max_attempts, held_from, fees)


def test_happy_path_by_line_haul():
    path = [("schedule_pickup", S.PICKUP_SCHEDULED), ("pick_up", S.PICKED_UP),
            ("receive_at_centre", S.AT_SHIPPING_CENTRE), ("depart_linehaul", S.IN_TRANSIT),
            ("receive_at_hub", S.AT_LOCAL_HUB), ("dispatch_for_delivery", S.OUT_FOR_DELIVERY),
            ("deliver", S.DELIVERED), ("close", S.CLOSED)]
    status = S.CREATED
    for action, expected in path:
        status = decide(facts(status, fees=True), action).target
        assert status is expected


def test_direct_route_goes_out_from_the_centre_and_never_on_a_line_haul():
    assert decide(facts(S.AT_SHIPPING_CENTRE, route="direct"), "dispatch_for_delivery").target is S.OUT_FOR_DELIVERY
    with pytest.raises(TransitionError, match="direct"):
        decide(facts(S.AT_SHIPPING_CENTRE, route="direct"), "depart_linehaul")
    with pytest.raises(TransitionError, match="line-haul"):
        decide(facts(S.AT_SHIPPING_CENTRE, route="linehaul"), "dispatch_for_delivery")


def test_failed_attempts_allow_reattempts_until_the_limit():
    assert decide(facts(S.DELIVERY_FAILED, failed=2), "dispatch_for_delivery").target is S.OUT_FOR_DELIVERY
    with pytest.raises(TransitionError, match="back to the sender"):
        decide(facts(S.DELIVERY_FAILED, failed=3), "dispatch_for_delivery")
    assert decide(facts(S.DELIVERY_FAILED, failed=3), "return_to_sender",
                  reason="3 failed").target is S.RETURNING_TO_SENDER


def test_limit_is_configurable():
    assert decide(facts(S.DELIVERY_FAILED, failed=3, max_attempts=5), "dispatch_for_delivery").applied
    with pytest.raises(TransitionError):
        decide(facts(S.DELIVERY_FAILED, failed=1, max_attempts=1), "dispatch_for_delivery")


def test_reasons_are_required_where_the_table_says():
    for action in ("fail_attempt", "cancel", "hold", "declare_lost", "return_to_sender"):
        assert TRANSITIONS[action].needs_reason
    with pytest.raises(TransitionError, match="needs a reason"):
        decide(facts(S.OUT_FOR_DELIVERY), "fail_attempt", reason="  ")


def test_hold_and_release_return_to_where_it_was():
    assert decide(facts(S.AT_LOCAL_HUB), "hold", reason="damaged").target is S.ON_HOLD
    assert decide(facts(S.ON_HOLD, held_from=S.AT_LOCAL_HUB), "release").target is S.AT_LOCAL_HUB
    with pytest.raises(TransitionError):
        decide(facts(S.DELIVERED), "hold", reason="x")


def test_late_scan_is_recorded_not_applied():
    late = decide(facts(S.OUT_FOR_DELIVERY), "receive_at_hub")
    assert late.applied is False and late.target is None
    # Held shipments compare against where they were held.
    assert decide(facts(S.ON_HOLD, held_from=S.AT_LOCAL_HUB), "pick_up").applied is False


def test_scan_ahead_of_the_state_is_an_error_not_a_late_scan():
    with pytest.raises(TransitionError, match="cannot deliver"):
        decide(facts(S.AT_LOCAL_HUB), "deliver")


def test_non_scan_actions_are_never_late():
    with pytest.raises(TransitionError):
        decide(facts(S.DELIVERED), "schedule_pickup")


def test_terminal_states_never_move():
    for status in TERMINAL:
        for action in TRANSITIONS:
            try:
                decision = decide(facts(status), action, reason="r")
            except TransitionError:
                continue
            # Only a late scan gets through: recorded, not applied.
            assert not decision.applied and status is S.CLOSED, (status, action)


def test_every_state_is_reachable_and_every_non_terminal_state_has_a_way_out():
    reachable = {S.CREATED} | {t.target for t in TRANSITIONS.values() if t.target}
    assert reachable == set(S)
    for status in set(S) - TERMINAL:
        assert any(status in t.sources for t in TRANSITIONS.values()), status


def test_public_vocabulary_covers_every_state():
    for status in S:
        assert public_status(status, "delivered") in PUBLIC_VOCABULARY
    assert public_status("closed", "returned") == "returned"
    assert public_status("closed", "delivered") == "delivered"
    assert public_status("on_hold") == "exception"
    assert public_status("delivery_failed") == "failed_attempt"


def test_diagram_is_generated_from_the_table():
    diagram = lifecycle.mermaid_diagram()
    for t in TRANSITIONS.values():
        assert t.action in diagram
    assert "at_shipping_centre --> in_transit: depart_linehaul [route_is_linehaul]" in diagram


def test_only_fee_collection_closes():
    with pytest.raises(TransitionError, match="fees are collected first"):
        decide(facts(S.DELIVERED), "close")
    assert decide(facts(S.RETURNED, fees=True), "close").target is S.CLOSED


def test_table_agrees_with_the_design_everywhere():
    """Every state, action, route, attempt count and hold origin, against the lifecycle
    as the design states it (written out independently in the stateful test)."""
    from tests.orders.test_lifecycle_stateful import ACTIONS, expected

    assert set(ACTIONS) == set(TRANSITIONS)
    for status in S:
        for action in ACTIONS:
            for route in ("direct", "linehaul"):
                for failed in range(5):
                    for held in (None, S.AT_LOCAL_HUB, S.CREATED):
                        if (status is S.ON_HOLD) != (held is not None):
                            continue
                        want = expected(status.value, action, route, failed, held and held.value)
                        try:
                            got = decide(facts(status, route, failed, 3, held, fees=True), action,
                                         reason="r").target
                        except TransitionError:
                            got = None
                        assert (got.value if got else None) == want, (status, action, route, failed, held)
