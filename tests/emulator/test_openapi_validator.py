"""The response validator itself: it finds real differences, and says so when it cannot run."""

from __future__ import annotations

import json
from typing import Any

from .conftest import OpenApiValidator


def test_validator_reports_a_wrong_type_and_a_bad_error_body(
    openapi_spec: dict[str, Any],
) -> None:
    checker = OpenApiValidator(openapi_spec)
    checker("GET", "/2.0/users/me", 200, json.dumps({"type": "user", "id": 5}).encode())
    checker("GET", "/2.0/users/me", 404, json.dumps({"status": 404}).encode())
    checker("GET", "/2.0/users/me", 200, json.dumps({"type": "user", "id": "5", "name": "A"}).encode())
    assert len(checker.problems) == 2
    assert "id" in checker.problems[0] and "bad error body" in checker.problems[1]
