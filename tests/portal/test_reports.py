"""A partner's reports in the portal: its own month (page, PDF, XLSX) and nothing of any
other partner's; its builder reads its own rows only and offers nothing staff-only; its
saved reports and subscriptions are its own."""
from __future__ import annotations

import io

import openpyxl
import pypdfium2 as pdfium
from sqlalchemy import select

from app.crm.models import Partner
from app.orders.models import Shipment
from app.reports import builder, schedules
from tests.auth.conftest import client, csrf_of, sign_in, users  # noqa: F401 (fixtures)
from tests.reports.conftest import month  # noqa: F401 (fixture)


def test_a_partner_reads_its_own_month_and_nothing_of_another(month, users, client, session):  # noqa: F811
    period, start, end = month
    with client.application.app_context():
        mine = session.get(Partner, users["partner"].partner_id)
        others = [p.name for p in session.scalars(select(Partner).where(Partner.id != mine.id))]
        shipped = len([s for s in session.scalars(select(Shipment).where(Shipment.partner_id == mine.id))])
        theirs = schedules.save(session, "Another's", {"source": "shipments", "measures": ["count"]}, owner_id=None,
                                partner_id=next(p.id for p in session.scalars(select(Partner)) if p.id != mine.id),
                                shared=True)
        session.commit()
        theirs_id, mine_name = theirs.id, mine.name
        session.remove()
    assert shipped
    sign_in(client, "shop@test.example")
    page = client.get(f"/portal/reports?period={period}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert mine_name in html and "<svg" in html and not any(name in html for name in others)
    pdf = client.get(f"/portal/reports/monthly.pdf?period={period}")
    text = pdfium.PdfDocument(pdf.get_data())[0].get_textpage().get_text_range()
    assert mine_name in text and not any(name in text for name in others)
    book = openpyxl.load_workbook(io.BytesIO(client.get(f"/portal/reports/monthly.xlsx?period={period}").get_data()))
    assert book.worksheets[0]["A1"].value.endswith(mine_name)

    form = client.get("/portal/reports/build?source=attempts").get_data(as_text=True)
    assert 'name="d" value="driver"' not in form and 'name="f_partner"' not in form
    refused = client.get("/portal/reports/build?source=attempts&m=count&d=driver&run=1")
    assert refused.status_code == 422 and "not available in a partner&#39;s report: driver" in refused.get_data(as_text=True)
    query = [("source", "shipments"), ("m", "count"), ("d", "partner"), ("start", start.isoformat()),
             ("end", end.isoformat())]
    rows = client.get("/portal/reports/build/export.csv", query_string=query).get_data(as_text=True).splitlines()
    assert rows[1:] and all(row.startswith(mine_name) for row in rows[1:])
    # Asking for another partner's rows by filter gets its own, filtered: nothing.
    with client.application.app_context():
        other_id = next(p.id for p in session.scalars(select(Partner)) if p.id != users["partner"].partner_id)
        session.remove()
    filtered = client.get("/portal/reports/build/export.csv",
                          query_string=query + [("f_partner", str(other_id))]).get_data(as_text=True).splitlines()
    assert filtered[1:] == []

    assert client.get(f"/portal/reports/saved/{theirs_id}").status_code == 404
    saved = client.post("/portal/reports/subscriptions", data={"report": "saved", "subject_id": theirs_id,
                                                               "email": "me@shop.example",
                                                               "csrf_token": csrf_of(html)})
    assert saved.status_code == 404  # another account's report, as any object of another account
    ok = client.post("/portal/reports/subscriptions", data={"report": "partner", "email": "me@shop.example",
                                                            "csrf_token": csrf_of(html)}, follow_redirects=True)
    assert "me@shop.example gets this report when each month ends." in ok.get_data(as_text=True)
    with client.application.app_context():
        [row] = schedules.subscriptions(session, partner_id=users["partner"].partner_id, staff=False)
        assert (row.report, row.subject_id) == ("partner", users["partner"].partner_id)


def test_the_builder_forces_the_partners_filter(session, month):  # noqa: F811
    _, start, end = month
    partners = session.scalars(select(Partner.id)).all()
    spec = builder.parse({"source": "shipments", "measures": ["count"], "start": start.isoformat(),
                          "end": end.isoformat()}, partner_scoped=True)
    total = builder.run(spec, session=session).rows[0][0]
    assert sum(builder.run(spec, partner_id=p, session=session).rows[0][0] for p in partners) == total
