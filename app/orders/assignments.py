"""A shipment's place in the day's work: its pickup run, line-haul trip and run sheet, the
day it may not be delivered before, and the code its customer tells the driver.

``app/orders`` is the only writer of the ``shipments`` table: the lifecycle
(``shipments.transition``) writes its status and history, and the services here the
assignments that hubs and delivery make. Each write bumps the row's version counter, the
bulk ones too, so that a change made from a stale copy of the shipment fails instead of
undoing this one. They flush nothing themselves; the caller's flush or commit does.
"""
from __future__ import annotations

import secrets
from datetime import date
from typing import Iterable

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.orders.feed import note_changed
from app.orders.models import Shipment


def put_on_pickup_run(shipment: Shipment, run_id: int) -> None:
    shipment.pickup_run_id = run_id


def put_on_trip(shipment: Shipment, trip_id: int) -> None:
    shipment.linehaul_trip_id = trip_id


def put_on_run_sheet(session: Session, shipment_ids: Iterable[int], sheet_id: int) -> None:
    """The shipments are now on that run sheet."""
    _bulk(session, Shipment.id.in_(list(shipment_ids)), run_sheet_id=sheet_id)


def take_off_run_sheets(session: Session, sheet_ids: Iterable[int]) -> None:
    """Every shipment on those run sheets is on none (the sheets are being taken apart)."""
    _bulk(session, Shipment.run_sheet_id.in_(list(sheet_ids)), run_sheet_id=None)


def take_off_run_sheet(shipment: Shipment) -> None:
    shipment.run_sheet_id = None


def hold_back_until(shipment: Shipment, day: date) -> None:
    """Not to be delivered before ``day`` (the customer asked)."""
    shipment.not_before = day


def give_delivery_code(shipment: Shipment) -> str:
    """The one-time code the customer tells the driver; made once, kept after."""
    if not shipment.delivery_code:
        shipment.delivery_code = f"{secrets.randbelow(1_000_000):06d}"
    return shipment.delivery_code


def _bulk(session: Session, where, **values) -> None:
    changed = session.execute(update(Shipment).where(where).values(**values, version=Shipment.version + 1)
                              .returning(Shipment.id, Shipment.version)
                              .execution_options(synchronize_session="fetch"))
    note_changed(session, changed.all())
