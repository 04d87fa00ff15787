"""Reports e-mailed when a month ends: each subscriber gets the month's report once (two
runs, a redelivered job), to a real SMTP server, with a PDF and a workbook that open; a
subscription made during a month starts with that month; a partner subscribes only to its
own reports."""
from __future__ import annotations

import io
from datetime import datetime, time, timedelta

import openpyxl
import pypdfium2 as pdfium
import pytest
from sqlalchemy import func, select

from app import clock
from app.crm.models import Partner
from app.outbox import OutboxMessage
from app.reports import schedules
from app.reports.models import ReportSending
from app.reports.schedules import ScheduleError


def test_each_subscriber_gets_the_months_report_once(app, session, month):
    from tests.smtp import SmtpServer
    from workers.jobs import run_outbox_jobs

    period, start, _ = month
    partner = session.scalars(select(Partner).order_by(Partner.id)).first()
    with clock.at(datetime.combine(start + timedelta(days=1), time(9), clock.network_zone())):
        schedules.subscribe(session, "partner", partner.id, "Owner@Shop.example", user_id=None,
                            partner_id=partner.id, language="en")
        schedules.subscribe(session, "company", 0, "ceo@waybill.example", user_id=None, language="vi")
        saved = schedules.save(session, "Failed by reason", {"source": "attempts", "measures": ["failed"],
                                                             "dimensions": ["failure_reason"]},
                               owner_id=None, period="last_month")
        schedules.subscribe(session, "saved", saved.id, "ops@waybill.example", user_id=None, language="en")
    schedules.subscribe(session, "hub", 1, "late@waybill.example", user_id=None)  # made this month: not yet
    session.commit()

    assert schedules.queue_due(session) == 3
    assert schedules.queue_due(session) == 0  # a second scheduler, or the next hour's run
    session.commit()
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.topic == "report_email")).all()
    assert len(rows) == 3
    with SmtpServer() as smtp:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp.port)
        app.extensions.pop("waybill.mailer", None)
        ids = [r.id for r in rows]
        run_outbox_jobs(ids)
        run_outbox_jobs(ids)  # a redelivered message: the rows are done, nothing is sent again
        mails = {m["To"]: m for m in smtp.messages}
    assert len(smtp.messages) == 3 and set(mails) == {"owner@shop.example", "ceo@waybill.example",
                                                       "ops@waybill.example"}
    mine = mails["owner@shop.example"]
    assert partner.name in mine["Subject"] and period in mine["Subject"]
    files = {part.get_filename(): part.get_content() for part in mine.iter_attachments()}
    assert set(files) == {f"report-partner-{partner.id}-{period}.pdf", f"report-partner-{partner.id}-{period}.xlsx"}
    pdf = pdfium.PdfDocument(files[f"report-partner-{partner.id}-{period}.pdf"])
    assert partner.name in pdf[0].get_textpage().get_text_range()
    book = openpyxl.load_workbook(io.BytesIO(files[f"report-partner-{partner.id}-{period}.xlsx"]))
    assert book.worksheets[0]["A1"].value.endswith(partner.name)
    assert "Báo cáo" in mails["ceo@waybill.example"]["Subject"]  # in the subscriber's language
    ops = {part.get_filename() for part in mails["ops@waybill.example"].iter_attachments()}
    assert ops == {f"report-{saved.id}-{period}.pdf", f"report-{saved.id}-{period}.xlsx"}
    session.rollback()
    assert session.scalar(select(func.count()).select_from(ReportSending)
                          .where(ReportSending.sent_at.is_not(None), ReportSending.period == period)) == 3


def test_a_partner_subscribes_only_to_its_own_reports(session, network):
    mine, other = session.scalars(select(Partner).order_by(Partner.id)).all()[:2]
    with pytest.raises(ScheduleError, match="its own reports"):
        schedules.subscribe(session, "partner", other.id, "a@shop.example", user_id=None, partner_id=mine.id)
    with pytest.raises(ScheduleError, match="its own reports"):
        schedules.subscribe(session, "company", 0, "a@shop.example", user_id=None, partner_id=mine.id)
    staff_report = schedules.save(session, "All hubs", {"source": "shipments", "measures": ["count"]}, owner_id=None)
    theirs = schedules.save(session, "Other's", {"source": "shipments", "measures": ["count"]}, owner_id=None,
                            partner_id=other.id)
    for report_id in (staff_report.id, theirs.id):
        with pytest.raises(ScheduleError, match="no such report"):
            schedules.subscribe(session, "saved", report_id, "a@shop.example", user_id=None, partner_id=mine.id)
    with pytest.raises(ScheduleError, match="not available in a partner's report"):
        schedules.save(session, "Drivers", {"source": "attempts", "measures": ["count"], "dimensions": ["driver"]},
                       owner_id=None, partner_id=mine.id)
    with pytest.raises(ScheduleError, match="not an e-mail address"):
        schedules.subscribe(session, "partner", mine.id, "nobody", user_id=None, partner_id=mine.id)
    row = schedules.subscribe(session, "partner", mine.id, "a@shop.example", user_id=None, partner_id=mine.id)
    with pytest.raises(ScheduleError, match="already gets"):
        schedules.subscribe(session, "partner", mine.id, "A@shop.example", user_id=None, partner_id=mine.id)
    with pytest.raises(ScheduleError, match="no such subscription"):
        schedules.unsubscribe(session, row.id, partner_id=other.id, staff=False)
    schedules.unsubscribe(session, row.id, partner_id=mine.id, staff=False)
    assert schedules.subscriptions(session, partner_id=mine.id, staff=False) == []
