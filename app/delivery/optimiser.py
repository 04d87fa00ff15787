"""Stops shared among drivers and put in order: a capacitated vehicle-routing problem
solved with OR-Tools. Pure: coordinates in, routes out, no database.

Every driver starts and ends at the hub (the cash and the undelivered parcels come back);
a stop counts one against a driver's capacity (the most stops they take in a day).
Distances are great-circle metres between coordinates. The cost is the total distance
plus the longest route once more, so the work spreads over the drivers instead of one
driver taking everything while the others wait."""
from __future__ import annotations

import math

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from app.words import counted

EARTH_RADIUS_M = 6_371_008.8
#: Weight of the longest route against the total (1 = it counts twice).
BALANCE = 1


class NoRoute(RuntimeError):
    """The solver found no assignment (more stops than the drivers can take)."""


def distance_matrix(points: list[tuple[float, float]]) -> np.ndarray:
    """Great-circle distances between every pair of (lat, lon), whole metres."""
    lat = np.radians(np.array([p[0] for p in points], dtype=float))
    lon = np.radians(np.array([p[1] for p in points], dtype=float))
    dlat = lat[:, None] - lat[None, :]
    dlon = lon[:, None] - lon[None, :]
    a = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return np.rint(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))).astype(np.int64)


def fair_shares(n: int, capacities: list[int]) -> list[int]:
    """Each driver's room, held to about an even share of the ``n`` stops (a fifth more
    at most) when that still fits them all: the first solution fills one driver before the
    next, and a day's work is shared, not given to whoever comes first."""
    drivers = sum(1 for c in capacities if c > 0)
    if not drivers:
        return capacities
    share = math.ceil(n / drivers)
    capped = [min(c, share + share // 5) for c in capacities]
    return capped if sum(capped) >= n else capacities


def solve(depot: tuple[float, float], stops: list[tuple[float, float]], capacities: list[int],
          *, seconds: float = 0) -> list[list[int]]:
    """Share ``stops`` among drivers with ``capacities`` and order each driver's.

    Returns, per driver, the indexes into ``stops`` in visiting order (an empty list for a
    driver who is not needed). With ``seconds`` the solver improves the first solution by
    guided local search for that long; without, it keeps the first solution (cheapest
    arc first: deterministic, and quick enough for a simulation)."""
    if not stops:
        return [[] for _ in capacities]
    if sum(capacities) < len(stops):
        raise NoRoute(f"{counted(len(stops), 'stop')} but room for {sum(capacities)}")
    capacities = fair_shares(len(stops), capacities)
    matrix = distance_matrix([depot, *stops])
    manager = pywrapcp.RoutingIndexManager(len(matrix), len(capacities), 0)
    routing = pywrapcp.RoutingModel(manager)
    transit = routing.RegisterTransitMatrix(matrix.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(transit)
    one_each = routing.RegisterUnaryTransitVector([0] + [1] * len(stops))
    routing.AddDimensionWithVehicleCapacity(one_each, 0, list(capacities), True, "Stops")
    longest = int(matrix.max()) * (len(matrix) + 1)
    routing.AddDimension(transit, 0, longest, True, "Distance")
    routing.GetDimensionOrDie("Distance").SetGlobalSpanCostCoefficient(BALANCE)

    first = pywrapcp.DefaultRoutingSearchParameters()
    first.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    first.solution_limit = 1
    solution = routing.SolveWithParameters(first)
    if solution is not None and seconds > 0:
        better = pywrapcp.DefaultRoutingSearchParameters()
        better.local_search_metaheuristic = (
            routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
        better.time_limit.FromMilliseconds(max(1, int(seconds * 1000)))
        solution = routing.SolveFromAssignmentWithParameters(solution, better) or solution
    if solution is None:
        raise NoRoute("the route optimiser found no solution")
    routes = []
    for vehicle in range(len(capacities)):
        index, route = routing.Start(vehicle), []
        while not routing.IsEnd(index):
            node = manager.IndexToNode(index)
            if node:
                route.append(node - 1)
            index = solution.Value(routing.NextVar(index))
        routes.append(route)
    return routes


def tour_metres(depot: tuple[float, float], stops: list[tuple[float, float]], order: list[int]) -> int:
    """Length of the tour from the depot through ``stops`` in ``order`` and back."""
    if not order:
        return 0
    matrix = distance_matrix([depot, *[stops[i] for i in order]])
    path = list(range(len(order) + 1)) + [0]
    return int(sum(matrix[a, b] for a, b in zip(path, path[1:])))


def cheapest_insertion(depot: tuple[float, float], route: list[tuple[float, float]],
                       stop: tuple[float, float]) -> int:
    """Where in ``route`` (visited in this order from and back to the depot) ``stop``
    adds the least distance: the position to insert it at."""
    points = [depot, *route, depot]
    best, best_at = math.inf, len(route)
    matrix = distance_matrix([*points, stop])
    new = len(points)
    for at in range(len(points) - 1):
        added = matrix[at, new] + matrix[new, at + 1] - matrix[at, at + 1]
        if added < best:
            best, best_at = added, at
    return best_at
