"""The return leg: a parcel that failed its attempts goes back to its shop on a driver's
sheet, the shop signs for it on the phone, the return fee is charged, the partner's
webhook says so and the shipment closes; or the shop collects it at the counter."""
import re
import uuid

from sqlalchemy import select

from app import clock
from app.auth.models import AuditEntry
from app.auth.services import create_user
from app.billing.models import Charge
from app.delivery import planning
from app.delivery import services as delivery
from app.delivery.models import ProofOfDelivery, RunSheetStop
from app.orders.models import Shipment
from app.outbox import OutboxMessage
from tests.auth.conftest import PASSWORD, sign_in
from tests.delivery.test_attempts import out_for_delivery
from tests.driver.test_driver_pages import SVG, _send


def _returning(session, partner, n=1):
    """Parcels that failed every attempt and are on their way back to the shop."""
    ids = out_for_delivery(session, partner, n)
    for sid in ids:
        for attempt in range(3):
            if attempt:
                shipment = session.get(Shipment, sid)
                planning.plan_run_sheets(session, shipment.delivery_hub_id, clock.today(), pickups=False, only=[sid])
                for sheet in planning.sheets_of_day(session, shipment.delivery_hub_id, clock.today(), status="planned"):
                    planning.dispatch_run_sheet(session, sheet.id, actor="u")
            delivery.fail_attempt(session, sid, "not_home", driver_id=None, actor="d")
    delivery.return_exhausted(session)
    session.commit()
    assert {session.get(Shipment, sid).status for sid in ids} == {"returning_to_sender"}
    return ids


def test_a_driver_hands_a_return_back_and_the_shop_signs(client, users, session, partner):
    from workers.jobs import run_pending

    with client.application.app_context():
        [sid] = _returning(session, partner)
        hub = session.get(Shipment, sid).delivery_hub_id
        drivers = delivery.drivers_of(session, hub)
        for d in drivers[1:]:
            d.active = False
        [sheet] = planning.plan_run_sheets(session, hub, clock.today())
        stop = session.scalars(select(RunSheetStop).where(RunSheetStop.shipment_id == sid,
                                                          RunSheetStop.kind == "return")).one()
        assert stop.kind == "return" and stop.run_sheet_id == sheet.id
        done = planning.dispatch_run_sheet(session, sheet.id, actor="user:1")
        assert done.sent >= 1 and session.get(Shipment, sid).status == "returning_to_sender"
        create_user(session, "back@test.example", role="driver", password=PASSWORD, driver_id=drivers[0].id)
        session.commit()
        number = session.get(Shipment, sid).tracking_number
    sign_in(client, "back@test.example")
    page = client.get("/driver/").get_data(as_text=True)
    assert f"Return {number} to {partner.name}" in page and "Handed back to the shop" in page
    action = {"id": str(uuid.uuid4()), "type": "return", "shipment_id": sid, "received_by": "Minh, shop manager",
              "signature_svg": SVG}
    [result] = _send(client, [action]).get_json()["results"]
    assert result["ok"] and result["message"] == "handed back to the shop"
    assert _send(client, [action]).get_json()["results"][0]["duplicate"]  # sent again: nothing more
    with client.application.app_context():
        run_pending()
    session.expire_all()
    assert session.get(Shipment, sid).status == "closed"
    fees = {c.kind: c for c in session.scalars(select(Charge).where(Charge.shipment_id == sid))}
    # The return fee, and the failed attempts before it, from the card the order was quoted on
    # (12,000 and 5,000 an attempt, VAT 8 %).
    attempts = session.get(Shipment, sid).failed_attempts
    assert attempts >= 1 and set(fees) == {"return_fee", "failed_attempt_fee"}
    assert fees["return_fee"].amount == 12_960 and fees["failed_attempt_fee"].amount == 5_400 * attempts
    proof = session.scalars(select(ProofOfDelivery).where(ProofOfDelivery.shipment_id == sid)).one()
    assert (proof.recipient_name, proof.relation, proof.signature_svg) == ("Minh, shop manager", "shop", SVG)
    topics = {(m.topic, (m.payload or {}).get("seq")) for m in session.scalars(
        select(OutboxMessage).where(OutboxMessage.shipment_id == sid))}
    assert ("collect_fees", None) in topics
    page = client.get("/driver/").get_data(as_text=True)
    assert re.search(rf'id="row-{stop.id}"[^>]*class="[^"]*done|class="stop done" id="row-{stop.id}"', page)


def test_the_shop_collects_a_return_at_the_counter(client, users, session, partner):
    with client.application.app_context():
        [sid] = _returning(session, partner)
    sign_in(client, "disp@test.example")
    path = f"/console/shipments/{sid}"
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert 'id="hand-back"' in page
    client.post(f"{path}/hand-back", data={"received_by": "", "csrf_token": token})
    assert "Not handed back: the name of who took it back" in client.get(path).get_data(as_text=True)
    client.post(f"{path}/hand-back", data={"received_by": "Minh", "csrf_token": token})
    session.expire_all()
    assert session.get(Shipment, sid).status == "returned"
    assert session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(sid))).all() == [
        "shipment.returned"]
