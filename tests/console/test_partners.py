"""Partners from the console: added with a first API key shown once (never stored), keys
issued and revoked, the delivery code turned on; account managers and admins only."""
import re

from sqlalchemy import select

from app.auth.models import AuditEntry
from app.crm.models import ApiKey, Partner
from tests.auth.conftest import sign_in


def _token(client):
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/console/partners").get_data(as_text=True)).group(1)


def test_an_account_manager_adds_a_partner_whose_key_works_once_shown(client, users, session):
    from app.auth.services import create_user

    with client.application.app_context():
        create_user(session, "am@test.example", role="account_manager", password="correct horse battery")
        session.commit()
    sign_in(client, "am@test.example", "correct horse battery")
    r = client.post("/console/partners", data={"name": "Lotus Mart", "email": "dev@lotus.example",
                                               "csrf_token": _token(client)})
    assert r.status_code == 201
    key = re.search(r"<code>(wbk_[^<]+)</code>", r.get_data(as_text=True)).group(1)
    assert client.application.test_client().get("/api/v1/hubs", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert key not in client.get("/console/partners").get_data(as_text=True)  # shown once
    partner = session.scalars(select(Partner).where(Partner.name == "Lotus Mart")).one()
    [record] = session.scalars(select(ApiKey).where(ApiKey.partner_id == partner.id)).all()
    assert key not in record.key_hash and key.startswith(record.prefix)
    client.post(f"/console/partners/{partner.id}/keys/revoke", data={"prefix": record.prefix,
                                                                     "csrf_token": _token(client)})
    session.expire_all()
    assert session.get(ApiKey, record.id).revoked_at is not None
    client.post(f"/console/partners/{partner.id}/delivery-code", data={"required": "on", "csrf_token": _token(client)})
    session.expire_all()
    assert session.get(Partner, partner.id).delivery_code_required
    actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "partner")))
    assert {"partner.created", "partner.key_revoked", "partner.delivery_code"} <= actions


def test_dispatchers_and_hub_operators_do_not_manage_partners(client, users):
    sign_in(client, "disp@test.example")
    assert client.get("/console/partners").status_code == 403
