"""A partner sees only its own: every API route that names an object answers 404 to
another partner, exactly as for an object that does not exist."""
import pytest

from tests.api.test_orders import post

NEW_ADDRESS = {"line1": "5 Cong Hoa", "city": "Ho Chi Minh City", "country": "VN", "lat": 10.799, "lon": 106.656}
#: A valid request for every route with a path parameter: (method, rule) -> JSON body.
REQUESTS = {
    ("GET", "/api/v1/orders/<id:order_id>"): None,
    ("POST", "/api/v1/orders/<id:order_id>/cancel"): {"reason": "changed my mind"},
    ("POST", "/api/v1/orders/<id:order_id>/address"): {"address": NEW_ADDRESS},
    ("GET", "/api/v1/orders/<id:order_id>/label"): None,
    ("GET", "/api/v1/tracking/<tracking_number>"): None,
    ("GET", "/api/v1/webhook-endpoints/<id:endpoint_id>"): None,
    ("PATCH", "/api/v1/webhook-endpoints/<id:endpoint_id>"): {"description": "mine now"},
    ("DELETE", "/api/v1/webhook-endpoints/<id:endpoint_id>"): None,
    ("POST", "/api/v1/webhook-endpoints/<id:endpoint_id>/rotate-secret"): None,
    ("POST", "/api/v1/webhook-endpoints/<id:endpoint_id>/test"): None,
    ("POST", "/api/v1/webhook-endpoints/<id:endpoint_id>/replay"): {"event_id": "evt_1"},
    ("GET", "/api/v1/webhook-endpoints/<id:endpoint_id>/deliveries"): None,
    ("POST", "/api/v1/api-keys/<prefix>/revoke"): None,
    ("GET", "/api/v1/cases/<id:case_id>"): None,
    ("POST", "/api/v1/cases/<id:case_id>/messages"): {"message": "any news?"},
}


#: Routes whose objects another test makes (an invoice, a remittance) and checks there for
#: the same 404: tests/api/test_finance.py.
FINANCE = {
    ("GET", "/api/v1/invoices/<id:invoice_id>"), ("GET", "/api/v1/invoices/<id:invoice_id>/pdf"),
    ("GET", "/api/v1/invoices/<id:invoice_id>/csv"), ("GET", "/api/v1/remittances/<id:remittance_id>"),
    ("GET", "/api/v1/remittances/<id:remittance_id>/pdf"), ("GET", "/api/v1/remittances/<id:remittance_id>/csv"),
}


def api_routes_with_objects(app):
    # The inbound URL names its partner by a secret token and is proved by a signature,
    # not by an API key: tests/api/test_inbound.py.
    return {(method, rule.rule) for rule in app.url_map.iter_rules()
            if rule.rule.startswith("/api/v1/") and rule.arguments and not rule.rule.startswith("/api/v1/inbound/")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_naming_an_object_is_listed_here(app):
    assert api_routes_with_objects(app) == set(REQUESTS) | FINANCE


@pytest.mark.parametrize("method, rule", sorted(REQUESTS))
def test_another_partner_gets_404(app, client, keys, method, rule):
    app.config["WAYBILL_ALLOW_PRIVATE_WEBHOOKS"] = True
    a, b = ({"Authorization": f"Bearer {k}"} for k in keys[:2])
    order = post(client, keys[0]).get_json()
    endpoint = client.post("/api/v1/webhook-endpoints", json={"url": "http://127.0.0.1:9/h"}, headers=a).get_json()
    case = client.post("/api/v1/cases", json={"type": "late", "tracking_number": order["tracking_number"],
                                              "message": "late"}, headers=a).get_json()
    path = (rule.replace("<id:order_id>", str(order["id"]))
            .replace("<id:case_id>", str(case["id"]))
            .replace("<tracking_number>", order["tracking_number"])
            .replace("<id:endpoint_id>", str(endpoint["id"]))
            .replace("<prefix>", "_".join(keys[0].split("_")[:2])))
    body = REQUESTS[(method, rule)]
    kwargs = {"json": body} if body is not None else {}
    r = client.open(path, method=method, headers=b, **kwargs)
    assert r.status_code == 404, (path, r.status_code, r.get_data()[:200])
    assert r.get_json()["error"]["code"] == "not_found"
    # The same request by the owner is not a 404 (the object is there).
    if method == "GET":
        assert client.open(path, method=method, headers=a).status_code == 200
