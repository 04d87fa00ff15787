"""Console: people and fleet. Admins manage every login (create with a role and hub,
deactivate, reset a password, sign out everywhere); admins and hub operators (for their
own hub) onboard drivers with their login, vehicle, capacity and working days."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.auth import services as accounts
from app.auth.models import ROLES, User
from app.auth.web import ROLE_WORDS, roles_required
from app.console.acting import acting
from app.console.views import bp, hubs_by_id, scope_hub
from app.console.words import weekdays
from app.db import db
from app.delivery import services as delivery
from app.delivery.models import Driver
from app.forms import id_of




@bp.get("/people")
@roles_required("admin", "hub_operator")
def people():
    hub = scope_hub()
    users = list(db.session.scalars(select(User).order_by(User.role, User.email))) if not hub else []
    drivers = delivery.all_drivers(db.session, hub)
    logins = {u.driver_id: u for u in db.session.scalars(select(User).where(User.driver_id.is_not(None)))}
    sessions = {u.id: len(accounts.open_sessions(db.session, u.id)) for u in users}
    return render_template("console/people.html", users=users, drivers=drivers, logins=logins, sessions=sessions,
                           hubs=hubs_by_id(), roles=ROLES, weekdays=weekdays(), tz=clock.network_zone())


@bp.post("/people/users")
@roles_required("admin")
def create_login():
    form = request.form
    with acting(_("Not created"), accounts.AccountError) as act:
        user = accounts.create_user(db.session, form.get("email", ""), role=form.get("role", ""),
                                    password=form.get("password", ""), name=form.get("name", ""),
                                    hub_id=id_of(form.get("hub")))
        act.audit("user.created", "user", user.id, {"email": user.email, "role": user.role})
        act.said(_("%(email)s (%(role)s) can sign in.", email=user.email, role=ROLE_WORDS.get(user.role, user.role)))
    return redirect(url_for("console.people"))


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.post("/people/users/<id:user_id>/deactivate", defaults={"what": "deactivate"})
@bp.post("/people/users/<id:user_id>/activate", defaults={"what": "activate"})
@bp.post("/people/users/<id:user_id>/reset", defaults={"what": "reset"})
@bp.post("/people/users/<id:user_id>/sign-out", defaults={"what": "sign-out"})
@roles_required("admin")
def change_login(user_id: int, what: str):
    user = _user(user_id)
    if user.id == current_user.id and what == "deactivate":
        flash(_("You cannot deactivate yourself."))
        return redirect(url_for("console.people"))
    with acting(_("Not changed"), accounts.AccountError) as act:
        if what in ("deactivate", "activate"):
            accounts.set_active(db.session, user, what == "activate")
            act.said(_("%(email)s: active.", email=user.email) if user.active
                     else _("%(email)s: deactivated, signed out everywhere.", email=user.email))
        elif what == "reset":
            accounts.reset_password(db.session, user, request.form.get("password", ""))
            act.said(_("%(email)s: new password set; tell them in person. Signed out everywhere.", email=user.email))
        else:
            count = accounts.sign_out_everywhere(db.session, user)
            act.said(ngettext("%(email)s: signed out on %(num)s device.", "%(email)s: signed out on %(num)s devices.",
                              count, email=user.email))
        act.audit(f"user.{what.replace('-', '_')}", "user", user.id, {"email": user.email})
    return redirect(url_for("console.people"))


@bp.post("/people/drivers")
@roles_required("admin", "hub_operator")
def onboard_driver():
    """A new driver and their login, in one step: they sign in on their phone at once."""
    form = request.form
    hub_id = scope_hub() or id_of(form.get("hub"))
    if hub_id is None or hub_id not in hubs_by_id():
        flash(_("Not created: choose the driver's hub"))
        return redirect(url_for("console.people"))
    try:
        capacity = int(form.get("capacity", "40") or 40)
    except ValueError:
        capacity = 0
    with acting(_("Not created"), delivery.DeliveryError, accounts.AccountError) as act:
        driver = delivery.create_driver(db.session, name=form.get("name", ""), phone=form.get("phone", ""),
                                        hub_id=hub_id, capacity=capacity, vehicle=form.get("vehicle", ""),
                                        working_days="".join(form.getlist("days")))
        user = accounts.create_user(db.session, form.get("email", ""), role="driver", password=form.get("password", ""),
                                    name=driver.name, driver_id=driver.id)
        act.audit("driver.created", "driver", driver.id, {"name": driver.name, "hub": hub_id, "login": user.email})
        act.said(_("Driver %(name)s created; they sign in at /login as %(email)s.", name=driver.name, email=user.email))
    return redirect(url_for("console.people"))


@bp.post("/people/drivers/<id:driver_id>/deactivate", defaults={"what": "deactivate"})
@bp.post("/people/drivers/<id:driver_id>/activate", defaults={"what": "activate"})
@roles_required("admin", "hub_operator")
def change_driver(driver_id: int, what: str):
    driver = db.session.get(Driver, driver_id)
    if driver is None or (scope_hub() and driver.hub_id != scope_hub()):
        abort(404)
    with acting(_("Not changed")) as act:
        driver.active = what == "activate"
        login = db.session.scalars(select(User).where(User.driver_id == driver.id)).first()
        if login is not None:
            accounts.set_active(db.session, login, driver.active)
        act.audit(f"driver.{what}d", "driver", driver.id, {"name": driver.name})
        act.said(_("Driver %(name)s: active.", name=driver.name) if driver.active
                 else _("Driver %(name)s: deactivated; their login too.", name=driver.name))
    return redirect(url_for("console.people"))
