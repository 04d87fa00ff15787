"""/api/v1/api-keys: a partner rotates its own keys."""


def test_a_partner_makes_a_new_key_and_revokes_the_old_one(client, keys):
    old = {"Authorization": f"Bearer {keys[0]}"}
    made = client.post("/api/v1/api-keys", headers=old)
    assert made.status_code == 201
    new_key = made.get_json()["key"]
    new = {"Authorization": f"Bearer {new_key}"}
    assert client.get("/api/v1/hubs", headers=new).status_code == 200
    listed = client.get("/api/v1/api-keys", headers=new).get_json()
    assert {k["prefix"] for k in listed} == {"_".join(keys[0].split("_")[:2]), made.get_json()["prefix"]}
    assert all("key" not in k for k in listed)
    old_prefix = "_".join(keys[0].split("_")[:2])
    r = client.post(f"/api/v1/api-keys/{old_prefix}/revoke", headers=new)
    assert r.status_code == 200 and r.get_json()["revoked_at"]
    assert client.get("/api/v1/hubs", headers=old).status_code == 401
    assert client.get("/api/v1/hubs", headers=new).status_code == 200


def test_active_keys_are_bounded(client, keys):
    auth = {"Authorization": f"Bearer {keys[0]}"}
    statuses = [client.post("/api/v1/api-keys", headers=auth).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 201, 409]
