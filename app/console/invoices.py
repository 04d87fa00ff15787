"""Console: invoices, credit notes, payments, AR ageing, statements of account and the
partners' billing settings, for finance."""
from __future__ import annotations

from datetime import timedelta

from flask import (
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app import clock
from app.auth.web import roles_required
from app.billing import invoices, ledger, payments
from app.billing.documents import Company, statement_pdf
from app.billing.invoices import InvoiceError
from app.billing.models import Invoice
from app.billing.money import EXPONENTS, major
from app.billing.payments import PaymentError
from app.console.acting import acting
from app.console.finance import FINANCE_ROLES, partners_by_id
from app.console import exports
from app.console.views import bp, format_money
from app.crm.models import Partner
from app.db import db
from app.forms import day_of, id_of

STATUSES = ("issued", "overdue", "partially_paid", "paid")


def _last_months(n: int = 6) -> list[str]:
    first = clock.today().replace(day=1)
    months = []
    for _month in range(n):
        first = (first - timedelta(days=1)).replace(day=1)
        months.append(ledger.period_of(first))
    return months


@bp.get("/finance/invoices")
@roles_required(*FINANCE_ROLES)
def invoice_list():
    partner_id = id_of(request.args.get("partner"))
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    rows = invoices.invoices_of(db.session, partner_id=partner_id, status=status,
                                before_id=id_of(request.args.get("before")))
    return render_template("console/invoices.html", rows=rows, partners=partners_by_id(), partner_id=partner_id,
                           status=status, statuses=STATUSES, months=_last_months(), status_of=invoices.status_of)


@bp.get("/finance/invoices/export.<any(csv, xlsx):fmt>")
@roles_required(*FINANCE_ROLES)
def invoices_export(fmt: str):
    """Invoices and credit notes, newest first, as a file (the list's filters)."""
    partner_id = id_of(request.args.get("partner"))
    status = request.args.get("status") if request.args.get("status") in STATUSES else None
    partners = partners_by_id()

    def page(before):
        found = invoices.invoices_of(db.session, partner_id=partner_id, before_id=before, limit=exports.PAGE)
        return found, (found[-1][0].id if len(found) == exports.PAGE else None)

    header = ("number", "kind", "partner", "period_start", "period_end", "issued_on", "due_on", "currency", "net",
              "vat", "total", "paid", "status")
    rows = ((inv.number, inv.kind, partners[inv.partner_id].name if inv.partner_id in partners else inv.partner_id,
             inv.period_start, inv.period_end, inv.issued_on, inv.due_on if inv.kind == "invoice" else None,
             inv.currency, major(inv.net_amount, inv.currency), major(inv.vat_amount, inv.currency),
             major(inv.total_amount, inv.currency), major(paid, inv.currency) if inv.kind == "invoice" else None,
             invoices.status_of(inv, paid) if inv.kind == "invoice" else inv.kind)
            for inv, paid in exports.paged(page) if status is None or invoices.status_of(inv, paid) == status)
    return exports.send("invoices", fmt, header, rows)


@bp.post("/finance/invoices/run")
@roles_required(*FINANCE_ROLES)
def run_invoices():
    period = request.form.get("period", "")
    if period not in _last_months(24):
        flash(_("Not run: choose a month that has ended"))
        return redirect(url_for("console.invoice_list"))
    with acting(_("Not run"), InvoiceError) as act:
        result = invoices.run(db.session, period, user_id=current_user.id)
        act.audit("invoices.run", "period", period, {"numbers": [i.number for i in result.invoices]})
        issued = ngettext("%(num)s invoice issued for %(period)s", "%(num)s invoices issued for %(period)s",
                          len(result.invoices), period=period)
        act.said(issued + (_(" (%(first)s – %(last)s), e-mailed to the partners.", first=result.invoices[0].number,
                              last=result.invoices[-1].number) if result.invoices
                           else _(": nothing was left to invoice.")))
    return redirect(url_for("console.invoice_list"))


def _invoice_or_404(invoice_id: int) -> Invoice:
    found = db.session.get(Invoice, invoice_id)
    if found is None:
        abort(404)
    return found


@bp.get("/finance/invoices/<id:invoice_id>")
@roles_required(*FINANCE_ROLES)
def invoice(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    paid = invoices.paid_amount(db.session, found)
    notes = db.session.query(Invoice).filter(Invoice.corrects_id == found.id).order_by(Invoice.id).all()
    return render_template("console/invoice.html", invoice=found, lines=invoices.lines_of(db.session, found.id),
                           partner=db.session.get(Partner, found.partner_id), paid=paid,
                           status=invoices.status_of(found, paid), notes=notes,
                           corrects=db.session.get(Invoice, found.corrects_id) if found.corrects_id else None,
                           allocations=payments.allocations_of(db.session, found.id), tz=clock.network_zone())


@bp.get("/finance/invoices/<id:invoice_id>.pdf")
@roles_required(*FINANCE_ROLES)
def invoice_pdf(invoice_id: int):
    return pdf_response(_invoice_or_404(invoice_id))


def pdf_response(found: Invoice) -> Response:
    from flask import current_app

    data = invoices.pdf_of(db.session, found, company=Company.from_config(current_app.config),
                           font=current_app.config.get("WAYBILL_LABEL_FONT"))
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{found.number}.pdf"'})


@bp.get("/finance/invoices/<id:invoice_id>.csv")
@roles_required(*FINANCE_ROLES)
def invoice_csv(invoice_id: int):
    return csv_response(_invoice_or_404(invoice_id))


def csv_response(found: Invoice) -> Response:
    return Response(stream_with_context(invoices.charges_csv(db.session, found)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{found.number}.csv"'})


@bp.post("/finance/invoices/<id:invoice_id>/credit-note")
@roles_required(*FINANCE_ROLES)
def credit_note(invoice_id: int):
    found = _invoice_or_404(invoice_id)
    with acting(_("No credit note"), InvoiceError, PaymentError) as act:
        amount = payments.parse_amount(request.form.get("amount", ""), found.currency)
        note = invoices.credit_note(db.session, found.id, amount, reason=request.form.get("reason", ""),
                                    user_id=current_user.id)
        act.audit("credit_note.issued", "invoice", note.id, {"number": note.number, "corrects": found.number,
                                                             "amount": amount, "reason": note.reason})
        act.said(_("Credit note %(number)s for %(amount)s issued and e-mailed.", number=note.number,
                   amount=format_money(amount, found.currency)))
    return redirect(url_for("console.invoice", invoice_id=invoice_id))


@bp.get("/finance/payments")
@roles_required(*FINANCE_ROLES)
def payment_list():
    return render_template("console/payments.html", rows=payments.payments_of(db.session), partners=partners_by_id(),
                           today=clock.today(), currencies=sorted(EXPONENTS), result=None)


@bp.post("/finance/payments")
@roles_required(*FINANCE_ROLES)
def record_payment():
    form = request.form
    with acting(_("Not recorded"), PaymentError) as act:
        partner_id = id_of(form.get("partner_id"))
        currency = form.get("currency", "")
        if currency not in EXPONENTS:
            raise PaymentError("choose the currency")
        day = day_of(form.get("received_on"))
        if day is None or partner_id is None:
            raise PaymentError("say who paid and on which day")
        payment = payments.record(db.session, partner_id, payments.parse_amount(form.get("amount", ""), currency), currency, day,
                                  reference=form.get("reference", ""), user_id=current_user.id)
        act.audit("payment.recorded", "payment", payment.id, {"partner_id": partner_id, "amount": payment.amount,
                                                              "reference": payment.reference})
        act.said(_("Payment of %(amount)s recorded and allocated to the oldest invoices.",
                   amount=format_money(payment.amount, currency)))
    return redirect(url_for("console.payment_list"))


@bp.post("/finance/payments/import")
@roles_required(*FINANCE_ROLES)
def import_payments():
    upload = request.files.get("statement")
    currency = request.form.get("currency", "")
    result = None
    with acting(_("Not imported"), PaymentError, UnicodeDecodeError,
                words=lambda e: "the file is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else str(e)) as act:
        if upload is None or not upload.filename:
            raise PaymentError("choose the bank statement's CSV file")
        if currency not in EXPONENTS:
            raise PaymentError("choose the statement's currency")
        result = payments.import_bank_csv(db.session, upload.read().decode("utf-8-sig"), currency=currency,
                                          user_id=current_user.id)
        act.audit("payments.imported", "bank_statement", upload.filename[:60], {
            "recorded": result.recorded, "rows": len(result.rows)})
        act.said(ngettext("%(num)s payment recorded", "%(num)s payments recorded", result.recorded) + " "
                 + ngettext("from %(num)s line.", "from %(num)s lines.", len(result.rows)))
    return render_template("console/payments.html", rows=payments.payments_of(db.session), partners=partners_by_id(),
                           today=clock.today(), currencies=sorted(EXPONENTS), result=result)


@bp.get("/finance/ageing")
@roles_required(*FINANCE_ROLES)
def ageing():
    on = day_of(request.args.get("on")) or clock.today()
    return render_template("console/ageing.html", rows=payments.ageing(db.session, on=on), on=on,
                           partners=partners_by_id(), buckets=[b[0] for b in payments.BUCKETS])


def _statement_args(partner: Partner):
    today = clock.today()
    start = day_of(request.args.get("from")) or today.replace(day=1)
    end = day_of(request.args.get("to")) or today
    if end < start:
        start, end = end, start
    return payments.statement(db.session, partner.id, start, end, currency=partner.currency)


def _partner_or_404(partner_id: int) -> Partner:
    partner = db.session.get(Partner, partner_id)
    if partner is None:
        abort(404)
    return partner


@bp.get("/finance/partners/<id:partner_id>/statement")
@roles_required(*FINANCE_ROLES)
def statement(partner_id: int):
    partner = _partner_or_404(partner_id)
    return render_template("console/statement.html", partner=partner, statement=_statement_args(partner))


@bp.get("/finance/partners/<id:partner_id>/statement.pdf")
@roles_required(*FINANCE_ROLES)
def statement_as_pdf(partner_id: int):
    from flask import current_app

    partner = _partner_or_404(partner_id)
    found = _statement_args(partner)
    data = statement_pdf(found, partner, Company.from_config(current_app.config),
                         font=current_app.config.get("WAYBILL_LABEL_FONT"))
    return Response(data, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="statement-{partner.id}-{found.start}-{found.end}.pdf"'})


BILLING_FIELDS = ("legal_name", "tax_id", "billing_address", "billing_email", "bank_account")


@bp.route("/finance/partners/<id:partner_id>", methods=["GET", "POST"])
@roles_required(*FINANCE_ROLES)
def partner_billing(partner_id: int):
    """A partner's billing settings: legal details, where invoices go, the invoicing
    cycle, payment terms, the COD remittance cycle and netting."""
    partner = _partner_or_404(partner_id)
    if request.method == "POST":
        form = request.form
        with acting(_("Not saved"), ValueError) as act:
            before = {f: getattr(partner, f) for f in (*BILLING_FIELDS, "billing_cycle", "payment_terms_days",
                                                       "remittance_days", "net_cod_against_invoices")}
            for name in BILLING_FIELDS:
                setattr(partner, name, (form.get(name) or "").strip() or None)
            if form.get("billing_cycle") not in invoices.CYCLES:
                raise ValueError("the invoicing cycle is monthly or weekly")
            partner.billing_cycle = form["billing_cycle"]
            for name, words, top in (("payment_terms_days", "payment terms", 120),
                                     ("remittance_days", "the remittance cycle", 30)):
                raw = (form.get(name) or "").strip()
                if not raw.isdigit() or int(raw) > top:
                    raise ValueError(f"{words}: a number of days, 0 to {top}")
                setattr(partner, name, int(raw))
            partner.net_cod_against_invoices = form.get("net_cod_against_invoices") == "on"
            after = {f: getattr(partner, f) for f in before}
            act.audit("partner.billing_changed", "partner", partner.id,
                      {k: [before[k], after[k]] for k in before if before[k] != after[k]})
            act.said(_("Billing settings saved."))
        return redirect(url_for("console.partner_billing", partner_id=partner.id))
    return render_template("console/partner_billing.html", partner=partner, cycles=invoices.CYCLES,
                           invoices=invoices.invoices_of(db.session, partner_id=partner.id, limit=12),
                           status_of=invoices.status_of)
