"""Emulator test fixtures: an SDK client factory and an OpenAPI validator applied to every JSON response."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from box_sdk_gen import BaseUrls, BoxClient, BoxDeveloperTokenAuth, NetworkSession

from box_mcp.emulator.testing import EmulatorHost, RunningEmulator, running_emulator

OPENAPI = "box-api/openapi.json"  # in the shared directory (tests/conftest.py shared_path)
OPENAPI_2025 = "box-api/openapi-v2025.0.json"  # the year-versioned endpoints (box-version: 2025.0)
ERROR_KEYS = {"type", "status", "code", "message", "context_info", "help_url", "request_id"}


def _convert(node: Any) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema: `nullable`, and oneOf read as anyOf (Box's unions overlap)."""
    if isinstance(node, list):
        return [_convert(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _convert(v)
        for k, v in node.items()
        if k not in ("nullable", "example", "discriminator", "x-box-resource-id", "format")
    }
    if isinstance(out.get("required"), list) and isinstance(out.get("properties"), dict):
        # The spec requires names it never defines (shared_link "accessed"): a typo, not a Box field.
        out["required"] = [name for name in out["required"] if name in out["properties"]]
    if "oneOf" in out:
        out["anyOf"] = out.pop("oneOf")
    # Box's spec also marks a nullable reference as `allOf: [{$ref}, {nullable: true}]`.
    nullable_part = any(
        isinstance(sub, dict) and sub.get("nullable") is True for sub in node.get("allOf", [])
    )
    if node.get("nullable") is True or nullable_part:
        return {"anyOf": [out, {"type": "null"}]}
    return out


class OpenApiValidator:
    """Checks emulator responses against Box's own OpenAPI spec for the operation they answer."""

    def __init__(self, spec: dict[str, Any], *versioned: dict[str, Any]) -> None:
        # Each spec keeps its own components: the year-versioned spec (hubs, Doc Gen) reuses names such as
        # User--Mini with other shapes. An operation is checked against the components of its own spec.
        self.roots = [{"components": _convert(s["components"])} for s in (spec, *versioned)]
        self.root = self.roots[0]
        self.operations: list[tuple[re.Pattern[str], str, dict[str, Any]]] = []
        self._root_of: dict[int, int] = {}  # id(op) -> index into self.roots
        for index, one in enumerate((spec, *versioned)):
            for template, methods in one["paths"].items():
                # `/shared_items#folders` and `/files/{id}#add_shared_link` answer the bare path's URL.
                pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", template.split("#")[0]) + "$")
                for method, op in methods.items():
                    if isinstance(op, dict) and "responses" in op:
                        self.operations.append((pattern, method.upper(), op))
                        self._root_of[id(op)] = index
        # Literal paths (/files/content) must win over templated ones (/files/{file_id}).
        self.operations.sort(key=lambda item: item[0].pattern.count("[^/]+"))
        self.problems: list[str] = []
        self.checked = 0
        self._validators: dict[str, jsonschema.Draft7Validator] = {}  # compiled once per schema

    def schema_for(self, method: str, path: str, status: int) -> dict[str, Any] | None:
        found = self._schema_and_root(method, path, status)
        return None if found is None else found[0]

    def _schema_and_root(self, method: str, path: str, status: int) -> tuple[dict[str, Any], int] | None:
        api_path = re.sub(r"^/(api/)?2\.0", "", path)
        matched = [
            (pattern, op)
            for pattern, op_method, op in self.operations
            if op_method == method and pattern.match(api_path)
        ]
        if not matched:
            return None
        schemas = []
        root = self._root_of[id(matched[0][1])]
        for pattern, op in matched:
            if pattern.pattern != matched[0][0].pattern:
                continue  # only the most literal path template (and its `#` variants) applies
            response = op["responses"].get(str(status))
            content = (response or {}).get("content", {}).get("application/json", {})
            if content.get("schema"):
                schemas.append(_convert(content["schema"]))
        if not schemas:
            return None
        return (schemas[0] if len(schemas) == 1 else {"anyOf": schemas}), root

    def __call__(self, method: str, path: str, status: int, body: bytes) -> None:
        if not path.startswith(("/2.0/", "/api/2.0/")) or not body:
            return
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            self.problems.append(f"{method} {path}: body is not JSON")
            return
        if status >= 400:
            missing = ERROR_KEYS - set(data)
            if missing or data.get("status") != status or data.get("type") != "error":
                self.problems.append(f"{method} {path} {status}: bad error body {data}")
            return
        found = self._schema_and_root(method, path, status)
        if found is None:
            return
        schema, root = found
        self.checked += 1
        key = f"{root}:" + json.dumps(schema, sort_keys=True)
        validator = self._validators.get(key)
        if validator is None:
            validator = jsonschema.Draft7Validator({**schema, "components": self.roots[root]["components"]})
            self._validators[key] = validator
        for error in validator.iter_errors(data):
            if error.context:  # anyOf: report the closest branch's complaint, not the whole union
                error = jsonschema.exceptions.best_match(error.context)
            where = "/".join(str(p) for p in error.absolute_path)
            self.problems.append(f"{method} {path} {status}: {where}: {error.message[:300]}")


@pytest.fixture(scope="session")
def openapi_spec(shared_file: Callable[[str], Path]) -> dict[str, Any]:
    """Box's OpenAPI spec: without it every emulator test here fails under CI and skips elsewhere."""
    return json.loads(shared_file(OPENAPI).read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def openapi_spec_2025(shared_file: Callable[[str], Path]) -> dict[str, Any]:
    """Box's spec of the `box-version: 2025.0` endpoints (hubs, Doc Gen, ...)."""
    return json.loads(shared_file(OPENAPI_2025).read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def openapi_validator(openapi_spec: dict[str, Any], openapi_spec_2025: dict[str, Any]) -> OpenApiValidator:
    """Built once per session (converting the spec is the slow part); both specs, each path by its own."""
    return OpenApiValidator(openapi_spec, openapi_spec_2025)


@pytest.fixture
def box(
    openapi_validator: OpenApiValidator, request: pytest.FixtureRequest, emulators: EmulatorHost
) -> Iterator[RunningEmulator]:
    """A fresh demo emulator whose every JSON response is checked against Box's OpenAPI spec.

    It is served by the session's server (`EmulatorHost.fresh`: its own Store and state); a test marked
    `own_emulator` gets a server of its own (webhook deliveries run on the server's loop past the test).
    Without the spec file the test fails under CI=true and skips elsewhere (tests/conftest.py shared_path).
    """
    with contextlib.ExitStack() as stack:
        if request.node.get_closest_marker("own_emulator"):
            running = stack.enter_context(running_emulator(memory=True, seed="demo", rate_limits=False))
        else:
            running = emulators.fresh(seed="demo", rate_limits=False)
        openapi_validator.problems.clear()
        running.emulator.observers.append(openapi_validator)
        yield running
        problems = sorted(set(openapi_validator.problems))
        openapi_validator.problems.clear()
        assert not problems, "responses differ from Box's OpenAPI spec:\n" + "\n".join(problems[:20])


def network_session(base_url: str) -> NetworkSession:
    return NetworkSession(
        base_urls=BaseUrls(base_url=base_url, upload_url=f"{base_url}/api", oauth_2_url=f"{base_url}/oauth2")
    )


@pytest.fixture
def sdk(box: RunningEmulator) -> Callable[[str], BoxClient]:
    """sdk("ada") -> an official-SDK client authenticated with that seeded user's developer token."""

    def make(login_prefix: str = "ada") -> BoxClient:
        return BoxClient(
            BoxDeveloperTokenAuth(token=box.token(login_prefix)),
            network_session=network_session(box.base_url),
        )

    return make
