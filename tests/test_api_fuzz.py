"""Property-based fuzzing of the OpenAPI schema with schemathesis, over real HTTP: whatever a client sends, the
server answers without a 5xx and without a stack trace, in the documented shapes.

Bounded (a few examples per operation) so the suite stays quick; provider base URLs point at a closed local port
and no provider key is set, so a sync the fuzzer triggers is catalog-only and never leaves the machine.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from modelsync.api.app import create_app


def _openapi() -> dict:
    """The app's OpenAPI document; building it touches no database."""
    from modelsync.db.engine import create_db_engine
    from modelsync.settings import Settings

    engine = create_db_engine("sqlite://")
    try:
        return create_app(Settings(), engine).openapi()
    finally:
        engine.dispose()


schema = schemathesis.openapi.from_dict(_openapi())


@schema.parametrize()
@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_input_makes_the_server_fail(case, api):
    for token in (api.tokens.super_admin, None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(base_url=api.url, headers=headers, timeout=60)
        assert response.status_code < 500, (case.method, case.formatted_path, response.text)
        assert "Traceback" not in response.text
        case.validate_response(
            response,
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        )
