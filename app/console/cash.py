"""Console: drivers' cash handed over at a hub, counted by the hub operator."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import clock
from app.auth.web import roles_required
from app.billing import cash
from app.console.acting import acting
from app.console.views import bp, format_money, hub_for_work
from app.db import db
from app.delivery.models import Driver

CASH_ROLES = ("admin", "dispatcher", "hub_operator", "finance")


@bp.get("/hubs/<id:hub_id>/cash")
@roles_required(*CASH_ROLES)
def hub_cash(hub_id: int):
    hub = hub_for_work(hub_id)
    handovers = cash.handovers_of(db.session, hub_id=hub.id)
    drivers = {d.id: d for d in db.session.query(Driver).filter(Driver.id.in_({h.driver_id for h in handovers}))}
    return render_template("console/cash.html", hub=hub, handovers=handovers, drivers=drivers, today=clock.today())


def _cash_words(exc: Exception) -> str:
    return str(exc) if isinstance(exc, cash.CashError) else "a whole number, please"


@bp.post("/hubs/<id:hub_id>/cash/<id:handover_id>")
@roles_required(*CASH_ROLES)
def confirm_cash(hub_id: int, handover_id: int):
    hub = hub_for_work(hub_id)
    with acting(_("Not recorded"), ValueError, cash.CashError, words=_cash_words) as act:
        received = int(request.form.get("received", "").replace(",", "").strip())
        handover = cash.confirm(db.session, handover_id, received, user_id=current_user.id, hub_id=hub.id,
                                note=request.form.get("note"))
        act.audit("cash.counted", "cash_handover", handover.id, {
            "received": received, "expected": handover.expected_amount, "difference": handover.difference})
        act.said(_("Counted: difference %(amount)s.", amount=format_money(handover.difference, handover.currency))
                 if handover.difference else _("Counted: it matches."))
    return redirect(url_for("console.hub_cash", hub_id=hub.id))
