"""Saved reports, and the monthly e-mails of reports to their subscribers.

When a month ends, each subscription made before it began is owed that month's report once:
``queue_due`` writes a sending (unique per subscription and month) and its outbox row in
one transaction; the worker draws the files and sends them after the commit
(``email_for``), then records it (``mark_sent``). Two schedulers at once write one sending."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

from flask_babel import gettext as _
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import clock
from app.crm.models import Partner
from app.hubs.models import Hub
from app.i18n import LANGUAGES, speaking
from app.outbox import add_outbox
from app.reports import builder, documents, monthly
from app.reports.models import ReportSending, ReportSubscription, SavedReport

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REPORTS = ("partner", "hub", "company", "saved")
PERIODS = ("fixed", "last_month")


class ScheduleError(ValueError):
    """A report or subscription that cannot be kept as asked."""


# -- saved reports -----------------------------------------------------------------------

def save(session: Session, name: str, fields: dict, *, owner_id: int | None, partner_id: int | None = None,
         shared: bool = False, period: str = "fixed", today: date | None = None) -> SavedReport:
    """Keep a builder's report by name (its fields checked as the builder checks them). Flushes."""
    name = (name or "").strip()
    if not name:
        raise ScheduleError("give the report a name")
    if period not in PERIODS:
        raise ScheduleError(f"period must be one of {', '.join(PERIODS)}")
    try:
        spec = builder.parse(fields, partner_scoped=partner_id is not None, today=today)
    except builder.ReportError as exc:
        raise ScheduleError(str(exc)) from None
    report = SavedReport(name=name[:120], spec=spec.to_json(), period=period, partner_id=partner_id,
                         owner_id=owner_id, shared=bool(shared), created_at=clock.now(), updated_at=clock.now())
    session.add(report)
    session.flush()
    return report


def visible_saved(session: Session, *, user_id: int, partner_id: int | None) -> list[SavedReport]:
    """The saved reports a person sees: their own and those shared on their side."""
    side = SavedReport.partner_id.is_(None) if partner_id is None else SavedReport.partner_id == partner_id
    return list(session.scalars(select(SavedReport).where(side, or_(SavedReport.owner_id == user_id,
                                                                       SavedReport.shared.is_(True)))
                                .order_by(SavedReport.name, SavedReport.id)))


def saved_for(session: Session, report_id: int, *, user_id: int, partner_id: int | None) -> SavedReport | None:
    report = session.get(SavedReport, report_id)
    if report is None or report.partner_id != partner_id or (report.owner_id != user_id and not report.shared):
        return None
    return report


def spec_of(report: SavedReport, *, today: date | None = None) -> builder.Spec:
    """The saved report's spec, its period moved to last month when it follows the calendar."""
    spec = builder.parse(report.spec, partner_scoped=report.partner_id is not None, today=today)
    if report.period == "last_month":
        spec.start, spec.end = builder.last_month(today or clock.today())
    return spec


def delete_saved(session: Session, report: SavedReport) -> None:
    session.execute(delete(ReportSubscription).where(ReportSubscription.report == "saved",
                                                     ReportSubscription.subject_id == report.id))
    session.delete(report)
    session.flush()


# -- subscriptions -----------------------------------------------------------------------

def subscribe(session: Session, report: str, subject_id: int, email: str, *, user_id: int | None,
              partner_id: int | None = None, language: str = "vi") -> ReportSubscription:
    """``email`` gets ``report`` of ``subject_id`` each month. A partner's people subscribe
    to their own monthly report and their own saved reports only. Flushes."""
    email = (email or "").strip().lower()
    if not EMAIL.match(email):
        raise ScheduleError(f"{email!r} is not an e-mail address")
    if report not in REPORTS:
        raise ScheduleError(f"report must be one of {', '.join(REPORTS)}")
    if partner_id is not None and not (report == "partner" and subject_id == partner_id or report == "saved"):
        raise ScheduleError("a partner subscribes to its own reports")
    subject_id = 0 if report == "company" else subject_id
    table = {"partner": Partner, "hub": Hub, "saved": SavedReport}.get(report)
    subject = session.get(table, subject_id) if table is not None else None
    if table is not None and (subject is None or (report == "saved" and subject.partner_id != partner_id)):
        raise ScheduleError("no such report")
    found = session.scalars(select(ReportSubscription).where(
        ReportSubscription.report == report, ReportSubscription.subject_id == subject_id,
        ReportSubscription.email == email)).first()
    if found is not None:
        raise ScheduleError(f"{email} already gets this report")
    row = ReportSubscription(report=report, subject_id=subject_id, email=email, partner_id=partner_id,
                             language=language if language in LANGUAGES else "vi", created_by=user_id,
                             created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def subscriptions(session: Session, *, partner_id: int | None = None, staff: bool = True) -> list[ReportSubscription]:
    stmt = select(ReportSubscription).order_by(ReportSubscription.report, ReportSubscription.subject_id,
                                               ReportSubscription.email)
    if not staff:
        stmt = stmt.where(ReportSubscription.partner_id == partner_id)
    return list(session.scalars(stmt))


def unsubscribe(session: Session, subscription_id: int, *, partner_id: int | None = None,
                staff: bool = True) -> ReportSubscription:
    row = session.get(ReportSubscription, subscription_id)
    if row is None or (not staff and row.partner_id != partner_id):
        raise ScheduleError("no such subscription")
    session.execute(delete(ReportSending).where(ReportSending.subscription_id == row.id,
                                                ReportSending.sent_at.is_(None)))
    session.delete(row)
    session.flush()
    return row


# -- the monthly run -----------------------------------------------------------------------

def queue_due(session: Session, *, now: datetime | None = None) -> int:
    """Write the sendings owed for the month that ended last (each with its outbox row).
    Returns how many were written."""
    now = now or clock.now()
    today = clock.local(now).date()
    first = today.replace(day=1)
    period = (first - timedelta(days=1)).strftime("%Y-%m")
    began = datetime.combine(first, time(), clock.network_zone())
    owed = session.scalars(
        select(ReportSubscription).outerjoin(ReportSending, and_(ReportSending.subscription_id == ReportSubscription.id,
                                                                 ReportSending.period == period))
        .where(ReportSending.id.is_(None), ReportSubscription.created_at < began)
        .order_by(ReportSubscription.id)).all()
    written = 0
    for subscription in owed:
        try:
            with session.begin_nested():
                sending = ReportSending(subscription_id=subscription.id, period=period, created_at=now)
                session.add(sending)
                session.flush()
                add_outbox(session, "report_email", {"sending_id": sending.id})
            written += 1
        except IntegrityError:  # another scheduler wrote it first
            continue
    return written


def _report_files(session: Session, subscription: ReportSubscription, period: str, *, company, font):
    """(title, attachments) of the subscription's report for the month, or None when its
    subject is gone."""
    start, end = monthly.month_bounds(period)
    if subscription.report == "saved":
        saved = session.get(SavedReport, subscription.subject_id)
        if saved is None:
            return None
        spec = spec_of(saved, today=end + timedelta(days=1))
        result = builder.run(spec, partner_id=saved.partner_id, session=session)
        name = f"report-{saved.id}-{period}"
        return saved.name, ((f"{name}.pdf", documents.result_pdf(result, saved.name, company, font=font),
                             "application/pdf"),
                            (f"{name}.xlsx", documents.result_xlsx(result, saved.name),
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    try:
        report = monthly.make(session, subscription.report, subscription.subject_id, start, end)
    except monthly.NotFound:
        return None
    return f"{report.title} · {report.subject}", (
        (f"{report.filename}.pdf", documents.report_pdf(report, company, font=font), "application/pdf"),
        (f"{report.filename}.xlsx", documents.report_xlsx(report),
         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))


def email_for(session: Session, sending_id: int, *, company, font: str | None = None, public_url: str = ""):
    """(to, subject, body, attachments) of a sending not yet sent, in the subscriber's
    language; None when there is nothing to send (sent already, or its report is gone)."""
    sending = session.get(ReportSending, sending_id)
    if sending is None or sending.sent_at is not None:
        return None
    subscription = session.get(ReportSubscription, sending.subscription_id)
    if subscription is None:
        return None
    with speaking(subscription.language):
        found = _report_files(session, subscription, sending.period, company=company, font=font)
        if found is None:
            return None
        title, attachments = found
        subject = _("%(report)s, %(period)s", report=title, period=sending.period)
        body = _("Hello,\n\nattached is %(report)s for %(period)s, as PDF and as a spreadsheet.\n\n"
                 "You get it each month because %(email)s subscribed to it; to stop, remove the "
                 "subscription on the reports page: %(url)s\n\n%(company)s\n",
                 report=title, period=sending.period, email=subscription.email,
                 url=f"{public_url}/{'portal' if subscription.partner_id else 'console'}/reports",
                 company=company.name)
    return subscription.email, subject, body, attachments


def mark_sent(session: Session, sending_id: int) -> None:
    sending = session.get(ReportSending, sending_id)
    if sending is not None and sending.sent_at is None:
        sending.sent_at = clock.now()
