"""Console: COD from the hubs to the partners' banks, for finance. Cash at hubs and its
deposits (with the slip of the counts each covers); remittances (the run, the payout file,
a remittance's statement, marked paid once the bank confirms); drivers' shortages and the
card and transfer providers' balances."""
from __future__ import annotations

from flask import (
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from app import clock
from app.auth.web import roles_required
from app.billing import claims, ledger, posting, remittances
from app.billing.documents import Company
from app.billing.models import CashDeposit, Claim, Remittance
from app.billing.money import EXPONENTS
from app.billing.payments import PaymentError, parse_amount
from app.billing.remittances import RemittanceError
from app.console.acting import acting
from app.console.finance import FINANCE_ROLES, PROVIDER_NAMES, partners_by_id
from app.console.views import bp, format_money
from app.crm.models import Partner
from app.db import db
from app.delivery.models import Driver
from app.forms import day_of, id_of
from app.hubs.models import Hub


def _hubs() -> dict[int, Hub]:
    return {h.id: h for h in db.session.scalars(select(Hub).order_by(Hub.code))}


@bp.get("/finance/remittances")
@roles_required(*FINANCE_ROLES)
def remittance_list():
    status = request.args.get("status") if request.args.get("status") in ("approved", "paid") else None
    return render_template("console/remittances.html", rows=remittances.remittances_of(
        db.session, partner_id=id_of(request.args.get("partner")), status=status), partners=partners_by_id(),
        payable=remittances.cod_payable(db.session), status=status, today=clock.today())


@bp.post("/finance/remittances/run")
@roles_required(*FINANCE_ROLES)
def run_remittances():
    with acting(_("Not run"), RemittanceError) as act:
        result = remittances.run(db.session, user_id=current_user.id)
        act.audit("remittances.run", "remittance_run", clock.today().isoformat(),
                  {"numbers": [r.number for r in result.remittances]})
        made = result.remittances
        act.said(ngettext("%(num)s remittance approved", "%(num)s remittances approved", len(made))
                 + (_(": %(num)s shipments. Download the payout file for the bank.",
                      num=format_decimal(sum(r.shipments for r in made))) if made else _(": no COD is due today.")))
    return redirect(url_for("console.remittance_list"))


@bp.get("/finance/remittances/payout.csv")
@roles_required(*FINANCE_ROLES)
def payout_file():
    return Response(remittances.payout_file(db.session), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="waybill-payouts-{clock.today()}.csv"'})


def _remittance_or_404(remittance_id: int) -> Remittance:
    found = db.session.get(Remittance, remittance_id)
    if found is None:
        abort(404)
    return found


@bp.get("/finance/remittances/<id:remittance_id>")
@roles_required(*FINANCE_ROLES)
def remittance(remittance_id: int):
    found = _remittance_or_404(remittance_id)
    return render_template("console/remittance.html", r=found, partner=db.session.get(Partner, found.partner_id),
                           rows=list(remittances.statement_rows(db.session, found))[:500],
                           netted=remittances.netted_invoices(db.session, found.id), tz=clock.network_zone())


def remittance_pdf_response(found: Remittance) -> Response:
    data = remittances.pdf_of(db.session, found, company=Company.from_config(current_app.config),
                              font=current_app.config.get("WAYBILL_LABEL_FONT"))
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{found.number}.pdf"'})


def remittance_csv_response(found: Remittance) -> Response:
    return Response(stream_with_context(remittances.statement_csv(db.session, found)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{found.number}.csv"'})


@bp.get("/finance/remittances/<id:remittance_id>.pdf")
@roles_required(*FINANCE_ROLES)
def remittance_as_pdf(remittance_id: int):
    return remittance_pdf_response(_remittance_or_404(remittance_id))


@bp.get("/finance/remittances/<id:remittance_id>.csv")
@roles_required(*FINANCE_ROLES)
def remittance_as_csv(remittance_id: int):
    return remittance_csv_response(_remittance_or_404(remittance_id))


@bp.post("/finance/remittances/<id:remittance_id>/paid")
@roles_required(*FINANCE_ROLES)
def remittance_paid(remittance_id: int):
    found = _remittance_or_404(remittance_id)
    reference = request.form.get("bank_reference", "")
    with acting(_("Not recorded"), RemittanceError) as act:
        remittances.mark_paid(db.session, found.id, bank_reference=reference, user_id=current_user.id)
        act.audit("remittance.paid", "remittance", found.id, {"number": found.number, "bank_reference": reference})
        act.said(_("%(number)s is paid: %(amount)s; the partner is told.", number=found.number,
                   amount=format_money(found.payout_amount, found.currency)))
    return redirect(url_for("console.remittance", remittance_id=found.id))


@bp.get("/finance/deposits")
@roles_required(*FINANCE_ROLES)
def deposit_list():
    return render_template("console/deposits.html", waiting=remittances.cash_at_hubs(db.session),
                           rows=remittances.deposits_of(db.session), hubs=_hubs(), today=clock.today())


@bp.post("/finance/deposits")
@roles_required(*FINANCE_ROLES)
def make_deposit():
    form = request.form
    with acting(_("Not recorded"), RemittanceError) as act:
        hub_id, currency = id_of(form.get("hub_id")), form.get("currency", "")
        if hub_id is None or currency not in EXPONENTS:
            raise RemittanceError("choose the hub and the currency")
        slip = remittances.deposit(db.session, hub_id, currency, bank_reference=form.get("bank_reference", ""),
                                   user_id=current_user.id, deposited_on=day_of(form.get("deposited_on")))
        act.audit("cash.deposited", "cash_deposit", slip.id, {"hub_id": hub_id, "amount": slip.amount,
                                                              "bank_reference": slip.bank_reference})
        act.said(_("Deposited %(amount)s: slip #%(num)s.", amount=format_money(slip.amount, currency), num=slip.id))
        return redirect(url_for("console.deposit_slip", deposit_id=slip.id))
    return redirect(url_for("console.deposit_list"))


@bp.get("/finance/deposits/<id:deposit_id>")
@roles_required(*FINANCE_ROLES)
def deposit_slip(deposit_id: int):
    slip = db.session.get(CashDeposit, deposit_id)
    if slip is None:
        abort(404)
    handovers = remittances.handovers_in(db.session, slip.id)
    drivers = {d.id: d for d in db.session.scalars(select(Driver).where(Driver.id.in_({h.driver_id for h in handovers})))}
    return render_template("console/deposit_slip.html", slip=slip, hub=db.session.get(Hub, slip.hub_id),
                           handovers=handovers, drivers=drivers, tz=clock.network_zone())


@bp.get("/finance/balances")
@roles_required(*FINANCE_ROLES)
def balances():
    """What drivers owe (shortages) and what the card and transfer providers hold."""
    owed = remittances.driver_balances(db.session)
    drivers = {d.id: d for d in db.session.scalars(select(Driver).where(Driver.id.in_({d for d, _, _ in owed})))}
    held = [(provider, currency, ledger.balance(db.session, "1150", currency, party=("provider", provider)))
            for provider in posting.PROVIDERS.values() for currency in sorted(EXPONENTS)]
    return render_template("console/balances.html", owed=owed, drivers=drivers,
                           held=[h for h in held if h[2]], providers=PROVIDER_NAMES, today=clock.today())


@bp.post("/finance/balances/drivers/<id:driver_id>")
@roles_required(*FINANCE_ROLES)
def settle_driver(driver_id: int):
    form = request.form
    with acting(_("Not settled"), RemittanceError, PaymentError) as act:
        currency = form.get("currency", "")
        if currency not in EXPONENTS:
            raise RemittanceError("choose the currency")
        row = remittances.settle_shortage(db.session, driver_id, parse_amount(form.get("amount", ""), currency),
                                          currency, how=form.get("how", ""), note=form.get("note", ""),
                                          user_id=current_user.id)
        act.audit("driver.shortage_settled", "driver", driver_id, {"amount": row.amount, "how": row.how,
                                                                   "note": row.note})
        act.said(_("Settled %(amount)s (%(how)s).", amount=format_money(row.amount, currency),
                   how=_("written off") if row.how == "written_off" else _("repaid")))
    return redirect(url_for("console.balances"))


@bp.post("/finance/balances/providers/<int:provider_id>")
@roles_required(*FINANCE_ROLES)
def provider_paid(provider_id: int):
    form = request.form
    with acting(_("Not recorded"), RemittanceError, PaymentError) as act:
        currency = form.get("currency", "")
        if currency not in EXPONENTS:
            raise RemittanceError("choose the currency")
        row = remittances.provider_payout(db.session, provider_id, parse_amount(form.get("amount", ""), currency),
                                          currency, received_on=day_of(form.get("received_on")) or clock.today(),
                                          reference=form.get("reference", ""), user_id=current_user.id)
        act.audit("provider.paid_out", "provider_payout", row.id, {"provider_id": provider_id, "amount": row.amount})
        act.said(_("Recorded %(amount)s from the %(provider)s.", amount=format_money(row.amount, currency),
                   provider=PROVIDER_NAMES[provider_id]))
    return redirect(url_for("console.balances"))


@bp.get("/finance/claims")
@roles_required(*FINANCE_ROLES)
def claim_list():
    """Claims customer service accepted (lost or damaged parcels), for finance to pay."""
    return render_template("console/claims.html", claims=claims.claims_to_pay(db.session),
                           partners=partners_by_id(), tz=clock.network_zone())


@bp.post("/finance/claims/<id:claim_id>/paid")
@roles_required(*FINANCE_ROLES)
def claim_paid(claim_id: int):
    claim = db.session.get(Claim, claim_id)
    if claim is None:
        abort(404)
    with acting(_("Not paid"), claims.ClaimError) as act:
        claims.pay(db.session, claim, reference=request.form.get("reference", ""), actor=f"user:{current_user.id}")
        act.audit("claim.paid", "claim", claim.id, {"amount": claim.accepted_amount, "reference": claim.paid_reference})
        act.said(_("Claim for shipment %(num)s paid: %(amount)s.", num=claim.shipment_id,
                   amount=format_money(claim.accepted_amount, claim.currency)))
    return redirect(url_for("console.claim_list"))
