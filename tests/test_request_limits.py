"""Request bodies have a size limit per surface: a 413, JSON on the API, a page elsewhere."""
import json


def test_each_surface_refuses_a_body_over_its_limit(app, network):
    client = app.test_client()
    key = network["partners"][0]["api_key"]
    huge = json.dumps({"orders": [{"reference": "x" * 1000}] * 6000})  # about 6 MB
    r = client.post("/api/v1/orders/bulk", data=huge, content_type="application/json",
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "payload_too_large"
    # A sign-in form of 20 KB is refused; a normal one is read.
    r = client.post("/login", data={"email": "a@b.c", "password": "p" * 20_000})
    assert r.status_code == 413 and "Too large" in r.get_data(as_text=True)
    assert client.post("/login", data={"email": "a@b.c", "password": "short"}).status_code in (400, 401)
    # The CSV upload takes a file larger than the API's JSON limit.
    row = "reference,service_level\n" + "R,standard\n" * 600_000  # about 6.6 MB
    r = client.post("/api/v1/orders/csv", data=row, content_type="text/csv",
                    headers={"Authorization": f"Bearer {key}"})
    assert r.status_code != 413
