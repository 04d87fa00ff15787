"""Photos people take (proof of delivery, a failed attempt, the damage on a parcel): JPEG or
PNG only, kept under WAYBILL_PHOTO_DIR (default: the instance folder's photos/)."""
from __future__ import annotations

import uuid
from pathlib import Path

from flask import current_app

from app import clock

#: Largest photo taken, after the phone has shrunk it.
MAX_PHOTO_BYTES = 2_000_000
JPEG, PNG = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


class PhotoError(ValueError):
    pass


def photo_dir() -> Path:
    return Path(current_app.config.get("WAYBILL_PHOTO_DIR") or Path(current_app.instance_path) / "photos")


def save_photo(body: bytes, folder: Path) -> str:
    """Keep a JPEG or PNG under ``folder``; returns its name (YYYY/MM/<random>.jpg)."""
    if len(body) > MAX_PHOTO_BYTES:
        raise PhotoError("the photo is too large")
    if body.startswith(JPEG):
        suffix = "jpg"
    elif body.startswith(PNG):
        suffix = "png"
    else:
        raise PhotoError("the photo must be a JPEG or PNG")
    name = f"{clock.now():%Y/%m}/{uuid.uuid4().hex}.{suffix}"
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return name
