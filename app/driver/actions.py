"""What a driver's phone sends: a batch of actions, each with an id the phone made.

An action is a delivery (with its proof and the cash taken), a failed attempt (with a
reason code) or a pickup (the parcels scanned at the retailer). The batch may be one the
phone kept while it was offline, or the same batch sent again because the answer was
lost: an action whose id has been recorded is answered as before and changes nothing.
Each action is checked on its own (a bad one does not hold back the rest) and only
against the driver's own run sheets: another driver's stop is "not on your run sheet".
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import clock
from app.delivery import services as delivery
from app.db import MAX_ID
from app.orders.order_in import MAX_AMOUNT
from app.delivery.models import DeliveryAttempt, PickupRun, RunSheet, RunSheetStop
from app.delivery.services import AttemptIn, DeliveryError, ProofIn
from app.orders import shipments
from app.orders.lifecycle import Status, TransitionError
from app.orders.models import Shipment, ShipmentEvent
from app.photos import PhotoError, save_photo

#: Most actions in one request (a day's work fits).
MAX_BATCH = 200
#: A device clock further off than this is not believed (the server's time is kept too).
CLOCK_SKEW = timedelta(days=2)


class ActionError(ValueError):
    """An action refused, with a message for the driver."""


class _WrongCode(ActionError):
    def __init__(self, refusal: shipments.DeliveryCodeRefused, shipment_id: int):
        super().__init__(str(refusal))
        self.refusal, self.shipment_id = refusal, shipment_id


@dataclass
class Outcome:
    id: str
    ok: bool
    message: str = ""
    duplicate: bool = False

    def as_dict(self) -> dict:
        return {"id": self.id, "ok": self.ok, "message": self.message, "duplicate": self.duplicate}


def record(session: Session, driver_id: int, actions: list, *, actor: str, photo_dir: Path) -> list[Outcome]:
    """Record a batch from the phone; one outcome per action, in order. Commits nothing:
    the caller commits once."""
    if not isinstance(actions, list) or len(actions) > MAX_BATCH:
        raise ActionError(f"actions: a list of at most {MAX_BATCH}")
    outcomes = []
    for raw in actions:
        action_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
        try:
            if not 8 <= len(action_id) <= 64:
                raise ActionError("each action needs the id the phone made (8 to 64 characters)")
            with session.begin_nested():  # a refused action leaves nothing behind
                outcomes.append(_one(session, driver_id, raw, action_id, actor=actor, photo_dir=photo_dir))
        except _WrongCode as exc:  # the wrong try counts, though the delivery was undone
            outcomes.append(Outcome(action_id, False, delivery.count_wrong_code(session, exc.shipment_id, exc.refusal)))
        except (ActionError, DeliveryError, TransitionError, LookupError) as exc:
            outcomes.append(Outcome(action_id, False, str(exc)))
    return outcomes


def _one(session, driver_id, raw: dict, action_id: str, *, actor: str, photo_dir: Path) -> Outcome:
    kind = raw.get("type")
    if kind == "pickup":
        return _pickup(session, driver_id, raw, action_id, actor=actor)
    if kind not in ("deliver", "fail", "return"):
        raise ActionError("type must be deliver, fail, pickup or return")
    shipment_id = _own_shipment(session, driver_id, raw.get("shipment_id"))
    seen = session.scalars(select(ShipmentEvent).where(ShipmentEvent.client_event_id == action_id)).first()
    if seen is not None:  # sent before: the first answer stands, nothing is written again
        if seen.shipment_id != shipment_id:
            raise ActionError("this action id was used for another parcel")
        return Outcome(action_id, True, "already recorded", duplicate=True)
    at = _device_time(raw.get("captured_at"))
    lat, lon = _position(raw)
    if kind == "return":
        result = delivery.hand_back(session, shipment_id, received_by=str(raw.get("received_by") or "")[:200],
                                    signature_svg=str(raw["signature_svg"]) if raw.get("signature_svg") else None,
                                    driver_id=driver_id, actor=actor, client_event_id=action_id, device_time=at,
                                    lat=lat, lon=lon)
        return Outcome(action_id, True, "handed back to the shop" if result.applied else "recorded late")
    photo = _save_photo(raw.get("photo"), photo_dir) if raw.get("photo") else None
    if kind == "deliver":
        cod_method = raw.get("cod_method") or None
        attempt = AttemptIn(shipment_id, client_event_id=action_id, device_time=at, lat=lat, lon=lon, proof=ProofIn(
            recipient_name=str(raw.get("recipient_name") or "")[:200], relation=str(raw.get("relation") or ""),
            captured_at=at, signature_svg=str(raw["signature_svg"]) if raw.get("signature_svg") else None, photo_ref=photo, lat=lat, lon=lon,
            cod_received_amount=_amount(raw.get("cod_received")), cod_method=cod_method,
            cod_difference_reason=str(raw.get("cod_difference_reason") or "")[:200] or None,
            delivery_code=str(raw.get("delivery_code") or "")[:20] or None))
    else:
        attempt = AttemptIn(shipment_id, reason_code=str(raw.get("reason") or ""), client_event_id=action_id,
                            note=str(raw.get("note") or "").strip()[:500] or None, photo_ref=photo,
                            device_time=at, lat=lat, lon=lon)
    [result] = delivery.record_attempts(session, [attempt], driver_id=driver_id, actor=actor)
    if isinstance(result, shipments.DeliveryCodeRefused):
        raise _WrongCode(result, shipment_id)
    if isinstance(result, Exception):
        raise result
    return Outcome(action_id, True, "delivered" if kind == "deliver" else "failed attempt recorded")


def _own_shipment(session, driver_id: int, shipment_id) -> int:
    if not isinstance(shipment_id, int) or isinstance(shipment_id, bool) or not 0 < shipment_id <= MAX_ID:
        raise ActionError("shipment_id: the number of a parcel on your run sheet")
    mine = session.scalar(select(Shipment.id).join(RunSheet, RunSheet.id == Shipment.run_sheet_id).where(
        Shipment.id == shipment_id, RunSheet.driver_id == driver_id))
    if mine is None:
        raise LookupError("not on your run sheet")
    return mine


def _pickup(session, driver_id: int, raw: dict, action_id: str, *, actor: str) -> Outcome:
    run_id = raw.get("pickup_run_id")
    run = session.get(PickupRun, run_id) if isinstance(run_id, int) and 0 < run_id <= MAX_ID else None
    if run is None or run.driver_id != driver_id:
        raise LookupError("not on your run sheet")
    if run.status != "planned":  # confirmed before: the same action sent again
        return Outcome(action_id, True, "already recorded", duplicate=True)
    scanned = {str(n).strip().upper() for n in raw.get("scanned") or []}
    expected = dict(session.execute(select(Shipment.tracking_number, Shipment.id).where(
        Shipment.pickup_run_id == run.id, Shipment.status == Status.PICKUP_SCHEDULED)).all())
    unknown = sorted(scanned - set(expected))
    if unknown:
        raise ActionError(f"not expected at this pickup: {', '.join(unknown)}")
    if not scanned:
        raise ActionError("scan at least one parcel, or report the pickup to the dispatcher")
    count = delivery.confirm_pickup(session, run, actor=actor, shipment_ids=[expected[n] for n in sorted(scanned)])
    left = len(expected) - count
    return Outcome(action_id, True, f"{count} picked up" + (f", {left} left for another pickup" if left else ""))


def _device_time(value) -> datetime:
    now = clock.now()
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return now
    if at.tzinfo is None or abs(at - now) > CLOCK_SKEW:
        return now
    return at.astimezone(timezone.utc)


def _position(raw: dict) -> tuple[float | None, float | None]:
    lat, lon = raw.get("lat"), raw.get("lon")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)) and -90 <= lat <= 90 and -180 <= lon <= 180:
        return float(lat), float(lon)
    return None, None


def _amount(value) -> int:
    if value in (None, ""):
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_AMOUNT:
        raise ActionError("cod_received: a whole number of the currency's minor units")
    return value


def _save_photo(data_url, photo_dir: Path) -> str:
    """A JPEG or PNG sent as a data URL, kept under ``photo_dir``; returns its name."""
    header, _, payload = str(data_url).partition(",")
    if header not in ("data:image/jpeg;base64", "data:image/png;base64"):
        raise ActionError("the photo must be a JPEG or PNG")
    try:
        body = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ActionError("the photo is not valid base64") from None
    try:
        return save_photo(body, photo_dir)
    except PhotoError as exc:
        raise ActionError(str(exc)) from None


def stops_done(session: Session, sheet_ids: list[int]) -> set[int]:
    """The stops of these sheets already worked: a delivery attempted on its sheet, a
    pickup confirmed."""
    if not sheet_ids:
        return set()
    rows = session.execute(
        select(RunSheetStop.id).outerjoin(DeliveryAttempt, (DeliveryAttempt.shipment_id == RunSheetStop.shipment_id)
                                          & (DeliveryAttempt.run_sheet_id == RunSheetStop.run_sheet_id))
        .outerjoin(PickupRun, PickupRun.id == RunSheetStop.pickup_run_id)
        .outerjoin(Shipment, (Shipment.id == RunSheetStop.shipment_id) & (RunSheetStop.kind == "return"))
        .where(RunSheetStop.run_sheet_id.in_(sheet_ids),
               (DeliveryAttempt.id.is_not(None)) | (PickupRun.status == "completed")
               | Shipment.status.in_([Status.RETURNED, Status.CLOSED])))
    return {r for r, in rows}

