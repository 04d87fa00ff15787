"""The OpenAPI document is a valid OpenAPI 3.0 document: every $ref resolves."""
from openapi_spec_validator import validate


def test_the_openapi_document_is_valid_and_every_reference_resolves(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(document)  # raises, naming the path, on anything invalid or unresolved
    assert "InboundEnvelope" in document["components"]["schemas"]
    quote = document["components"]["schemas"]["QuoteRequest"]["properties"]["dropoff"]
    assert {"$ref": "#/components/schemas/Contact"} in quote["oneOf"]
