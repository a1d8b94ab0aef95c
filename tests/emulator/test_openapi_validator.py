"""The response validator itself: it finds real differences, and says so when it cannot run."""

from __future__ import annotations

import json

import pytest

from .conftest import OPENAPI, OpenApiValidator


def test_openapi_spec_is_present(openapi_validator: OpenApiValidator | None) -> None:
    if openapi_validator is None:
        pytest.skip(f"OpenAPI validation of emulator responses is off: {OPENAPI} is absent")


def test_validator_reports_a_wrong_type_and_a_bad_error_body(
    openapi_validator: OpenApiValidator | None,
) -> None:
    if openapi_validator is None:
        pytest.skip(f"{OPENAPI} is absent")
    checker = OpenApiValidator(json.loads(OPENAPI.read_text()))
    checker("GET", "/2.0/users/me", 200, json.dumps({"type": "user", "id": 5}).encode())
    checker("GET", "/2.0/users/me", 404, json.dumps({"status": 404}).encode())
    checker("GET", "/2.0/users/me", 200, json.dumps({"type": "user", "id": "5", "name": "A"}).encode())
    assert len(checker.problems) == 2
    assert "id" in checker.problems[0] and "bad error body" in checker.problems[1]
