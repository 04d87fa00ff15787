from app.orders.tracking import format_tracking_number, is_valid_tracking_number, luhn_digit


def test_luhn_digit_known_values():
    assert luhn_digit("7992739871") == "3"  # the textbook example
    assert luhn_digit("0") == "0"


def test_numbers_are_valid_unique_and_not_sequential():
    numbers = [format_tracking_number(s) for s in range(1, 2001)]
    assert len(set(numbers)) == 2000
    assert all(is_valid_tracking_number(n) for n in numbers)
    assert all(len(n) == 13 and n.startswith("WB") for n in numbers)
    assert numbers[0][2:7] != numbers[1][2:7]


def test_any_single_digit_typo_is_caught():
    number = format_tracking_number(123456)
    for i in range(2, 13):
        for d in "0123456789":
            typo = number[:i] + d + number[i + 1:]
            if typo != number:
                assert not is_valid_tracking_number(typo), typo


def test_adjacent_swaps_are_caught():
    number = format_tracking_number(987654)
    for i in range(2, 12):
        swapped = number[:i] + number[i + 1] + number[i] + number[i + 2:]
        if swapped != number and {number[i], number[i + 1]} != {"0", "9"}:
            assert not is_valid_tracking_number(swapped)


def test_malformed_numbers_are_rejected():
    for bad in ("", "WB123", "XX19407559699", "WB1940755969A", "WB194075596999"):
        assert not is_valid_tracking_number(bad)
    assert is_valid_tracking_number(" wb19407559699 ")
