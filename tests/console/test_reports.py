"""Reports in the console, as management uses them: last month's reports as pages, PDF and
XLSX; a report of failed attempts by reason and district for one hub, built, exported,
saved and e-mailed monthly; what is refused and who may see what."""
from __future__ import annotations

import csv
import io
import re

import openpyxl
import pypdfium2 as pdfium
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.hubs.models import Hub
from app.reports import builder
from app.reports.models import ReportSubscription, SavedReport
from tests.auth.conftest import client, csrf_of, sign_in, users  # noqa: F401 (fixtures)
from tests.reports.conftest import month  # noqa: F401 (fixture)


def test_management_opens_last_months_reports(month, users, client):  # noqa: F811
    period, start, end = month
    sign_in(client, "admin@test.example")
    home = client.get("/console/reports/")
    assert home.status_code == 200
    page = home.get_data(as_text=True)
    assert f'value="{period}" selected' in page and "/console/reports/company/0?period=" in page
    company = client.get(f"/console/reports/company/0?period={period}")
    assert company.status_code == 200
    html = company.get_data(as_text=True)
    assert "<svg" in html and "Revenue (ledger, VAT excluded)" in html and period in html
    pdf = client.get(f"/console/reports/company/0.pdf?period={period}")
    assert pdf.mimetype == "application/pdf"
    text = pdfium.PdfDocument(pdf.get_data())[0].get_textpage().get_text_range()
    assert "The company" in text
    xlsx = client.get(f"/console/reports/company/0.xlsx?period={period}")
    assert openpyxl.load_workbook(io.BytesIO(xlsx.get_data())).worksheets[0]["A1"].value.startswith("Monthly report")
    # Any period, not only a month.
    week = client.get(f"/console/reports/company/0?start={start.isoformat()}&end={start.replace(day=7).isoformat()}")
    assert f"{start.isoformat()} – {start.replace(day=7).isoformat()}" in week.get_data(as_text=True)


def test_failed_attempts_by_reason_and_district_for_a_hub_built_exported_and_scheduled(month, users, client,  # noqa: F811
                                                                                       session):
    period, start, end = month
    with client.application.app_context():
        from app.delivery.models import DeliveryAttempt
        from app.orders.models import Shipment
        hub_id = session.execute(select(Shipment.delivery_hub_id, func.count()).join(
            DeliveryAttempt, DeliveryAttempt.shipment_id == Shipment.id).where(DeliveryAttempt.outcome == "failed")
            .group_by(Shipment.delivery_hub_id).order_by(func.count().desc())).first()[0]
        spec = builder.parse({"source": "attempts", "measures": ["failed"], "dimensions": ["failure_reason", "district"],
                              "filters": {"hub": [hub_id], "outcome": ["failed"]}, "start": start.isoformat(),
                              "end": end.isoformat()})
        expected = builder.run(spec, session=session)
        session.remove()
    sign_in(client, "admin@test.example")
    form = client.get("/console/reports/build?source=attempts").get_data(as_text=True)
    assert 'name="m" value="failed"' in form and 'name="d" value="district"' in form and 'name="f_hub"' in form
    query = builder.to_query(spec)
    shown = client.get("/console/reports/build", query_string=query + [("run", "1")])
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    table = page[page.index('id="result-table"'):]
    assert table.count("<tr>") == len(expected.rows) + 1 and expected.rows
    assert "nobody at home" in table
    assert "<svg" in page

    csv_rows = list(csv.reader(io.StringIO(client.get("/console/reports/build/export.csv",
                                                      query_string=query).get_data(as_text=True)[1:])))
    assert csv_rows[0] == ["Failure reason", "District", "Failed"] and len(csv_rows) == len(expected.rows) + 1
    assert sum(int(r[2]) for r in csv_rows[1:]) == sum(r[2] for r in expected.rows)
    book = openpyxl.load_workbook(io.BytesIO(client.get("/console/reports/build/export.xlsx",
                                                        query_string=query).get_data()))
    assert [c.value for c in book.worksheets[0][1]] == ["Failure reason", "District", "Failed"]
    pdf = client.get("/console/reports/build/export.pdf", query_string=query)
    assert pdf.mimetype == "application/pdf" and pdfium.PdfDocument(pdf.get_data())

    saved = client.post("/console/reports/saved", data=MultiDict(
        query + [("name", "Failed at the hub"), ("period", "last_month"), ("csrf_token", csrf_of(page))]))
    assert saved.status_code == 302 and "/console/reports/saved/" in saved.headers["Location"]
    opened = client.get(saved.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert "Failed at the hub" in opened and 'id="result-table"' in opened
    report_id = int(re.search(r"/console/reports/saved/(\d+)", saved.headers["Location"]).group(1))
    subscribed = client.post("/console/reports/subscriptions", data={
        "report": "saved", "subject_id": report_id, "email": "ops@waybill.example", "language": "en",
        "csrf_token": csrf_of(opened)}, follow_redirects=True)
    assert "ops@waybill.example gets this report when each month ends." in subscribed.get_data(as_text=True)
    with client.application.app_context():
        from app.db import db
        [row] = db.session.scalars(select(ReportSubscription)).all()
        assert (row.report, row.subject_id, row.email) == ("saved", report_id, "ops@waybill.example")
        stored = db.session.get(SavedReport, report_id)
        assert stored.period == "last_month" and stored.spec["filters"] == {"hub": [hub_id], "outcome": ["failed"]}


def test_what_the_builder_refuses_is_said(users, client):  # noqa: F811
    sign_in(client, "disp@test.example")
    bad = client.get("/console/reports/build?source=shipments&m=password_hash&run=1")
    assert bad.status_code == 422 and "unknown measure: password_hash" in bad.get_data(as_text=True)
    assert client.get("/console/reports/build/export.csv?source=users&m=count").status_code == 422
    assert client.get("/console/reports/company/0").status_code == 403  # the company's month: admin and finance


def test_a_hub_operator_reads_its_own_hubs_month_only(users, client, session):  # noqa: F811
    with client.application.app_context():
        hubs = {h.code: h.id for h in session.scalars(select(Hub))}
        session.remove()
    sign_in(client, "d7@test.example")
    assert client.get(f"/console/reports/hub/{hubs['SGN-D7']}").status_code == 200
    assert client.get(f"/console/reports/hub/{hubs['SGN-TD']}").status_code == 404
    assert client.get(f"/console/reports/hub/{hubs['SGN-TD']}.pdf").status_code == 404
    assert client.get("/console/reports/company/0").status_code == 403
    assert client.get("/console/reports/build").status_code == 403
