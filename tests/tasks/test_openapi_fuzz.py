"""Schemathesis against the app's own OpenAPI document, with a valid API key: no input gives a
server error, and every answer matches what the document says (status, media type, body)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import Stack
from tests.tasks.helpers import key_headers

#: Examples per operation and mode (data that fits the schema, data that does not); the
#: whole run stays well under a minute.
EXAMPLES = 30
#: Covered by their own tests (tests/tasks/test_chatops.py, forged, stale, replayed and hostile
#: requests): the Slack request surface, whose requests must be signed with the raw body.
SKIPPED_PATHS = ("/slack/interactions", "/slack/commands")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [
        result.ok()
        for result in schema.get_all_operations()
        if result.ok().path not in SKIPPED_PATHS
    ]


def test_no_input_gives_a_server_error_or_breaks_the_schema(web: TestClient, clean: Stack) -> None:
    headers = key_headers("tenant-a")
    operations = _operations(web.app)
    assert {op.path for op in operations} >= {
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}",
        "/api/v1/silences",
        "/api/v1/integrations/alertmanager/{tenant_id}",
    }
    failures: list[str] = []
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case: Any) -> None:
            if "tenant_id" in (case.path_parameters or {}):
                # Mostly the caller's own tenant, so that the body is read at all.
                case.path_parameters["tenant_id"] = "tenant-a"
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS, headers=headers)

        try:
            run()
        except Unsatisfiable:
            # Nothing of the operation can be made invalid (a bare path such as /metrics).
            continue
        except Exception as exc:  # a failure report per operation, all operations run
            failures.append(f"{operation.label} ({mode.value} data): {exc}")
    assert not failures, "\n\n".join(failures)


@pytest.mark.parametrize("path", ["/api/v1/alerts", "/api/v1/silences"])
def test_error_answers_are_documented(web: TestClient, path: str) -> None:
    document = web.get("/openapi.json").json()
    answers = document["paths"][path]["post"]["responses"]
    for code in ("401", "413", "422"):
        assert answers[code]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorBody"
        }
    body = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] != {}, "the request body is typed"
