"""The route optimiser on its own: coordinates in, routes out."""
import random

import pytest

from app.delivery.optimiser import NoRoute, cheapest_insertion, distance_matrix, solve, tour_metres

HUB = (10.80, 106.66)


def around(centre, n, rng, spread=0.01):
    return [(centre[0] + rng.uniform(-spread, spread), centre[1] + rng.uniform(-spread, spread))
            for _ in range(n)]


def test_distances_are_great_circle_metres():
    matrix = distance_matrix([(10.0, 106.0), (11.0, 106.0), (10.0, 106.0)])
    assert abs(matrix[0, 1] - 111_195) < 50  # one degree of latitude
    assert matrix[0, 2] == 0 and matrix[1, 0] == matrix[0, 1]


def test_every_stop_once_and_no_driver_over_capacity():
    rng = random.Random(3)
    stops = around(HUB, 23, rng, spread=0.05)
    routes = solve(HUB, stops, [8, 8, 8])
    assert sorted(i for r in routes for i in r) == list(range(23))
    assert all(len(r) <= 8 for r in routes)


def test_drivers_take_areas_not_a_mix():
    """Two neighbourhoods 10 km apart on either side of the hub: each driver gets one."""
    rng = random.Random(5)
    north = around((HUB[0] + 0.09, HUB[1]), 8, rng)
    south = around((HUB[0] - 0.09, HUB[1]), 8, rng)
    stops = north + south
    routes = solve(HUB, stops, [10, 10], seconds=0.5)
    areas = [{i < 8 for i in r} for r in routes]
    assert sorted(map(len, routes)) == [8, 8]
    assert areas[0] != areas[1] and all(len(a) == 1 for a in areas)


def test_stops_on_a_street_are_visited_along_it():
    """Ten stops east of the hub on one line: out along the street and back."""
    stops = [(HUB[0], HUB[1] + 0.005 * k) for k in (7, 2, 9, 1, 5, 10, 3, 8, 4, 6)]
    [route] = solve(HUB, stops, [10])
    east = [stops[i][1] for i in route]
    assert east == sorted(east) or east == sorted(east, reverse=True)
    assert tour_metres(HUB, stops, route) == pytest.approx(2 * distance_matrix([HUB, stops[5]])[0, 1], rel=0.01)


def test_a_search_with_time_is_no_worse_than_the_first_solution():
    rng = random.Random(11)
    stops = around(HUB, 60, rng, spread=0.08)
    first = solve(HUB, stops, [20, 20, 20])
    better = solve(HUB, stops, [20, 20, 20], seconds=0.5)
    length = lambda routes: sum(tour_metres(HUB, stops, r) for r in routes)  # noqa: E731
    assert length(better) <= length(first)
    assert sorted(i for r in better for i in r) == list(range(60))


def test_more_stops_than_room_is_refused():
    with pytest.raises(NoRoute, match="5 stops but room for 4"):
        solve(HUB, around(HUB, 5, random.Random(1)), [2, 2])


def test_no_stops_no_routes():
    assert solve(HUB, [], [5, 5]) == [[], []]


def test_a_stop_is_inserted_where_it_adds_least():
    rng = random.Random(2)
    for _ in range(20):
        route = around(HUB, 6, rng, spread=0.03)
        stop = around(HUB, 1, rng, spread=0.03)[0]
        lengths = [tour_metres(HUB, route[:at] + [stop] + route[at:], list(range(7))) for at in range(7)]
        assert lengths[cheapest_insertion(HUB, route, stop)] == min(lengths)
    assert cheapest_insertion(HUB, [], (HUB[0], HUB[1] + 0.05)) == 0


def test_the_work_is_shared_even_without_time_to_improve():
    """Twelve stops and three drivers with room for forty each: nobody is left idle while
    another takes everything (the first solution fills drivers one by one otherwise)."""
    import random

    from app.delivery import optimiser

    rng = random.Random(3)
    hub = (10.80, 106.66)
    stops = [(10.80 + rng.uniform(-0.03, 0.03), 106.66 + rng.uniform(-0.03, 0.03)) for _ in range(12)]
    routes = optimiser.solve(hub, stops, [40, 40, 40], seconds=0)
    assert sorted(i for r in routes for i in r) == list(range(12))
    assert all(3 <= len(r) <= 5 for r in routes), [len(r) for r in routes]
    # Room that cannot be evened out is still used: one driver of capacity 2 among big ones.
    routes = optimiser.solve(hub, stops, [2, 40, 40], seconds=0)
    assert len(routes[0]) <= 2 and sum(map(len, routes)) == 12
