"""schemathesis against the OpenAPI document: generated requests, valid and not, to every
operation; no answer may be a 5xx or differ from what the document promises.

The operations are walked here rather than with ``schemathesis.pytest.from_fixture``,
whose lazy fixture does not run under pytest 9."""
import os
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
#: The same examples every run (CI must not turn red by chance); WAYBILL_FUZZ_EXAMPLES=500
#: WAYBILL_FUZZ_RANDOM=1 explores further when hunting.
EXAMPLES = int(os.environ.get("WAYBILL_FUZZ_EXAMPLES", "40"))
RANDOM = os.environ.get("WAYBILL_FUZZ_RANDOM") == "1"


def test_no_server_error_and_every_answer_fits_the_document(app, network, backend):
    if backend != "sqlite":
        pytest.skip("the document is the same on every database; fuzzed once, on SQLite")
    app.config["WAYBILL_API_RATE_LIMIT"] = "100000 per second"
    app.config["TESTING"] = False  # an exception becomes a 500 answer, which the check sees
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {network['partners'][0]['api_key']}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not RANDOM,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers={**headers, "Idempotency-Key": str(uuid.uuid4())}, checks=CHECKS)

        check()
