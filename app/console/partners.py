"""Console: partners. Admins and account managers add a partner (its first API key shown
once, on the answer to the form, never stored), issue and revoke keys, turn the one-time
delivery code on or off, and see its pickup places (windows are set on the pickup plan)."""
from __future__ import annotations

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from app import clock
from app.auth.web import roles_required
from app.console.acting import acting
from app.console.views import bp
from app.crm import services as crm
from app.crm.models import Partner
from app.db import db

PARTNER_ROLES = ("admin", "account_manager")


def _page(new_key: tuple[str, str] | None = None, status: int = 200):
    partners = crm.all_partners(db.session)
    return render_template(
        "console/partners.html", partners=partners, new_key=new_key, tz=clock.network_zone(),
        keys={p.id: crm.api_keys_of(db.session, p.id) for p in partners},
        places={p.id: crm.pickup_locations_of(db.session, p.id) for p in partners}), status


@bp.get("/partners")
@roles_required(*PARTNER_ROLES)
def partners():
    return _page()


@bp.post("/partners")
@roles_required(*PARTNER_ROLES)
def create_partner():
    name, email = request.form.get("name", ""), request.form.get("email", "").strip() or None
    made = None
    with acting(_("Not added"), ValueError) as act:
        partner = crm.create_partner(db.session, name, currency=current_app.config["WAYBILL_CURRENCY"])
        partner.contact_email = email
        record, key = crm.issue_api_key(db.session, partner)
        act.audit("partner.created", "partner", partner.id, {"name": partner.name, "key": record.prefix})
        made = (partner.name, key)
    if made is None:
        return redirect(url_for("console.partners"))
    return _page(new_key=made, status=201)  # shown once, here, and nowhere else


def _partner(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


@bp.post("/partners/<id:partner_id>/keys")
@roles_required(*PARTNER_ROLES)
def issue_key(partner_id: int):
    partner = _partner(partner_id)
    with acting(_("Not issued")) as act:
        record, key = crm.issue_api_key(db.session, partner)
        act.audit("partner.key_issued", "partner", partner.id, {"key": record.prefix})
    return _page(new_key=(partner.name, key), status=201)


@bp.post("/partners/<id:partner_id>/keys/revoke")
@roles_required(*PARTNER_ROLES)
def revoke_key(partner_id: int):
    partner = _partner(partner_id)
    prefix = request.form.get("prefix", "")
    with acting(_("Not revoked"), LookupError) as act:
        crm.revoke_api_key(db.session, prefix, partner_id=partner.id)
        act.audit("partner.key_revoked", "partner", partner.id, {"key": prefix})
        act.said(_("Key %(prefix)s revoked: requests with it are refused within seconds.", prefix=prefix))
    return redirect(url_for("console.partners"))


@bp.post("/partners/<id:partner_id>/delivery-code")
@roles_required(*PARTNER_ROLES)
def delivery_code(partner_id: int):
    partner = _partner(partner_id)
    with acting(_("Not changed")) as act:
        partner.delivery_code_required = request.form.get("required") == "on"
        act.audit("partner.delivery_code", "partner", partner.id, {"required": partner.delivery_code_required})
        act.said(_("%(name)s: customers give the driver a one-time code.", name=partner.name)
                 if partner.delivery_code_required
                 else _("%(name)s: customers no longer give the driver a one-time code.", name=partner.name))
    return redirect(url_for("console.partners"))
