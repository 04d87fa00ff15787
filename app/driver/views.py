"""The driver's pages. Sign-in lands here; the run sheet, pickups and deliveries are the
driver-pages issue's."""
from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_login import current_user, login_required

from app.db import db
from app.delivery.models import Driver

bp = Blueprint("driver", __name__, url_prefix="/driver", template_folder="templates")


@bp.before_request
@login_required
def _drivers_only():
    if current_user.role != "driver":
        abort(403)


@bp.get("/")
def home():
    return render_template("driver/home.html", driver=db.session.get(Driver, current_user.driver_id))
