"""Back-ups that are proven: the database (``pg_dump``'s custom format on PostgreSQL, SQLite's
online back-up otherwise) and the photo folder, with a manifest of what they hold — the
count and a checksum of the ids of every order, shipment event, journal entry and line. A
restore puts both back into an empty database and folder and checks them against the
manifest before saying it is done."""
from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import clock
from app.db import normalise_url

#: What a restore must find again, table by table: every row, by its id.
CHECKED = ("orders", "shipments", "shipment_events", "journal_entries", "journal_lines", "charges",
           "cod_collections", "proofs_of_delivery")


class BackupError(RuntimeError):
    """A back-up or restore that could not be made or does not hold what it should."""


@dataclass
class Backup:
    directory: Path
    database: Path
    photos: Path
    manifest: dict


def _libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def inventory(url: str) -> dict[str, dict]:
    """Per checked table: its rows and a checksum of their ids (what a restore must match)."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            out = {}
            for table in CHECKED:
                ids = [row[0] for row in conn.execute(text(f"SELECT id FROM {table} ORDER BY id"))]
                out[table] = {"rows": len(ids), "ids_sha256": hashlib.sha256(
                    ",".join(map(str, ids)).encode()).hexdigest()}
            return out
    finally:
        engine.dispose()


def create(url: str, photo_dir: Path, target: Path) -> Backup:
    """Back up the database at ``url`` and the photos into a new folder under ``target``."""
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    directory = target / f"waybill-{stamp}"
    directory.mkdir(parents=True, exist_ok=False)
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() == "postgresql":
        database = directory / "database.dump"
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(database), _libpq(url)])
    else:
        database = directory / "database.sqlite"
        source = sqlite3.connect(parsed.database)
        try:
            with sqlite3.connect(database) as copy:
                source.backup(copy)  # a consistent copy while the app keeps writing
        finally:
            source.close()
    photos = directory / "photos.tar.gz"
    with tarfile.open(photos, "w:gz") as archive:
        if photo_dir.exists():
            archive.add(photo_dir, arcname="photos")
    manifest = {"made_at": clock.now().isoformat(), "backend": parsed.get_backend_name(),
                "tables": inventory(url),
                "photos": sorted(str(p.relative_to(photo_dir)) for p in photo_dir.rglob("*") if p.is_file())
                if photo_dir.exists() else []}
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return Backup(directory, database, photos, manifest)


def restore(directory: Path, url: str, photo_dir: Path) -> dict:
    """Put a back-up into the empty database at ``url`` and the photo folder, then check
    them against its manifest. Returns the manifest's tables. Raises BackupError."""
    manifest = json.loads((directory / "manifest.json").read_text())
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != manifest["backend"]:
        raise BackupError(f"the back-up is of a {manifest['backend']} database")
    if parsed.get_backend_name() == "postgresql":
        _run(["pg_restore", "--no-owner", "--exit-on-error", "--dbname", _libpq(url),
              str(directory / "database.dump")])
    else:
        target = Path(parsed.database)
        if target.exists() and target.stat().st_size:
            raise BackupError(f"{target} is not empty: restore into a new database")
        shutil.copyfile(directory / "database.sqlite", target)
    photo_dir.mkdir(parents=True, exist_ok=True)
    with tarfile.open(directory / "photos.tar.gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith("photos/") or ".." in Path(member.name).parts:
                continue
            destination = photo_dir / Path(member.name).relative_to("photos")
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as src, open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst)
    found = inventory(url)
    if found != manifest["tables"]:
        wrong = [t for t in CHECKED if found.get(t) != manifest["tables"].get(t)]
        raise BackupError(f"the restored database differs from the back-up in: {', '.join(wrong)}")
    missing = [p for p in manifest["photos"] if not (photo_dir / p).is_file()]
    if missing:
        raise BackupError(f"{len(missing)} photos did not come back, e.g. {missing[0]}")
    return manifest["tables"]


def _run(command: list[str]) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(f"{command[0]} is not installed (PostgreSQL's client programs)")
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-500:]}")
