"""Console: an order taken by phone. A dispatcher types it for a partner; it goes through
the same intake service and rules as the API. Sending the form twice (a double click, a
reload) gives the same order, not a second one or an error."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user

from app import clock
from app.auth import services as accounts
from app.auth.web import roles_required
from app.billing.rating import SERVICE_LEVELS
from app.console.views import bp
from app.crm import services as crm
from app.crm.models import Partner
from app.db import db
from app.forms import id_of
from app.orders import shipments
from app.orders.intake import AddressIn, ContactIn, IntakeError, OrderIn, ParcelIn, create_order, locate

#: A second submission of the same reference by the same person this soon is the same order.
SAME_SUBMISSION = timedelta(minutes=10)
FIELD_WORDS = {"dropoff": "Customer", "pickup": "Pickup", "parcels[0]": "Parcel", "cod": "Cash on delivery"}


def _number(value: str) -> int | float | None:
    value = (value or "").strip().replace(",", "")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)  # refused by the rules with the field named (not whole)
        except ValueError:
            return -1


def _contact(form, side: str) -> ContactIn:
    lat, lon = _number(form.get(f"{side}_lat")), _number(form.get(f"{side}_lon"))
    return ContactIn(name=form.get(f"{side}_name", "").strip(), phone=form.get(f"{side}_phone", "").strip(),
                     email=form.get(f"{side}_email", "").strip() or None,
                     address=AddressIn(line1=form.get(f"{side}_line1", "").strip(),
                                       district=form.get(f"{side}_district", "").strip(),
                                       city=form.get(f"{side}_city", "").strip(), country="VN",
                                       lat=lat if lat != -1 else None, lon=lon if lon != -1 else None))


def _words(error: dict) -> str:
    field = error["field"]
    for key, word in FIELD_WORDS.items():
        if field.startswith(key):
            rest = field[len(key):].strip(".").replace("address.", "").replace("_", " ")
            return f"{word} {rest}: {error['message']}".replace("  ", " ")
    return f"{field.replace('_', ' ')}: {error['message']}"


@bp.route("/orders/new", methods=["GET", "POST"])
@roles_required("admin", "dispatcher")
def new_order():
    partners = crm.active_partners(db.session)
    form, errors = request.form, []
    if request.method == "POST":
        partner = db.session.get(Partner, id_of(request.form.get("partner")) or 0)
        if partner is None:
            abort(400, description="choose the partner the order is for")
        weight = _number(form.get("weight_grams"))
        dims = [_number(form.get(n)) for n in ("length_cm", "width_cm", "height_cm")]
        cod = _number(form.get("cod_amount")) or 0
        order = OrderIn(reference=form.get("reference", "").strip(), service_level=form.get("service_level", ""),
                        pickup=_contact(form, "pickup"), dropoff=_contact(form, "dropoff"),
                        parcels=[ParcelIn(weight_grams=weight, length_cm=dims[0], width_cm=dims[1],
                                          height_cm=dims[2])],
                        cod_amount=cod, cod_currency=partner.currency if cod else None)
        actor = f"user:{current_user.id}"
        db.session.commit()  # the reads end here: no transaction is open while the geocoder works
        locate([order])
        try:
            created = create_order(db.session, partner, order, actor=actor)
        except IntakeError as exc:
            db.session.rollback()
            same = shipments.created_by(db.session, partner.id, order.reference)
            if same and same[1] == actor and clock.now() - same[2] < SAME_SUBMISSION:
                return redirect(url_for("console.shipment", shipment_id=same[0]))  # the form sent twice
            errors = [_words(e) for e in exc.errors]
        else:
            accounts.audit(db.session, current_user, "order.created", object_type="shipment",
                           object_id=created.shipment_id,
                           details={"partner": partner.name, "reference": created.reference, "by": "phone"},
                           ip=request.remote_addr)
            db.session.commit()
            flash(_("Order %(reference)s taken: %(number)s, fee %(fee)s, promised %(day)s.", reference=created.reference,
                    number=created.tracking_number, fee=created.quote,
                    day=format_date(created.promised_date, "EEE dd MMM")))
            return redirect(url_for("console.shipment", shipment_id=created.shipment_id))
    return render_template("console/order_new.html", partners=partners, form=form, errors=errors,
                           levels=SERVICE_LEVELS), 422 if errors else 200
