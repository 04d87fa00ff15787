"""Console and driver routes answer 4xx, never 500, to ids past what a column holds,
days out of range and text a database cannot store."""
import re
import uuid

import pytest

from tests.auth.conftest import sign_in

HUGE = 2**63 + 5


@pytest.mark.parametrize("path", [
    f"/console/shipments/{HUGE}", f"/console/hubs/{HUGE}/runsheets", f"/console/runsheets/{HUGE}/manifest.pdf",
    f"/console/hubs/{HUGE}/cash", f"/console/shipments?hub={HUGE}&partner={HUGE}&before={HUGE}",
    "/console/pickups?date=0001-01-01", "/console/pickups?date=9999-12-31", "/console/shipments?from=0001-01-01",
    f"/console/audit?before={HUGE}",
])
def test_console_reads_with_absurd_values_are_4xx_or_ignored(client, users, path):
    sign_in(client, "admin@test.example")
    assert client.get(path).status_code in (200, 400, 404)


def test_console_forms_with_absurd_ids_are_refused(client, users):
    sign_in(client, "disp@test.example")
    page = client.get("/console/pickups").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(f"/console/pickups/{HUGE}/driver", data={"driver": HUGE, "csrf_token": token}).status_code == 404
    assert client.post("/console/runsheets/stops/1/move", data={"driver": HUGE, "csrf_token": token}).status_code in (
        302, 404)


def test_driver_actions_with_absurd_values_are_refused_one_by_one(client, users):
    sign_in(client, "driver@test.example")
    page = client.get("/driver/").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)

    def send(actions):
        return client.post("/driver/actions", json={"actions": actions}, headers={"X-CSRFToken": token})

    r = send([{"id": str(uuid.uuid4()), "type": "deliver", "shipment_id": HUGE},
              {"id": str(uuid.uuid4()), "type": "pickup", "pickup_run_id": HUGE, "scanned": ["WB1"]},
              {"id": str(uuid.uuid4()), "type": "deliver", "shipment_id": 1, "cod_received": 10**30}])
    assert r.status_code == 200
    assert [o["ok"] for o in r.get_json()["results"]] == [False, False, False]
    nul = send([{"id": str(uuid.uuid4()), "type": "fail", "shipment_id": 1, "reason": "not_home", "note": "a\x00b"}])
    assert nul.status_code == 400 and "NUL" in nul.get_json()["message"]
    deep = client.post("/driver/actions", data="[" * 50_000 + "]" * 50_000, content_type="application/json",
                       headers={"X-CSRFToken": token})
    assert deep.status_code == 400
