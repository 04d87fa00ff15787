"""Console: rate cards and contracts, for finance. Every card in force and the next
version scheduled; a card's versions; a new version (of the default card, or a partner's
contract card) filled in from the one in force, previewed on a parcel before it is saved;
the fuel surcharge by month. Saving is audited; nothing is edited in place."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from app import clock
from app.auth.web import roles_required
from app.billing import cards
from app.billing.models import RateCard
from app.billing.rating import (
    LINES,
    SERVICE_LEVELS,
    CardError,
    Shipped,
    card_of,
    fuel_bp_on,
    lines_in_words,
)
from app.console.acting import acting
from app.console.finance import FINANCE_ROLES, partners_by_id
from app.console.views import bp
from app.crm.models import Partner
from app.db import db
from app.forms import day_of

#: Rows and columns the form offers: zones by distance, weight bands.
ZONE_ROWS, BAND_COLUMNS = 6, 8


@bp.get("/finance/rates")
@roles_required(*FINANCE_ROLES)
def rate_cards():
    today = clock.today()
    return render_template("console/rates.html", cards=cards.cards_on(db.session, today), partners=partners_by_id(),
                           fuel=cards.fuel_history(db.session), fuel_now=fuel_bp_on(db.session, today),
                           tomorrow=today + timedelta(days=1), levels=SERVICE_LEVELS)


@bp.get("/finance/rates/<id:card_id>")
@roles_required(*FINANCE_ROLES)
def rate_card(card_id: int):
    row = db.session.get(RateCard, card_id)
    if row is None:
        abort(404)
    history = cards.versions(db.session, partner_id=row.partner_id, service_level=row.service_level,
                             currency=row.currency)
    card = card_of(row)
    return render_template("console/rate_card.html", row=row, card=card, history=history,
                           bands=sorted({grams for zone in card.zones for grams, _ in zone.bands}),
                           partner=db.session.get(Partner, row.partner_id) if row.partner_id else None,
                           today=clock.today())


def _int(form, name: str, words: str, default: int | None = None) -> int | None:
    raw = (form.get(name) or "").replace(",", "").strip()
    if not raw:
        if default is None:
            raise CardError(f"{words}: give an amount")
        return default
    try:
        return int(raw)
    except ValueError:
        raise CardError(f"{words}: a whole number, not {raw!r}") from None


def _percent_bp(form, name: str, words: str) -> int:
    raw = (form.get(name) or "0").replace(",", ".").strip() or "0"
    try:
        return round(float(raw) * 100)
    except ValueError:
        raise CardError(f"{words}: a percentage, not {raw!r}") from None


def draft_from_form(form) -> cards.Draft:
    """The card version the form describes; CardError names the field at fault."""
    bands = []
    for j in range(BAND_COLUMNS):
        grams = _int(form, f"band_{j}", f"weight band {j + 1}", default=-1)
        if grams >= 0:
            bands.append((j, grams))
    zones = []
    for i in range(ZONE_ROWS):
        code = (form.get(f"zone_{i}_code") or "").strip()
        if not code:
            continue
        limit = (form.get(f"zone_{i}_km") or "").strip()
        try:
            up_to = float(limit) if limit else None
        except ValueError:
            raise CardError(f"zone {code}: the distance is a number of km, not {limit!r}") from None
        prices = [[grams, _int(form, f"price_{i}_{j}", f"zone {code}, up to {grams / 1000:g} kg")]
                  for j, grams in bands]
        zones.append({"code": code, "name": (form.get(f"zone_{i}_name") or code).strip(), "up_to_km": up_to,
                      "bands": prices, "per_kg_over": _int(form, f"zone_{i}_per_kg", f"zone {code}, per kg over", 0)})
    pairs = {}
    for line in (form.get("hub_pairs") or "").splitlines():
        if line.strip():
            pair, _sep, zone = line.partition("=")
            pairs[pair.strip().upper().replace(" ", "")] = zone.strip()
    remote_km = (form.get("remote_beyond_km") or "").strip()
    try:
        remote_beyond = float(remote_km) if remote_km else None
    except ValueError:
        raise CardError(f"remote area: a distance in km, not {remote_km!r}") from None
    partner = form.get("partner_id")
    effective = day_of(form.get("effective_from"))
    if effective is None:
        raise CardError("say from which day the version takes effect")
    return cards.Draft(
        partner_id=int(partner) if partner and partner.isdigit() else None,
        service_level=form.get("service_level", ""), currency=(form.get("currency") or "").upper(),
        effective_from=effective, name=form.get("name", ""), note=form.get("note", ""),
        tariff={"zones": zones, "hub_pairs": pairs, "per_km": _int(form, "per_km", "per km", 0)},
        surcharges={"return_amount": _int(form, "return_amount", "return fee", 0),
                    "failed_attempt_amount": _int(form, "failed_attempt_amount", "failed attempt fee", 0),
                    "cod_fee_bp": _percent_bp(form, "cod_fee_percent", "COD fee"),
                    "cod_fee_min": _int(form, "cod_fee_min", "COD fee minimum", 0),
                    "remote_amount": _int(form, "remote_amount", "remote area fee", 0),
                    "remote_beyond_km": remote_beyond,
                    "insurance_bp": _percent_bp(form, "insurance_percent", "insurance"),
                    "vat_bp": _percent_bp(form, "vat_percent", "VAT")})


def _form_of(row: RateCard | None, **overrides) -> dict:
    """The form's fields filled in from a version (the one in force), to change from."""
    if row is None:
        return dict(overrides)
    card = card_of(row)
    bands = sorted({g for z in card.zones for g, _ in z.bands})
    form = {"partner_id": row.partner_id or "", "service_level": row.service_level, "currency": row.currency,
            "name": row.name, "per_km": card.per_km, "return_amount": card.return_amount,
            "failed_attempt_amount": card.failed_attempt_amount, "cod_fee_percent": card.cod_fee_bp / 100,
            "cod_fee_min": card.cod_fee_min, "remote_amount": card.remote_amount,
            "remote_beyond_km": "" if card.remote_beyond_km is None else card.remote_beyond_km,
            "insurance_percent": card.insurance_bp / 100, "vat_percent": card.vat_bp / 100,
            "hub_pairs": "\n".join(f"{k}={v}" for k, v in card.hub_pairs.items())}
    for j, grams in enumerate(bands):
        form[f"band_{j}"] = grams
    for i, zone in enumerate(card.zones):
        form.update({f"zone_{i}_code": zone.code, f"zone_{i}_name": zone.name,
                     f"zone_{i}_km": "" if zone.up_to_km is None else zone.up_to_km,
                     f"zone_{i}_per_kg": zone.per_kg_over})
        for j, grams in enumerate(bands):
            form[f"price_{i}_{j}"] = dict(zone.bands).get(grams, "")
    form.update(overrides)
    return form


def _preview_input(form) -> Shipped:
    def number(name, default):
        try:
            return float((form.get(name) or "").replace(",", "") or default)
        except ValueError:
            raise CardError(f"preview: {name.replace('preview_', '').replace('_', ' ')} is a number") from None
    return Shipped(distance_km=number("preview_km", 8), grams=int(number("preview_kg", 1.2) * 1000),
                   cod_amount=int(number("preview_cod", 0)), declared_value=int(number("preview_declared", 0)),
                   from_hub_km=number("preview_from_hub_km", 2))


@bp.route("/finance/rates/new", methods=["GET", "POST"])
@roles_required(*FINANCE_ROLES)
def new_rate_card():
    """A new version: from the one in force (``from`` = its id), or a partner's first
    contract card (``partner`` = its id, starting from the default card)."""
    tomorrow = clock.today() + timedelta(days=1)
    if request.method == "GET":
        base = db.session.get(RateCard, int(request.args["from"])) if request.args.get("from", "").isdigit() else None
        partner = request.args.get("partner", "")
        overrides = {"effective_from": tomorrow.isoformat()}
        found = db.session.get(Partner, int(partner)) if partner.isdigit() else None
        if found is not None:
            overrides.update(partner_id=found.id, name=f"{found.name} contract")
        form = _form_of(base, **overrides)
        return _render_form(form, None)
    form = request.form
    if request.form.get("action") == "preview":
        try:
            draft = draft_from_form(form)
            shown = cards.preview(draft, _preview_input(form), fuel_bp=fuel_bp_on(db.session, draft.effective_from))
        except CardError as exc:
            flash(_("Cannot preview: %(why)s", why=exc))
            return _render_form(form, None)
        return _render_form(form, shown)
    with acting(_("Not saved"), CardError) as act:
        row = cards.save(db.session, draft_from_form(form), user_id=current_user.id)
        act.audit("rate_card.created", "rate_card", row.id, {
            "partner_id": row.partner_id, "service_level": row.service_level, "currency": row.currency,
            "effective_from": row.effective_from.isoformat(), "note": row.note})
        act.said(_("Saved: %(name)s takes effect on %(day)s.", name=row.name,
                   day=format_date(row.effective_from, "dd MMM yyyy")))
        return redirect(url_for("console.rate_card", card_id=row.id))
    return _render_form(form, None)


def _render_form(form, shown):
    return render_template("console/rate_card_form.html", form=form, shown=shown, partners=partners_by_id(),
                           levels=SERVICE_LEVELS, zone_rows=ZONE_ROWS, band_columns=BAND_COLUMNS,
                           lines=lines_in_words(shown.breakdown) if shown else [], words=LINES)


@bp.post("/finance/rates/fuel")
@roles_required(*FINANCE_ROLES)
def set_fuel_surcharge():
    with acting(_("Not saved"), CardError) as act:
        day = day_of(request.form.get("effective_from"))
        if day is None:
            raise CardError("say from which day")
        rate_bp = _percent_bp(request.form, "percent", "fuel surcharge")
        cards.set_fuel(db.session, day, rate_bp, user_id=current_user.id)
        act.audit("fuel_surcharge.set", "fuel_surcharge", day.isoformat(), {"percent": rate_bp / 100})
        act.said(_("Fuel surcharge %(percent)s %% from %(day)s.", percent=format_decimal(rate_bp / 100),
                   day=format_date(day, "dd MMM yyyy")))
    return redirect(url_for("console.rate_cards"))
