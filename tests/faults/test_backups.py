"""Back-ups proven by restoring them: a database with orders, their events, fees and their
ledger entries and a photo is backed up with the operator's command, restored into a new
database and folder, and every order, event and ledger entry is found again (the restore
checks them against the back-up's manifest, and this test reads them too). On a PostgreSQL
server of the test's own, and on SQLite."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from app import photos
from app.db import Base, db
from tests.conftest import make_test_app
from tests.pg_instance import PgInstance, binaries


def _fill(app) -> dict:
    """Orders delivered with a photo, their fees charged and posted; what was made."""
    from app import demo
    from app.crm.models import Partner
    from app.delivery.services import proof_for
    from app.orders.models import Order, ShipmentEvent
    from app.billing.models import JournalLine
    from tests.factories import deliver_direct
    from tests.console.test_losses import _jpeg
    from workers.jobs import run_pending

    with app.app_context():
        session = db.session
        Base.metadata.create_all(db.engine)
        demo.seed_network(session)
        session.commit()
        partner = session.scalars(select(Partner).order_by(Partner.id)).first()
        made = [deliver_direct(session, partner, f"BAK-{i}", cod=100_000) for i in range(3)]
        proof_for(session, made[0].id).photo_ref = photos.save_photo(_jpeg(), photos.photo_dir())
        session.commit()
        run_pending()
        counts = {"orders": session.query(Order).count(), "events": session.query(ShipmentEvent).count(),
                  "lines": session.query(JournalLine).count()}
        db.session.remove()
    assert counts["lines"] > 0
    return counts


def _backup_and_restore(source_app, target_url: str, tmp_path: Path) -> tuple[dict, Path]:
    made = source_app.test_cli_runner().invoke(args=["backup", "create", "--to", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    folder = Path(json.loads(made.output)["backup"])
    restored_photos = tmp_path / "restored-photos"
    target = make_test_app(target_url, WAYBILL_PHOTO_DIR=str(restored_photos))
    back = target.test_cli_runner().invoke(args=["backup", "restore", "--from", str(folder)])
    assert back.exit_code == 0, back.output
    return json.loads(back.output)["checked"], restored_photos


def _read(url: str) -> dict:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        found = {"orders": conn.execute(text("SELECT count(*) FROM orders")).scalar(),
                 "events": conn.execute(text("SELECT count(*) FROM shipment_events")).scalar(),
                 "lines": conn.execute(text("SELECT count(*) FROM journal_lines")).scalar(),
                 "balance": conn.execute(text("SELECT coalesce(sum(amount), 0) FROM journal_lines")).scalar(),
                 "photo": conn.execute(text("SELECT photo_ref FROM proofs_of_delivery "
                                            "WHERE photo_ref IS NOT NULL")).scalar()}
    engine.dispose()
    return found


@pytest.mark.skipif(binaries() is None, reason="PostgreSQL's initdb and pg_ctl are not installed")
def test_a_postgresql_backup_restores_into_a_new_database_whole(tmp_path):
    with PgInstance() as pg:
        app = make_test_app(pg.url, WAYBILL_PHOTO_DIR=str(tmp_path / "photos"))
        counts = _fill(app)
        admin = create_engine(pg.url.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("CREATE DATABASE restored"))
        admin.dispose()
        target_url = pg.url.rsplit("/", 1)[0] + "/restored"
        checked, restored_photos = _backup_and_restore(app, target_url, tmp_path)
        found = _read(target_url)
        with app.app_context():
            db.engine.dispose()
    assert checked["orders"]["rows"] == counts["orders"] == found["orders"] == 3
    assert found["events"] == counts["events"] and found["lines"] == counts["lines"] and found["balance"] == 0
    assert (restored_photos / found["photo"]).read_bytes()[:2] == b"\xff\xd8"  # the JPEG came back


def test_a_sqlite_backup_restores_whole_and_refuses_a_database_in_use(tmp_path):
    source = f"sqlite:///{tmp_path / 'live.db'}"
    app = make_test_app(source, WAYBILL_PHOTO_DIR=str(tmp_path / "photos"))
    counts = _fill(app)
    checked, restored_photos = _backup_and_restore(app, f"sqlite:///{tmp_path / 'restored.db'}", tmp_path)
    found = _read(f"sqlite:///{tmp_path / 'restored.db'}")
    assert checked["shipment_events"]["rows"] == counts["events"] == found["events"]
    assert found["lines"] == counts["lines"] and found["balance"] == 0
    assert (restored_photos / found["photo"]).is_file()
    # Restoring over a database that holds data is refused, not merged.
    again = make_test_app(source).test_cli_runner().invoke(
        args=["backup", "restore", "--from", str(next((tmp_path / "backups").iterdir()))])
    assert again.exit_code != 0 and "is not empty" in again.output
