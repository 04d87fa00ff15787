"""Console: partners. Admins and account managers add a partner (its first API key shown
once, on the answer to the form, never stored), issue and revoke keys, turn the one-time
delivery code on or off, and see its pickup places (windows are set on the pickup plan)."""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from app import clock
from app.auth import services as accounts
from app.auth.web import roles_required
from app.console.views import bp
from app.crm import services as crm
from app.crm.models import Partner
from app.db import db

PARTNER_ROLES = ("admin", "account_manager")


def _audit(action: str, partner: Partner, details: dict | None = None) -> None:
    accounts.audit(db.session, current_user, action, object_type="partner", object_id=partner.id,
                   details=details, ip=request.remote_addr)


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
    try:
        partner = crm.create_partner(db.session, name, currency=current_app.config["WAYBILL_CURRENCY"])
        partner.contact_email = email
        record, key = crm.issue_api_key(db.session, partner)
    except ValueError as exc:
        db.session.rollback()
        flash(f"Not added: {exc}")
        return redirect(url_for("console.partners"))
    _audit("partner.created", partner, {"name": partner.name, "key": record.prefix})
    db.session.commit()
    return _page(new_key=(partner.name, key), status=201)  # shown once, here, and nowhere else


def _partner(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


@bp.post("/partners/<id:partner_id>/keys")
@roles_required(*PARTNER_ROLES)
def issue_key(partner_id: int):
    partner = _partner(partner_id)
    record, key = crm.issue_api_key(db.session, partner)
    _audit("partner.key_issued", partner, {"key": record.prefix})
    db.session.commit()
    return _page(new_key=(partner.name, key), status=201)


@bp.post("/partners/<id:partner_id>/keys/revoke")
@roles_required(*PARTNER_ROLES)
def revoke_key(partner_id: int):
    partner = _partner(partner_id)
    prefix = request.form.get("prefix", "")
    try:
        crm.revoke_api_key(db.session, prefix, partner_id=partner.id)
    except LookupError as exc:
        db.session.rollback()
        flash(f"Not revoked: {exc}")
    else:
        _audit("partner.key_revoked", partner, {"key": prefix})
        db.session.commit()
        flash(f"Key {prefix} revoked: requests with it are refused within seconds.")
    return redirect(url_for("console.partners"))


@bp.post("/partners/<id:partner_id>/delivery-code")
@roles_required(*PARTNER_ROLES)
def delivery_code(partner_id: int):
    partner = _partner(partner_id)
    partner.delivery_code_required = request.form.get("required") == "on"
    _audit("partner.delivery_code", partner, {"required": partner.delivery_code_required})
    db.session.commit()
    flash(f"{partner.name}: customers {'give' if partner.delivery_code_required else 'no longer give'} "
          "the driver a one-time code.")
    return redirect(url_for("console.partners"))
