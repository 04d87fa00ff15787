from app.orders.tracking import is_valid_tracking_number, luhn_digit, random_tracking_number


def test_luhn_digit_known_values():
    assert luhn_digit("7992739871") == "3"  # the textbook example
    assert luhn_digit("0") == "0"


def test_numbers_are_valid_and_random():
    numbers = [random_tracking_number() for _ in range(2000)]
    assert len(set(numbers)) == 2000
    assert all(is_valid_tracking_number(n) for n in numbers)
    assert all(len(n) == 13 and n.startswith("WB") for n in numbers)
    # Every digit position takes every value: nothing in one number follows from another.
    for i in range(2, 12):
        assert len({n[i] for n in numbers}) == 10


def test_the_neighbours_of_a_live_number_are_not_live(session, partner):
    """From one tracking number, the numbers next to it (body +/- 1..50) lead nowhere."""
    from sqlalchemy import select

    from app.orders.models import Shipment
    from tests.factories import create, order_in

    for i in range(60):
        create(session, partner, order_in(f"NB-{i}"))
    session.commit()
    live = set(session.scalars(select(Shipment.tracking_number)))
    one = sorted(live)[0]
    body = int(one[2:12])
    near = set()
    for step in range(-50, 51):
        digits = f"{(body + step) % 10**10:010d}"
        near.add(f"WB{digits}{luhn_digit(digits)}")
    assert live & near == {one}


def test_numbers_issued_one_after_another_share_no_step(session, partner):
    """A scrambled serial gives itself away: consecutive numbers differ by the same step,
    so two numbers predict the next. Random ones do not."""
    from tests.factories import create, order_in

    bodies = [int(create(session, partner, order_in(f"STEP-{i}")).tracking_number[2:12]) for i in range(4)]
    steps = {(b - a) % 10**10 for a, b in zip(bodies, bodies[1:])}
    assert len(steps) == 3


def test_a_number_already_taken_is_drawn_again(session, partner, monkeypatch):
    from app.orders import tracking
    from tests.factories import create, order_in

    first = create(session, partner, order_in("TAKEN-1")).tracking_number
    session.commit()
    draws = iter([first, first, "WB00000000000"[:12] + luhn_digit("0000000000")])
    monkeypatch.setattr(tracking, "random_tracking_number", lambda: next(draws))
    second = create(session, partner, order_in("TAKEN-2")).tracking_number
    assert second == "WB0000000000" + luhn_digit("0000000000") and second != first


def test_any_single_digit_typo_is_caught():
    number = random_tracking_number()
    for i in range(2, 13):
        for d in "0123456789":
            typo = number[:i] + d + number[i + 1:]
            if typo != number:
                assert not is_valid_tracking_number(typo), typo


def test_adjacent_swaps_are_caught():
    number = random_tracking_number()
    for i in range(2, 12):
        swapped = number[:i] + number[i + 1] + number[i] + number[i + 2:]
        if swapped != number and {number[i], number[i + 1]} != {"0", "9"}:
            assert not is_valid_tracking_number(swapped)


def test_malformed_numbers_are_rejected():
    for bad in ("", "WB123", "XX19407559699", "WB1940755969A", "WB194075596999"):
        assert not is_valid_tracking_number(bad)
    assert is_valid_tracking_number(" wb19407559699 ")
