"""Stage SLAs: how long a shipment may stay in each stage of its journey (waiting for
pickup, at the centre, on the line-haul, at its delivering hub, out for its first attempt,
on its way back), per hub and per partner's contract, and the shipments past or near their
target now. A stage starts when the shipment entered it (the event that moved it in from
outside the stage: ``Shipment.stage_since``, kept by the lifecycle's writer) and is
measured in hours on the clock."""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.orders.lifecycle import Status
from app.orders.models import Order, Shipment, StageTarget

S = Status


@dataclass(frozen=True)
class Stage:
    name: str
    #: The statuses a shipment is in during the stage.
    statuses: tuple[Status, ...]
    #: Hours allowed when no target is set for the hub or the partner.
    default_hours: int
    #: Whose hub the stage is at: "centre" or "delivery".
    at: str


STAGES = {s.name: s for s in (
    Stage("pickup", (S.CREATED, S.PICKUP_SCHEDULED), 24, "centre"),
    Stage("centre_dwell", (S.PICKED_UP, S.AT_SHIPPING_CENTRE), 12, "centre"),
    Stage("linehaul", (S.IN_TRANSIT,), 12, "delivery"),
    Stage("hub_dwell", (S.AT_LOCAL_HUB, S.DELIVERY_FAILED), 24, "delivery"),
    Stage("first_attempt", (S.OUT_FOR_DELIVERY,), 12, "delivery"),
    Stage("return_leg", (S.RETURNING_TO_SENDER,), 72, "delivery"),
)}
#: Status -> the stage it is part of (statuses in none: on hold, ended).
STAGE_OF = {status: stage.name for stage in STAGES.values() for status in stage.statuses}
#: A shipment is at risk once it has used this share of its stage's time.
AT_RISK = 0.75


class TargetError(ValueError):
    """A target that cannot be set: the message says why."""


def targets(session: Session) -> dict[tuple[str, int | None, int | None], int]:
    """(stage, hub_id, partner_id) -> hours, for every target set."""
    return {(t.stage, t.hub_id, t.partner_id): t.hours for t in session.scalars(select(StageTarget))}


def target_for(table: dict, stage: str, hub_id: int | None, partner_id: int | None) -> int:
    """The most specific target: the partner's at the hub, the partner's, the hub's, the
    network's (a row with neither), else the stage's default."""
    for key in ((stage, hub_id, partner_id), (stage, None, partner_id), (stage, hub_id, None), (stage, None, None)):
        if key in table:
            return table[key]
    return STAGES[stage].default_hours


def set_target(session: Session, stage: str, hours: int | None, *, hub_id: int | None = None,
               partner_id: int | None = None) -> None:
    """Set (``hours``) or clear (None) the target of ``stage`` for a hub, a partner, both,
    or the whole network. Raises TargetError."""
    if stage not in STAGES:
        raise TargetError(f"stage must be one of {', '.join(STAGES)}")
    if hours is not None and not 1 <= hours <= 24 * 30:
        raise TargetError("hours: from 1 to 720")
    row = session.scalars(select(StageTarget).where(
        StageTarget.stage == stage, StageTarget.hub_id.is_(None) if hub_id is None else StageTarget.hub_id == hub_id,
        StageTarget.partner_id.is_(None) if partner_id is None else StageTarget.partner_id == partner_id)).first()
    if hours is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(StageTarget(stage=stage, hub_id=hub_id, partner_id=partner_id, hours=hours))
    else:
        row.hours = hours
    session.flush()


@dataclass(frozen=True)
class Watched:
    """A shipment in a stage, with how long it has been there against its target."""

    shipment_id: int
    tracking_number: str
    stage: str
    hub_id: int
    partner_id: int
    reference: str
    entered_at: datetime
    target_hours: int

    @property
    def due_at(self) -> datetime:
        return self.entered_at + timedelta(hours=self.target_hours)

    def left(self, now: datetime) -> timedelta:
        return self.due_at - now

    def breached(self, now: datetime) -> bool:
        return now > self.due_at


class Watch(NamedTuple):
    breached: list[Watched]
    at_risk: list[Watched]
    #: A stage had more than ``limit`` shipments past three quarters of the least target:
    #: the lists hold the ``limit`` that entered it first.
    capped: bool


def watch(session: Session, *, now: datetime | None = None, hub_id: int | None = None,
          limit: int = 500) -> Watch:
    """(breached, at risk) now: shipments past their stage's target, longest over first,
    and those past AT_RISK of it, soonest due first. ``hub_id``: that hub's stages only.
    Each stage reads at most ``limit`` shipments, those that entered it first."""
    now = now or clock.now()
    table = targets(session)
    breached, at_risk, capped = [], [], False
    for stage in STAGES.values():
        hours = [h for (name, _hub, _partner), h in table.items() if name == stage.name] + [stage.default_hours]
        since = now - timedelta(hours=min(hours) * AT_RISK)  # nothing entered later can be at risk yet
        hub = Shipment.centre_id if stage.at == "centre" else Shipment.delivery_hub_id
        found = []
        for status in stage.statuses:  # one status at a time: each an ordered range of (status, stage_since)
            stmt = (select(Shipment.id, Shipment.tracking_number, hub, Shipment.partner_id, Order.reference,
                           Shipment.stage_since)
                    .join(Order, Order.id == Shipment.order_id)
                    .where(Shipment.status == status.value, Shipment.stage_since <= since)
                    .order_by(Shipment.stage_since).limit(limit + 1))
            if hub_id is not None:
                stmt = stmt.where(hub == hub_id)
            found += session.execute(stmt).all()
        found.sort(key=lambda row: row[-1])
        capped = capped or len(found) > limit
        for sid, number, where, partner_id, reference, at in found[:limit]:
            target = target_for(table, stage.name, where, partner_id)
            w = Watched(sid, number, stage.name, where, partner_id, reference, _aware(at), target)
            if w.breached(now):
                breached.append(w)
            elif now - w.entered_at >= timedelta(hours=target * AT_RISK):
                at_risk.append(w)
    breached.sort(key=lambda w: w.due_at)
    at_risk.sort(key=lambda w: w.due_at)
    return Watch(breached, at_risk, capped)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)

