"""A partner's reports in the portal: its own monthly report for any month or period (page,
PDF, XLSX), the report builder over its own shipments, attempts, charges, COD and cases, its
saved reports, and who of its people gets which by e-mail each month. Everything is read
with the partner's filter; another partner's saved report or subscription is a 404."""
from __future__ import annotations

from datetime import timedelta

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from werkzeug.datastructures import MultiDict

from app import clock
from app.console.acting import acting
from app.console.reports import build_page, export_result, font, period_asked, report_file
from app.db import db
from app.i18n import current_language
from app.portal.views import bp
from app.reports import builder, documents, monthly, schedules


def _months() -> list[str]:
    months, day = [], clock.today().replace(day=1)
    for _i in range(13):
        day = (day - timedelta(days=1)).replace(day=1)
        months.append(day.strftime("%Y-%m"))
    return months


@bp.get("/reports")
def reports():
    """The account's month (last month unless another is chosen), its saved reports and
    who gets the monthly report by e-mail."""
    start, end = period_asked(request.args)
    with db.replica_session() as reader:
        report = monthly.partner_report(reader, g.account.id, start, end)
    args = {"start": start.isoformat(), "end": end.isoformat()}
    files = {fmt: url_for("portal.monthly_report_file", fmt=fmt, **args) for fmt in ("pdf", "xlsx")}
    charts = [Markup(documents.chart_svg(c, font=font())) for c in report.charts]
    return render_template("portal/reports.html", report=report, charts=charts, files=files, cell=documents.cell_text,
                           months=_months(), period=start.strftime("%Y-%m"),
                           saved=schedules.visible_saved(db.session, user_id=current_user.id, partner_id=g.account.id),
                           subscriptions=schedules.subscriptions(db.session, partner_id=g.account.id, staff=False))


@bp.get("/reports/monthly.<any(pdf, xlsx):fmt>")
def monthly_report_file(fmt: str):
    start, end = period_asked(request.args)
    with db.replica_session() as reader:
        report = monthly.partner_report(reader, g.account.id, start, end)
    return report_file(report, fmt)


def _saved(report_id: int):
    saved = schedules.saved_for(db.session, report_id, user_id=current_user.id, partner_id=g.account.id)
    if saved is None:
        abort(404)
    return saved


@bp.get("/reports/build")
def report_builder():
    saved = _saved(int(request.args["saved"])) if (request.args.get("saved") or "").isdigit() else None
    subs = [s for s in schedules.subscriptions(db.session, partner_id=g.account.id, staff=False)
            if saved is not None and s.report == "saved" and s.subject_id == saved.id]
    return build_page(request.args, partner_id=g.account.id, endpoint="portal.report_builder",
                      export_endpoint="portal.report_export", surface="portal", saved=saved,
                      subscriptions=subs)


@bp.get("/reports/build/export.<any(csv, xlsx, pdf):fmt>")
def report_export(fmt: str):
    return export_result(request.args, fmt, partner_id=g.account.id, title=request.args.get("title") or _("Report"))


@bp.post("/reports/saved")
def save_report():
    form = request.form
    fields = builder.from_query(MultiDict([(k, v) for k, v in form.items(multi=True) if k != "csrf_token"]))
    with acting(_("Not saved"), schedules.ScheduleError, builder.ReportError) as act:
        saved = schedules.save(db.session, form.get("name", ""), fields, owner_id=current_user.id,
                               partner_id=g.account.id, shared=bool(form.get("shared")),
                               period=form.get("period") or "fixed")
        act.audit("report.saved", "saved_report", saved.id, {"name": saved.name, "partner": g.account.id})
        act.said(_("Saved: %(name)s.", name=saved.name))
        return redirect(url_for("portal.saved_report", report_id=saved.id))
    return redirect(url_for("portal.report_builder"))


@bp.get("/reports/saved/<int:report_id>")
def saved_report(report_id: int):
    saved = _saved(report_id)
    pairs = builder.to_query(schedules.spec_of(saved)) + [("saved", str(saved.id)), ("run", "1")]
    query: dict[str, list[str]] = {}
    for k, v in pairs:
        query.setdefault(k, []).append(v)
    return redirect(url_for("portal.report_builder", **query))


@bp.post("/reports/saved/<int:report_id>/delete")
def delete_saved_report(report_id: int):
    saved = _saved(report_id)
    with acting(_("Not deleted"), schedules.ScheduleError) as act:
        act.audit("report.deleted", "saved_report", saved.id, {"name": saved.name, "partner": g.account.id})
        schedules.delete_saved(db.session, saved)
        act.said(_("Deleted."))
    return redirect(url_for("portal.reports"))


@bp.post("/reports/subscriptions")
def subscribe_report():
    form = request.form
    report = "saved" if form.get("report") == "saved" else "partner"
    subject = form.get("subject_id", "")
    subject_id = int(subject) if report == "saved" and subject.isdigit() else g.account.id
    with acting(_("Not subscribed"), schedules.ScheduleError) as act:
        if report == "saved":
            _saved(subject_id)
        row = schedules.subscribe(db.session, report, subject_id, form.get("email", ""), user_id=current_user.id,
                                  partner_id=g.account.id, language=form.get("language") or current_language())
        act.audit("report.subscribed", "report_subscription", row.id,
                  {"report": row.report, "subject": row.subject_id, "email": row.email})
        act.said(_("%(email)s gets this report when each month ends.", email=row.email))
    back = form.get("next") or ""
    return redirect(back if back.startswith("/portal/") else url_for("portal.reports") + "#subscriptions")


@bp.post("/reports/subscriptions/<int:subscription_id>/delete")
def unsubscribe_report(subscription_id: int):
    if not any(s.id == subscription_id for s in schedules.subscriptions(db.session, partner_id=g.account.id,
                                                                        staff=False)):
        abort(404)
    with acting(_("Not removed"), schedules.ScheduleError) as act:
        row = schedules.unsubscribe(db.session, subscription_id, partner_id=g.account.id, staff=False)
        act.audit("report.unsubscribed", "report_subscription", subscription_id, {"email": row.email})
        act.said(_("%(email)s no longer gets this report.", email=row.email))
    back = request.form.get("next") or ""
    return redirect(back if back.startswith("/portal/") else url_for("portal.reports") + "#subscriptions")
