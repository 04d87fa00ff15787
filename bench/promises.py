"""Promise accuracy on a simulated fortnight: are the days promised at intake kept?

The demo network takes orders at random moments of each day (07:00-19:00, every day of the
week) and works them on a clock that moves through the day, in two ways. One wave: pickups
scheduled at 09:00 and 12:30 and collected at 11:30 and 14:00, scanned in at the centre at
16:00, one run sheet out at 08:00 and its attempts at 11:00 (15 % fail), returns at 17:00,
line-hauls out at 20:00 and in at 04:00. Three waves, as a courier offering same-day
delivery runs them: pickups scheduled at 09:00, 12:00 and 14:00 and collected at 11:00,
13:30 and 15:00; parcels scanned in at the centre at 12:30 and 16:00; run sheets out at
08:00, 13:00 and 16:30 and their attempts at 11:00, 16:00 and 19:00 (15 % fail); returns
back at 17:00; line-hauls leave at 20:00 and arrive at 04:00. The centre's schedule says
what it runs: a same-day run at 13:00 with three waves, none with one. The promise is what intake
stored; accuracy is counted as the console counts it (kept, revised, broken) by service
level, once every parcel has ended.

This measures the promise rules against a pipeline run at a steady pace, not against real
traffic: a late pickup or a full van in the field is not simulated.
"""
from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from datetime import time as clock_time

#: (local time, step) of each simulated day, in the order they happen: one delivery wave.
ONE_WAVE = ((clock_time(4), "receive_trips"), (clock_time(8), "send_out"), (clock_time(9), "schedule_pickups"),
            (clock_time(11), "attempt_deliveries"), (clock_time(11, 30), "pick_up"),
            (clock_time(12, 30), "schedule_pickups"), (clock_time(14), "pick_up"),
            (clock_time(16), "scan_in_at_centres"), (clock_time(17), "returns"), (clock_time(20), "dispatch_trips"))
#: Three waves of pickups and deliveries a day.
THREE_WAVES = ((clock_time(4), "receive_trips"), (clock_time(8), "send_out"), (clock_time(9), "schedule_pickups"),
       (clock_time(11), "attempt_deliveries"), (clock_time(11), "pick_up"), (clock_time(12), "schedule_pickups"),
       (clock_time(12, 30), "scan_in_at_centres"), (clock_time(13), "send_out"), (clock_time(13, 30), "pick_up"),
       (clock_time(14), "schedule_pickups"), (clock_time(15), "pick_up"), (clock_time(16), "scan_in_at_centres"),
       (clock_time(16), "attempt_deliveries"), (clock_time(16, 30), "send_out"), (clock_time(17), "returns"),
       (clock_time(19), "attempt_deliveries"), (clock_time(20), "dispatch_trips"))


def bench_promises(url_for, make_app, fresh_database, emit, *, orders_per_day: int = 80, days: int = 14) -> None:
    """``url_for(name)``: a database of its own for each way of working."""
    for name, day, same_day_run in (("one_wave", ONE_WAVE, None), ("three_waves", THREE_WAVES, clock_time(13))):
        _fortnight(url_for(f"promises_{name}"), make_app, fresh_database, emit, name, day, same_day_run,
                   orders_per_day=orders_per_day, days=days)


def _fortnight(url: str, make_app, fresh_database, emit, scenario: str, steps, same_day_run, *,
               orders_per_day: int, days: int) -> None:
    """One way of working: its day's steps, and the centres' same-day run as the hub
    schedule declares it (None: one wave runs none, so same day is not promised)."""
    from app import clock, demo
    from sqlalchemy import select

    from app.db import db
    from app.hubs.models import Hub
    from app.hubs.routing import invalidate_network
    from app.orders import console_reads
    from app.simulation import Simulation
    from workers.jobs import run_pending

    app = make_app(url)
    with app.app_context():
        fresh_database(app)
        session = db.session
        for hub in session.scalars(select(Hub)):
            hub.same_day_out_by = same_day_run if hub.is_centre else None
        session.commit()
        invalidate_network()
        rng = random.Random(11)
        sim = Simulation(session, drain=run_pending, rng=rng, only=set())
        tz = clock.network_zone()
        first = clock.today() - timedelta(days=days + 10)
        started = time.perf_counter()
        day, taken = first, 0
        while True:
            ordering = day < first + timedelta(days=days)
            moments = sorted(datetime.combine(day, clock_time(7), tz) + timedelta(seconds=rng.uniform(0, 12 * 3600))
                             for _ in range(orders_per_day if ordering else 0))
            for at, step in steps:
                due = datetime.combine(day, at, tz)
                while moments and moments[0] < due:
                    with clock.at(moments.pop(0)):
                        taken += len(sim.create_orders(1, prefix=f"P{day:%m%d}{taken}",
                                                       order_factory=demo.random_order))
                with clock.at(due):
                    getattr(sim, step)()
                    sim.drain()
            day += timedelta(days=1)
            if not ordering and (sim.open_count() == 0 or day > first + timedelta(days=days + 8)):
                break
        seconds = time.perf_counter() - started
        end = day
        with clock.at(datetime.combine(end, clock_time(12), tz)):
            rows = console_reads.promise_accuracy(session, first, end, by="service_level", today=end, tz=tz)
        extra = {"orders": taken, "days": days, "open_left": sim.open_count(), "sim_seconds": round(seconds, 1)}
        totals = {"kept": 0, "revised": 0, "broken": 0}
        for row in rows:
            for part in totals:
                totals[part] += getattr(row, part)
                emit(f"promise_{scenario}_{row.key}_{part}_pct", 100 * row.share(getattr(row, part)), "%", "sqlite",
                     promises=row.total, **extra)
        total = sum(totals.values())
        for part, n in totals.items():
            emit(f"promise_{scenario}_all_{part}_pct", 100 * n / total if total else 0, "%", "sqlite", promises=total, **extra)
