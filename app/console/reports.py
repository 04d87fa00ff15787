"""Reports in the console: the monthly reports (a partner's, a hub's, the company's) for
any month or period, as a page, PDF or XLSX; the ad-hoc report builder with its exports;
saved reports; and who gets which report by e-mail each month."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app import clock
from app.auth.web import roles_required
from app.billing.documents import Company
from app.console import exports
from app.console.acting import acting
from app.console.views import bp, hubs_by_id, scope_hub
from app.crm.models import Partner
from app.db import db
from app.delivery.models import Driver
from app.forms import day_of
from app.i18n import current_language
from app.reports import builder, documents, monthly, schedules

#: Who reads reports. A hub operator reads its own hub's month only.
REPORT_ROLES = ("admin", "dispatcher", "finance", "account_manager", "customer_service", "hub_operator")
#: Who builds, saves and schedules reports, and reads the company's month.
BUILDER_ROLES = ("admin", "dispatcher", "finance", "account_manager", "customer_service")
COMPANY_ROLES = ("admin", "finance")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def period_asked(args) -> tuple[date, date]:
    """The period of a report: ``period`` (a month, YYYY-MM), else ``start`` and ``end``,
    else last month."""
    today = clock.today()
    if args.get("period"):
        try:
            return monthly.month_bounds(args["period"])
        except ValueError:
            abort(400, description=_("The month is written YYYY-MM."))
    start, end = day_of(args.get("start"), strict=False), day_of(args.get("end"), strict=False)
    if start and end and start <= end and (end - start).days < builder.MAX_DAYS:
        return start, end
    return builder.last_month(today)


def company() -> Company:
    return Company.from_config(current_app.config)


def font() -> str | None:
    return current_app.config.get("WAYBILL_LABEL_FONT")


def _allowed(kind: str, subject_id: int) -> None:
    role = current_user.role
    if kind == "company" and role not in COMPANY_ROLES:
        abort(403)
    if role == "hub_operator" and not (kind == "hub" and subject_id == scope_hub()):
        abort(404)


@bp.get("/reports/")
@roles_required(*REPORT_ROLES)
def reports():
    """The reports' home: last month's (or a chosen month's) standing reports, the saved
    ones, and the e-mail subscriptions."""
    start, end = period_asked(request.args)
    months = []
    day = clock.today().replace(day=1)
    for _i in range(13):
        day = (day - timedelta(days=1)).replace(day=1)
        months.append(day.strftime("%Y-%m"))
    hubs = hubs_by_id()
    if scope_hub():
        hubs = {k: v for k, v in hubs.items() if k == scope_hub()}
    partners = list(db.session.scalars(select(Partner).order_by(Partner.name))) if not scope_hub() else []
    saved = schedules.visible_saved(db.session, user_id=current_user.id, partner_id=None) if not scope_hub() else []
    subs = schedules.subscriptions(db.session) if current_user.role in BUILDER_ROLES else []
    return render_template("console/reports.html", start=start, end=end, period=start.strftime("%Y-%m"),
                           months=months, hubs=hubs, partners=partners, saved=saved, subscriptions=subs,
                           saved_by_id={s.id: s for s in saved}, can_build=current_user.role in BUILDER_ROLES,
                           company_ok=current_user.role in COMPANY_ROLES)


@bp.get("/reports/<any(partner, hub, company):kind>/<int:subject_id>")
@roles_required(*REPORT_ROLES)
def monthly_report(kind: str, subject_id: int):
    start, end, report = _report(kind, subject_id)
    charts = [Markup(documents.chart_svg(c, font=font())) for c in report.charts]
    args = {"start": start.isoformat(), "end": end.isoformat()}
    files = {fmt: url_for("console.monthly_report_file", kind=kind, subject_id=subject_id, fmt=fmt, **args)
             for fmt in ("pdf", "xlsx")}
    return render_template("console/report.html", report=report, charts=charts, cell=documents.cell_text,
                           files=files)


@bp.get("/reports/<any(partner, hub, company):kind>/<int:subject_id>.<any(pdf, xlsx):fmt>")
@roles_required(*REPORT_ROLES)
def monthly_report_file(kind: str, subject_id: int, fmt: str):
    return report_file(_report(kind, subject_id)[2], fmt)


def _report(kind: str, subject_id: int) -> tuple[date, date, monthly.Report]:
    """The report asked for, if this person may read it (else 403 or 404)."""
    _allowed(kind, subject_id)
    start, end = period_asked(request.args)
    try:
        with db.replica_session() as reader:
            return start, end, monthly.make(reader, kind, subject_id, start, end)
    except monthly.NotFound:
        abort(404)


def report_file(report: monthly.Report, fmt: str) -> Response:
    if fmt == "pdf":
        body, mime = documents.report_pdf(report, company(), font=font()), "application/pdf"
    else:
        body, mime = documents.report_xlsx(report), XLSX
    return Response(body, mimetype=mime, headers={
        "Content-Disposition": f'attachment; filename="{report.filename}.{fmt}"', "Cache-Control": "no-store"})


# -- the builder ---------------------------------------------------------------------------

def filter_choices(source: str, *, partner_id: int | None = None) -> dict[str, list[tuple]]:
    """The values each filter of a source offers: (value, words)."""
    src = builder.SOURCES[source]
    out = {}
    for name, dim in src.dimensions.items():
        if dim.kind == "time" or (partner_id is not None and (dim.staff_only or name == "partner")):
            continue
        if dim.values is not None:
            out[name] = [(v, str(dim.words[v]) if dim.words and v in dim.words else v) for v in dim.values]
        elif name in ("hub", "centre"):
            out[name] = [(h.id, f"{h.code} · {h.name}") for h in hubs_by_id().values()]
        elif name == "partner":
            out[name] = [(p.id, p.name) for p in db.session.scalars(select(Partner).order_by(Partner.name))]
        elif name == "driver":
            codes = {h.id: h.code for h in hubs_by_id().values()}
            out[name] = [(d.id, f"{d.name} · {codes.get(d.hub_id, '')}")
                         for d in db.session.scalars(select(Driver).order_by(Driver.name))]
        else:
            out[name] = None  # typed: districts, cities, attempt numbers
    return out


def build_page(args, *, partner_id: int | None, endpoint: str, export_endpoint: str, surface: str,
               saved=None, **context):
    """The builder: the form, and the report it asks for (its chart and table) when asked."""
    fields = builder.from_query(args)
    if fields["source"] not in builder.SOURCES:
        fields["source"] = "shipments"
    result, error, spec = None, None, None
    try:
        spec = builder.parse(fields, partner_scoped=partner_id is not None)
        if args.get("run"):
            result = builder.run(spec, partner_id=partner_id)
    except builder.ReportError as exc:
        error = str(exc)
    chart = documents.chart_of(result) if result is not None else None
    svg = Markup(documents.chart_svg(chart, font=font())) if chart is not None else None
    header, rows, kinds = documents.result_rows(result) if result is not None else ([], [], [])
    query = builder.to_query(spec) if spec is not None else []
    return render_template(
        "reports/builder_page.html", surface=surface, fields=fields, sources=builder.SOURCES, choices=builder.choices(fields["source"],
                                                                                  partner_scoped=partner_id is not None),
        filters=filter_choices(fields["source"], partner_id=partner_id), spec=spec, result=result, error=error,
        svg=svg, header=header, rows=rows, kinds=kinds, cell=documents.cell_text, query=query, saved=saved,
        endpoint=endpoint, export_endpoint=export_endpoint, charts=builder.CHARTS, **context), 200 if not error else 422


def export_result(args, fmt: str, *, partner_id: int | None, title: str):
    """A builder's report as a file: CSV (its table), XLSX (its table and chart), PDF."""
    try:
        spec = builder.parse(builder.from_query(args), partner_scoped=partner_id is not None)
        result = builder.run(spec, partner_id=partner_id)
    except builder.ReportError as exc:
        abort(422, description=str(exc))
    name = f"report-{spec.source}-{spec.start}-{spec.end}"
    if fmt == "csv":
        header, rows, _kinds = documents.result_rows(result)
        return exports.send(f"report-{spec.source}", "csv", header, rows)
    if fmt == "xlsx":
        body, mime = documents.result_xlsx(result, title), XLSX
    else:
        body, mime = documents.result_pdf(result, title, company(), font=font()), "application/pdf"
    return Response(body, mimetype=mime, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"',
                                                  "Cache-Control": "no-store"})


@bp.get("/reports/build")
@roles_required(*BUILDER_ROLES)
def report_builder():
    saved = None
    if request.args.get("saved"):
        saved = schedules.saved_for(db.session, int(request.args["saved"]) if request.args["saved"].isdigit() else 0,
                                    user_id=current_user.id, partner_id=None)
    return build_page(request.args, partner_id=None, endpoint="console.report_builder",
                      export_endpoint="console.report_export", surface="console", saved=saved,
                      subscriptions=[s for s in schedules.subscriptions(db.session)
                                     if saved is not None and s.report == "saved" and s.subject_id == saved.id])


@bp.get("/reports/build/export.<any(csv, xlsx, pdf):fmt>")
@roles_required(*BUILDER_ROLES)
def report_export(fmt: str):
    return export_result(request.args, fmt, partner_id=None, title=request.args.get("title") or _("Report"))


@bp.post("/reports/saved")
@roles_required(*BUILDER_ROLES)
def save_report():
    form = request.form
    fields = builder.from_query(MultiDict([(k, v) for k, v in form.items(multi=True) if k != "csrf_token"]))
    with acting(_("Not saved"), schedules.ScheduleError, builder.ReportError) as act:
        saved = schedules.save(db.session, form.get("name", ""), fields, owner_id=current_user.id,
                               shared=bool(form.get("shared")), period=form.get("period") or "fixed")
        act.audit("report.saved", "saved_report", saved.id, {"name": saved.name, "spec": saved.spec})
        act.said(_("Saved: %(name)s.", name=saved.name))
        return redirect(url_for("console.saved_report", report_id=saved.id))
    return redirect(url_for("console.report_builder", **_multi(fields_query(fields))))


def fields_query(fields: dict) -> list[tuple[str, str]]:
    try:
        return builder.to_query(builder.parse(fields))
    except builder.ReportError:
        return []


@bp.get("/reports/saved/<int:report_id>")
@roles_required(*BUILDER_ROLES)
def saved_report(report_id: int):
    saved = schedules.saved_for(db.session, report_id, user_id=current_user.id, partner_id=None)
    if saved is None:
        abort(404)
    spec = schedules.spec_of(saved)
    return redirect(url_for("console.report_builder", **_multi(builder.to_query(spec) + [("saved", str(saved.id)),
                                                                                         ("run", "1")])))


def _multi(pairs):
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


@bp.post("/reports/saved/<int:report_id>/delete")
@roles_required(*BUILDER_ROLES)
def delete_saved_report(report_id: int):
    saved = schedules.saved_for(db.session, report_id, user_id=current_user.id, partner_id=None)
    if saved is None or (saved.owner_id != current_user.id and current_user.role != "admin"):
        abort(404)
    with acting(_("Not deleted"), schedules.ScheduleError) as act:
        act.audit("report.deleted", "saved_report", saved.id, {"name": saved.name})
        schedules.delete_saved(db.session, saved)
        act.said(_("Deleted."))
    return redirect(url_for("console.reports"))


@bp.post("/reports/subscriptions")
@roles_required(*BUILDER_ROLES)
def subscribe_report():
    form = request.form
    report = form.get("report", "")
    subject = form.get("subject_id", "0")
    if report == "company" and current_user.role not in COMPANY_ROLES:
        abort(403)
    with acting(_("Not subscribed"), schedules.ScheduleError) as act:
        if report == "saved" and schedules.saved_for(db.session, int(subject) if subject.isdigit() else 0,
                                                     user_id=current_user.id, partner_id=None) is None:
            raise schedules.ScheduleError("no such report")
        row = schedules.subscribe(db.session, report, int(subject) if subject.isdigit() else 0, form.get("email", ""),
                                  user_id=current_user.id, language=form.get("language") or current_language())
        act.audit("report.subscribed", "report_subscription", row.id,
                  {"report": row.report, "subject": row.subject_id, "email": row.email})
        act.said(_("%(email)s gets this report when each month ends.", email=row.email))
    back = request.form.get("next") or ""
    return redirect(back if back.startswith("/console/") else url_for("console.reports") + "#subscriptions")


@bp.post("/reports/subscriptions/<int:subscription_id>/delete")
@roles_required(*BUILDER_ROLES)
def unsubscribe_report(subscription_id: int):
    with acting(_("Not removed"), schedules.ScheduleError) as act:
        row = schedules.unsubscribe(db.session, subscription_id)
        act.audit("report.unsubscribed", "report_subscription", subscription_id,
                  {"report": row.report, "subject": row.subject_id, "email": row.email})
        act.said(_("%(email)s no longer gets this report.", email=row.email))
    back = request.form.get("next") or ""
    return redirect(back if back.startswith("/console/") else url_for("console.reports") + "#subscriptions")
