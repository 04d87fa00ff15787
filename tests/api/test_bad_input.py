"""Bad input gets a 4xx naming the field, on every path (JSON, CSV), and nothing is stored:
what a security review sent, one by one."""
import csv
import io
import json
import uuid

import pytest
from sqlalchemy import func, select

from app.orders.csv_import import COLUMNS, template
from app.orders.models import Order
from tests.api.test_orders import BODY, post


def _csv(**changes) -> str:
    [row] = list(csv.DictReader(io.StringIO(template())))
    row.update(changes)
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    return out.getvalue()


@pytest.mark.parametrize("changes, column, words", [
    ({"dropoff_name": "N" * 100_000}, "dropoff_name", "longer than 200"),
    ({"dropoff_email": "lan@example.com\r\nBcc: all@example.com"}, "dropoff_email", "not an email address"),
    ({"weight_grams": str(10**12)}, "weight_grams", "from 1 to 1,000,000"),
    ({"cod_amount": str(10**18)}, "cod_amount", "whole number of minor units"),
    ({"cod_amount": str(10**20)}, "cod_amount", "whole number of minor units"),
    ({"cod_amount": "250000.99"}, "cod_amount", "not a whole number"),
    ({"cod_currency": "USD"}, "cod_currency", "collected in VND, not USD"),
    ({"dropoff_name": "Lan\x00"}, "dropoff_name", "NUL"),
])
def test_the_csv_path_checks_what_the_json_path_checks(client, keys, session, changes, column, words):
    r = client.post("/api/v1/orders/csv", data=_csv(**changes).encode(), content_type="text/csv",
                    headers={"Authorization": f"Bearer {keys[0]}", "Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 200, r.get_data(as_text=True)
    [row] = r.get_json()["results"]
    assert row["status"] == "rejected" and any(
        e["column"] == column and words in e["message"] for e in row["errors"]), row["errors"]
    assert session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.parametrize("body, field", [
    ({**BODY, "cod": {"amount": 250000.99, "currency": "VND"}}, "cod"),
    ({**BODY, "cod": {"amount": 250000, "currency": "USD"}}, "cod.currency"),
    ({**BODY, "parcels": [{**BODY["parcels"][0], "declared_value": {"amount": 10, "currency": "ZZZ"}}]}, "parcels"),
    ({**BODY, "parcels": [{**BODY["parcels"][0], "weight_grams": 1200.5}]}, "parcels"),
    ({**BODY, "reference": "SO\x00-1"}, "reference"),
])
def test_the_json_path_refuses_decimals_foreign_currencies_and_nul(client, keys, session, body, field):
    r = post(client, keys[0], body)
    assert r.status_code == 422, r.get_json()
    assert field in json.dumps(r.get_json()["error"])
    assert session.scalar(select(func.count()).select_from(Order)) == 0


@pytest.mark.parametrize("raw", [
    '{"reference": "\\ud800"}',  # a lone surrogate
    '{"reference": ' + "9" * 5000 + '}',  # an integer of 5,000 digits
    '[' * 100_000 + ']' * 100_000,  # nested too deep
    '{"reference": "x", ',  # not JSON
])
def test_malformed_json_is_a_400_or_422_not_a_500(client, keys, raw):
    r = client.post("/api/v1/orders", data=raw, content_type="application/json",
                    headers={"Authorization": f"Bearer {keys[0]}", "Idempotency-Key": "bad-json"})
    assert r.status_code in (400, 422), (r.status_code, r.get_data(as_text=True)[:300])
    assert r.get_json()["error"]["message"]


def test_a_lone_surrogate_in_a_field_is_refused_by_name(client, keys, session):
    raw = json.dumps({**BODY, "dropoff": {**BODY["dropoff"], "name": "Lan"}}).replace('"Lan"', '"L\\ud800n"')
    r = client.post("/api/v1/orders", data=raw, content_type="application/json",
                    headers={"Authorization": f"Bearer {keys[0]}", "Idempotency-Key": "surrogate"})
    assert r.status_code in (400, 422) and "dropoff" in json.dumps(r.get_json()["error"])
