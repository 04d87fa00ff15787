"""Every console list downloads whole, with its filters: CSV streamed a page at a time,
XLSX that opens with openpyxl; each person gets only the rows the list would show them."""
from __future__ import annotations

import csv
import io
from datetime import datetime

import openpyxl
from sqlalchemy import select

from app.hubs.models import Hub
from tests.auth.conftest import client, sign_in, users  # noqa: F401 (fixtures)
from tests.factories import THU_DUC_UNIVERSITY, create, order_in


def _csv(response) -> list[dict]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_the_shipments_search_downloads_every_match_with_its_filters(client, session, partner, users):  # noqa: F811
    from app.console import exports

    many = 2 * 3 + 1
    with client.application.app_context():
        for i in range(many):
            create(session, partner, order_in(f"EXP-{i}", **({"dropoff": THU_DUC_UNIVERSITY} if i % 2 else {})))
        session.commit()
        thu_duc = session.scalars(select(Hub.id).where(Hub.code == "SGN-TD")).one()
    exports.PAGE, page = 3, exports.PAGE  # read a page of three at a time: the pages join up
    try:
        sign_in(client, "disp@test.example")
        r = client.get("/console/shipments/export.csv")
        assert r.status_code == 200 and r.is_streamed and r.mimetype == "text/csv"
        assert 'filename="shipments-' in r.headers["Content-Disposition"]
        rows = _csv(r)
        assert sorted(row["reference"] for row in rows) == sorted(f"EXP-{i}" for i in range(many))
        assert len({row["tracking_number"] for row in rows}) == many  # no page read twice
        filtered = _csv(client.get("/console/shipments/export.csv", query_string={"hub": thu_duc}))
        assert {row["delivering_hub"] for row in filtered} == {"SGN-TD"} and len(filtered) == many // 2
        assert _csv(client.get("/console/shipments/export.csv", query_string={"q": "EXP-4"}))[0]["reference"] == "EXP-4"

        x = client.get("/console/shipments/export.xlsx", query_string={"hub": thu_duc})
        assert x.status_code == 200 and x.mimetype.endswith("spreadsheetml.sheet")
        sheet = openpyxl.load_workbook(io.BytesIO(x.get_data())).active
        table = list(sheet.iter_rows(values_only=True))
        assert table[0][:3] == ("tracking_number", "status", "partner") and len(table) == many // 2 + 1
        assert isinstance(table[1][8], datetime) and {r[6] for r in table[1:]} == {"SGN-TD"}
    finally:
        exports.PAGE = page

    # A hub operator downloads their own hub's shipments only.
    client.post("/logout", data={"csrf_token": _token(client)})
    sign_in(client, "d7@test.example")
    assert _csv(client.get("/console/shipments/export.csv", query_string={"hub": thu_duc})) == []


def _token(client) -> str:
    from tests.auth.conftest import csrf_of

    return csrf_of(client.get("/console/").get_data(as_text=True))


def test_cases_and_the_audit_log_download_for_those_who_may_read_them(client, session, partner, users):  # noqa: F811
    from app.crm import cases

    with client.application.app_context():
        shipment = create(session, partner, order_in("CASE-EXP"))
        opened = cases.open_case(session, "damaged", "Box crushed", "The corner is crushed", shipment_id=shipment.id,
                                 opened_via="staff")
        closed = cases.open_case(session, "feedback", "Thanks", "Kind driver", opened_via="staff")
        cases.set_status(session, closed, "closed", author_id=None, author_name="t")
        session.commit()
        shipment_id, opened_id, closed_id = shipment.id, opened.id, closed.id
    sign_in(client, "admin@test.example")
    open_rows = _csv(client.get("/console/crm/cases/export.csv"))
    assert [(int(r["case"]), r["type"], r["shipment_id"]) for r in open_rows] == [(opened_id, "damaged", str(shipment_id))]
    every = _csv(client.get("/console/crm/cases/export.csv", query_string={"status": "all"}))
    assert {int(r["case"]) for r in every} == {opened_id, closed_id}
    audit = _csv(client.get("/console/audit/export.csv"))
    assert any(r["action"] == "signed_in" and r["user"] == "admin@test.example" for r in audit)
    book = openpyxl.load_workbook(io.BytesIO(client.get("/console/finance/invoices/export.xlsx").get_data()))
    assert next(book.active.iter_rows(values_only=True))[:2] == ("number", "kind")

    client.post("/logout", data={"csrf_token": _token(client)})
    sign_in(client, "disp@test.example")
    assert client.get("/console/audit/export.csv").status_code == 403
    assert client.get("/console/finance/invoices/export.csv").status_code == 403
    assert client.get("/console/shipments/export.pdf").status_code == 404
