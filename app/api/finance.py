"""/api/v1/invoices, /api/v1/remittances and /api/v1/statement: a partner's own bills, the
COD paid to it, and its account between two days. Another partner's document is a 404."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from app import clock
from app.api.errors import ApiError
from app.api.orders import require_partner
from app.api.schemas import (
    ApiErrorSchema,
    InvoiceSchema,
    RemittanceSchema,
    StatementSchema,
    Strict,
)
from app.billing import invoices, payments, remittances
from app.billing.documents import Company
from app.billing.models import Invoice, Remittance
from app.db import MAX_ID, db

blp = Blueprint("finance", __name__, url_prefix="/api/v1", description="Invoices, COD remittances, statement")
blp.before_request(require_partner)

#: The longest statement one request may ask for.
MAX_STATEMENT_DAYS = 366


class ListArgs(Strict):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    before = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID),
                            metadata={"description": "The id of the last one of the previous page"})


def _money(amount: int, currency: str) -> dict:
    return {"amount": amount, "currency": currency}


def _invoice(invoice: Invoice, paid: int, *, lines=None) -> dict:
    c = invoice.currency
    out = {"id": invoice.id, "number": invoice.number, "kind": invoice.kind,
           "period_start": invoice.period_start, "period_end": invoice.period_end,
           "issued_on": invoice.issued_on, "due_on": invoice.due_on,
           "net": _money(invoice.net_amount, c), "vat": _money(invoice.vat_amount, c),
           "total": _money(invoice.total_amount, c),
           "paid": _money(paid, c) if invoice.kind == "invoice" else None,
           "status": invoices.status_of(invoice, paid), "corrects": invoice.corrects_id, "reason": invoice.reason}
    if lines is not None:
        out["lines"] = [{"code": line.code, "description": line.description, "shipments": line.quantity,
                         "amount": _money(line.net_amount, c)} for line in lines]
    return out


def _own_invoice(invoice_id: int) -> Invoice:
    found = db.session.get(Invoice, invoice_id)
    if found is None or found.partner_id != g.partner.id:
        raise ApiError(404, "not_found", f"no invoice {invoice_id}")
    return found


@blp.route("/invoices")
class Invoices(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, InvoiceSchema(many=True))
    def get(self, args):
        """Your invoices and credit notes, newest first (``before`` pages on)."""
        rows = invoices.invoices_of(db.session, partner_id=g.partner.id, limit=args["limit"],
                                    before_id=args["before"])
        return [_invoice(inv, paid) for inv, paid in rows]


@blp.route("/invoices/<id:invoice_id>")
class InvoiceById(MethodView):
    @blp.response(200, InvoiceSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, invoice_id):
        """One invoice or credit note with its lines (every shipment is in ``/csv``)."""
        found = _own_invoice(invoice_id)
        return _invoice(found, invoices.paid_amount(db.session, found), lines=invoices.lines_of(db.session, found.id))


@blp.route("/invoices/<id:invoice_id>/pdf")
class InvoicePdf(MethodView):
    @blp.response(200, content_type="application/pdf", description="The invoice as a PDF document")
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, invoice_id):
        """The invoice (or credit note) as the PDF e-mailed to you."""
        found = _own_invoice(invoice_id)
        data = invoices.pdf_of(db.session, found, company=Company.from_config(current_app.config),
                               font=current_app.config.get("WAYBILL_LABEL_FONT"))
        return Response(data, mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{found.number}.pdf"'})


@blp.route("/invoices/<id:invoice_id>/csv")
class InvoiceCsv(MethodView):
    @blp.response(200, content_type="text/csv", description="Every charge on the invoice")
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, invoice_id):
        """Every shipment charged on the invoice, one row each."""
        found = _own_invoice(invoice_id)
        return Response(stream_with_context(invoices.charges_csv(db.session, found)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{found.number}.csv"'})


def _remittance(r: Remittance, *, netted=None) -> dict:
    c = r.currency
    out = {"id": r.id, "number": r.number, "delivered_until": r.delivered_until, "shipments": r.shipments,
           "cod": _money(r.cod_amount, c), "netted": _money(r.netted_amount, c), "payout": _money(r.payout_amount, c),
           "status": r.status, "paid_at": r.paid_at, "bank_reference": r.bank_reference}
    if netted is not None:
        out["netted_invoices"] = [{"number": n, "amount": _money(a, c)} for n, a in netted]
    return out


def _own_remittance(remittance_id: int) -> Remittance:
    found = db.session.get(Remittance, remittance_id)
    if found is None or found.partner_id != g.partner.id:
        raise ApiError(404, "not_found", f"no remittance {remittance_id}")
    return found


@blp.route("/remittances")
class Remittances(MethodView):
    @blp.arguments(ListArgs, location="query")
    @blp.response(200, RemittanceSchema(many=True))
    def get(self, args):
        """The COD remitted to you, newest first."""
        rows = remittances.remittances_of(db.session, partner_id=g.partner.id, limit=args["limit"],
                                          before_id=args["before"])
        return [_remittance(r) for r in rows]


@blp.route("/remittances/<id:remittance_id>")
class RemittanceById(MethodView):
    @blp.response(200, RemittanceSchema())
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, remittance_id):
        """One remittance: the COD, the invoices netted from it, the payout (every
        shipment is in ``/csv``)."""
        found = _own_remittance(remittance_id)
        return _remittance(found, netted=remittances.netted_invoices(db.session, found.id))


@blp.route("/remittances/<id:remittance_id>/csv")
class RemittanceCsv(MethodView):
    @blp.response(200, content_type="text/csv", description="Every shipment the remittance pays")
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, remittance_id):
        """Every shipment whose COD the remittance pays, one row each."""
        found = _own_remittance(remittance_id)
        return Response(stream_with_context(remittances.statement_csv(db.session, found)), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{found.number}.csv"'})


@blp.route("/remittances/<id:remittance_id>/pdf")
class RemittancePdf(MethodView):
    @blp.response(200, content_type="application/pdf", description="The remittance statement")
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, remittance_id):
        """The remittance statement as a PDF."""
        found = _own_remittance(remittance_id)
        data = remittances.pdf_of(db.session, found, company=Company.from_config(current_app.config),
                                  font=current_app.config.get("WAYBILL_LABEL_FONT"))
        return Response(data, mimetype="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{found.number}.pdf"'})


class StatementArgs(Strict):
    from_ = fields.Date(data_key="from", load_default=None, metadata={"description": "First day (default: the "
                                                                                     "first of this month)"})
    to = fields.Date(load_default=None, metadata={"description": "Last day (default: today)"})


@blp.route("/statement")
class StatementOfAccount(MethodView):
    @blp.arguments(StatementArgs, location="query")
    @blp.response(200, StatementSchema())
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, args):
        """Your account with Waybill between two days: the opening balance, invoices,
        credit notes, payments, COD collected (a line a day) and remitted, the closing
        balance. Positive: you owe Waybill; negative: Waybill owes you."""
        today = clock.today()
        start, end = args["from_"] or today.replace(day=1), args["to"] or today
        if end < start:
            raise ApiError(422, "validation_failed", "from is after to", {"query": {"from": ["after to"]}})
        if end - start > timedelta(days=MAX_STATEMENT_DAYS):
            raise ApiError(422, "validation_failed", f"a statement covers at most {MAX_STATEMENT_DAYS} days",
                           {"query": {"to": ["too far from from"]}})
        found = payments.statement(db.session, g.partner.id, start, end, currency=g.partner.currency)
        c = found.currency
        return {"from": start, "to": end, "currency": c, "opening": _money(found.opening, c),
                "closing": _money(found.closing, c),
                "lines": [{"date": line.day, "what": line.what, "reference": line.reference,
                           "amount": _money(line.amount, c), "balance": _money(line.balance, c)}
                          for line in found.lines]}
