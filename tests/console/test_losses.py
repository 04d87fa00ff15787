"""A parcel on hold is declared lost or damaged from the console, with a reason and a
photo: the lifecycle ends it (the partner's webhook says so), its declared value is owed
as a claim, and the audit log has it."""
import io
import re

from PIL import Image
from sqlalchemy import select

from app.auth.models import AuditEntry
from app.billing.models import Claim
from app.orders.models import Shipment
from app.orders.shipments import history, transition
from app.orders.intake import ParcelIn
from tests.auth.conftest import sign_in
from tests.factories import create, order_in


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 60, 20)).save(out, "JPEG")
    return out.getvalue()


def test_a_dispatcher_declares_a_held_parcel_damaged_and_a_claim_is_owed(client, users, session, partner):
    with client.application.app_context():
        parcels = [ParcelIn(weight_grams=900, length_cm=20, width_cm=20, height_cm=10, declared_value_amount=400_000,
                            declared_value_currency="VND"),
                   ParcelIn(weight_grams=500, length_cm=10, width_cm=10, height_cm=10, declared_value_amount=100_000,
                            declared_value_currency="VND")]
        sid = create(session, partner, order_in("LOSS-1", parcels=parcels)).id
        session.commit()
    sign_in(client, "disp@test.example")
    path = f"/console/shipments/{sid}"
    assert 'id="declare-loss"' not in client.get(path).get_data(as_text=True)  # only a parcel on hold
    with client.application.app_context():
        transition(session, sid, "hold", actor="user:1", reason="box crushed at the centre")
        session.commit()
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post(f"{path}/declare-loss", data={"kind": "damaged", "reason": "", "csrf_token": token})
    assert "Not declared: say why" in client.get(path).get_data(as_text=True)
    r = client.post(f"{path}/declare-loss", data={"kind": "damaged", "reason": "crushed under a pallet",
                                                 "photo": (io.BytesIO(_jpeg()), "damage.jpg"), "csrf_token": token},
                    content_type="multipart/form-data")
    assert r.status_code == 302
    session.expire_all()
    assert session.get(Shipment, sid).status == "lost"
    claim = session.scalars(select(Claim)).one()
    assert (claim.kind, claim.amount, claim.currency, claim.status) == ("damaged", 500_000, "VND", "open")
    assert claim.evidence_ref and client.get(f"/console/photos/{claim.evidence_ref}").data == _jpeg()
    event = history(session, sid)[-1]
    assert (event.type, event.reason, event.data["kind"]) == ("lost", "crushed under a pallet", "damaged")
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(sid))).all() == [
        "shipment.declared_damaged"]
    page = client.get(path).get_data(as_text=True)
    assert "500,000 VND owed to the partner" in page


def test_a_hub_operator_cannot_declare_a_loss(client, users, session, partner):
    with client.application.app_context():
        sid = create(session, partner, order_in("LOSS-2")).id
        transition(session, sid, "hold", actor="user:1", reason="missing")
        session.commit()
    sign_in(client, "d7@test.example")
    r = client.post(f"/console/shipments/{sid}/declare-loss", data={"kind": "lost", "reason": "x",
                                                                    "csrf_token": "x"})
    assert r.status_code in (400, 403, 404)
    session.expire_all()
    assert session.get(Shipment, sid).status == "on_hold"
