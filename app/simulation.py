"""Drives shipments through the whole pipeline with simulated pickups, scans, line-hauls
and deliveries, calling the same services as the driver's pages, the scan station and the
scheduled jobs. Used by ``flask --app wsgi simulate``, the demo and the benchmarks.

Each step commits in batches of BATCH shipments, as a busy scan station would."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app import clock
from app.crm import services as crm
from app.db import database_unreachable
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.services import ProofIn
from app.hubs import services as hubs
from app.orders import shipments
from app.orders.intake import IntakeError, create_order
from app.orders.lifecycle import Status

BATCH = 200
#: Tries of a step while the database is unreachable (about a minute in all).
RESTART_TRIES = 15
#: Share of delivery attempts that fail.
FAIL_RATE = 0.15
#: The signature a simulated customer draws.
SIGNATURE = ('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 40" width="100" height="40">'
             '<path d="M10 30 C 20 5, 30 5, 40 25 S 60 35, 70 12" fill="none" stroke="#1a1a1a" stroke-width="2"/></svg>')


@dataclass
class Simulation:
    session: Session
    #: Waits until the workers have done every outbox job (fees close shipments).
    drain: Callable[[], None]
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    fail_rate: float = FAIL_RATE
    #: Ids this simulation drives; None drives every open shipment.
    only: set[int] | None = None
    on_progress: Callable[[int], None] = lambda n: None
    counts: dict = field(default_factory=lambda: {"orders": 0, "rejected": 0, "days": 0})

    # -- orders ---------------------------------------------------------------------------
    def create_orders(self, n: int, *, prefix: str, order_factory) -> list[int]:
        partners = crm.active_partners(self.session)
        if not partners:
            raise RuntimeError("no partners: run `flask --app wsgi demo` first")
        ids = []
        for i in range(n):
            partner = self.rng.choice(partners)
            order = order_factory(self.rng, partner, f"{prefix}-{i + 1:06d}")

            def take(partner=partner, order=order):
                try:
                    created = create_order(self.session, partner, order, actor=f"partner:{partner.id}")
                    self.session.commit()
                    ids.append(created.shipment_id)
                except IntakeError:
                    self.session.rollback()
                    self.counts["rejected"] += 1

            self._surviving(take)
            self.on_progress(1)
        self.counts["orders"] += len(ids)
        if self.only is not None:
            self.only.update(ids)
        return ids

    # -- one day of the network, step by step ----------------------------------------------
    def today(self):
        return clock.today()

    def _ids(self, *statuses) -> list[int]:
        return shipments.ids_in_status(self.session, statuses, only=self.only)

    def _commit_in_batches(self, ids: list[int], step: Callable[[int], None]) -> None:
        for i, sid in enumerate(ids, 1):
            step(sid)
            if i % BATCH == 0:
                self.session.commit()
        self.session.commit()

    def schedule_pickups(self):
        delivery.schedule_pickups(self.session, self.today(), only=self.only)
        self.session.commit()

    def pick_up(self):
        mine = set(self._ids(Status.PICKUP_SCHEDULED))
        for run in delivery.planned_runs(self.session):
            ids = [i for i in delivery.run_shipment_ids(self.session, run) if i in mine or self.only is None]
            if ids:
                delivery.confirm_pickup(self.session, run, actor=f"driver:{run.driver_id}", shipment_ids=ids)
                self.session.commit()

    def _scan_in_by_hub(self, statuses, hub_of) -> None:
        hubs_by_id = {h.id: h for h in hubs.all_hubs(self.session)}
        ids = self._ids(*statuses)
        by_hub: dict[int, list[int]] = {}
        for s in shipments.lock_shipments(self.session, ids):
            by_hub.setdefault(hub_of(s), []).append(s.id)
        for hub_id, hub_ids in by_hub.items():
            for i in range(0, len(hub_ids), BATCH):  # a bag at a time
                hubs.scan_in_many(self.session, hubs_by_id[hub_id], hub_ids[i:i + BATCH],
                                  actor=f"user:hub-{hub_id}")
                self.session.commit()

    def scan_in_at_centres(self):
        self._scan_in_by_hub([Status.PICKED_UP], lambda s: s.centre_id)

    def dispatch_trips(self):
        hubs.dispatch_linehauls(self.session, only=self.only)
        self.session.commit()

    def receive_trips(self):
        self._scan_in_by_hub([Status.IN_TRANSIT], lambda s: s.delivery_hub_id)
        hubs.close_arrived_trips(self.session)
        self.session.commit()

    def send_out(self):
        """Every parcel ready at a hub goes out: drivers take a second and third run sheet
        when their capacity is used up (a simulated day is compressed)."""
        for hub in hubs.all_hubs(self.session):
            while planning.build_run_sheets(self.session, hub.id, self.today(), actor="user:dispatcher",
                                            only=self.only):
                self.session.commit()
            self.session.commit()

    def attempt_deliveries(self):
        """Drivers record their attempts, a phone's batch at a time."""
        ids = self._ids(Status.OUT_FOR_DELIVERY)
        due = shipments.cod_due(self.session, ids)
        now = clock.now()
        attempts = []
        for sid in ids:
            if self.rng.random() < self.fail_rate:
                attempts.append(delivery.AttemptIn(
                    sid, reason_code=self.rng.choice(delivery.FAILURE_REASONS[:3]), device_time=now))
            else:
                attempts.append(delivery.AttemptIn(sid, proof=ProofIn(
                    recipient_name="Recipient", relation="self", captured_at=now,
                    signature_svg=SIGNATURE, cod_received_amount=due[sid],
                    cod_method="cash" if due[sid] else None)))
        for i in range(0, len(attempts), BATCH):
            results = delivery.record_attempts(self.session, attempts[i:i + BATCH], driver_id=None,
                                               actor="driver:simulated")
            refused = [r for r in results if isinstance(r, Exception)]
            if refused:
                raise refused[0]
            self.session.commit()

    def returns(self):
        delivery.return_exhausted(self.session, only=self.only)
        self.session.commit()
        ids = self._ids(Status.RETURNING_TO_SENDER)
        delivery.complete_returns(self.session, ids, actor="driver:returns")
        self.session.commit()

    STEPS = ("schedule_pickups", "pick_up", "scan_in_at_centres", "dispatch_trips",
             "receive_trips", "send_out", "attempt_deliveries", "returns")

    def day(self) -> None:
        for step in self.STEPS:
            self._surviving(getattr(self, step))
        self._surviving(self.drain)
        self.counts["days"] += 1

    def _surviving(self, step: Callable[[], None]) -> None:
        """Run a step again when the database could not be reached (a restart, a fail-over):
        every step reads what is left to do from the database, so a second run does only
        the rest."""
        for attempt in range(1, RESTART_TRIES + 1):
            try:
                step()
                return
            except DBAPIError as exc:
                if not database_unreachable(exc) or attempt == RESTART_TRIES:
                    raise
                self.session.rollback()
                self.counts["retried"] = self.counts.get("retried", 0) + 1
                time.sleep(min(2 ** attempt * 0.25, 5))

    def open_count(self) -> int:
        return shipments.count_open(self.session, only=self.only)

    def run(self, *, max_days: int = 100) -> None:
        """Day after day until every shipment driven is closed, or a day moves nothing
        (shipments on hold wait for a person)."""
        open_before = self.open_count()
        for _ in range(max_days):
            if open_before == 0:
                break
            events_before = shipments.events_appended(self.session, only=self.only)
            self.day()
            open_after = self.open_count()
            self.on_progress(open_before - open_after)
            if shipments.events_appended(self.session, only=self.only) == events_before:
                break
            open_before = open_after
