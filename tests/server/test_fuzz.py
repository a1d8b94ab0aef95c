"""Issue 9: fuzz every tool from its input schema, valid and hostile, through real server paths.

Arguments come from each tool's published input schema (so a schema change changes the fuzz), then
some are spoiled: numbers JSON cannot hold, huge or odd strings (NUL, bidi controls, 100 KB), wrong
types, extra keys. Every answer must be a clear tool error or a result (never a JSON-RPC internal error,
never a traceback), the server keeps serving, every call is in the audit log, and the log verifies.
Volume runs in-process (MCP Client(server) on the emulator; its memory transport turns NaN and
Infinity into null, so only the subprocess batches carry them); smaller batches go through a real
stdio and a real HTTP `box-mcp serve`, as raw JSON.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from box_mcp.audit import AuditLog, GateAudit, verify
from box_mcp.config import Settings
from box_mcp.emulator.app import create_app
from box_mcp.emulator.testing import running_emulator
from box_mcp.server import build_server
from box_mcp.tools.catalog import CATALOG
from box_mcp.tools.listed import mcp_tool
from tests.server.hostile_servers import (
    encode,
    http_server,
    open_http_session,
    rpc_message,
    stdio_peer,
    tool_call,
    tool_call_records,
)

SCHEMAS = {spec.name: mcp_tool(spec).input_schema for spec in CATALOG}
TOOLS = sorted(SCHEMAS)
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SMALL = settings(FUZZ, max_examples=25)
INTERNAL = (-32603, 0)  # JSON-RPC internal error, and the SDK's code for an unhandled exception

# -- strategies from JSON Schema ---------------------------------------------------------------------


def from_schema(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values valid for `schema` (the subset of JSON Schema pydantic writes for our input models)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return from_schema(root.get("$defs", {})[name], root)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([from_schema(s, root) for s in schema[key]])
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([from_schema({**schema, "type": k}, root) for k in kind])
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**31)), schema.get("maximum", 2**31))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "string":
        low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(
                lambda s: schema.get("minLength", 0) <= len(s) <= schema.get("maxLength", 10**9)
            )
        return st.text(min_size=low, max_size=max(low, high))
    if kind == "array":
        low = schema.get("minItems", 0)
        return st.lists(
            from_schema(schema.get("items", {}), root),
            min_size=low,
            max_size=max(low, min(schema.get("maxItems", 3), 3)),
        )
    if kind == "object" or "properties" in schema:
        return objects(schema, root)
    return st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=10))


def objects(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if not props and schema.get("additionalProperties") not in (False, None):  # a free-form mapping
        keys = from_schema(schema.get("propertyNames", {"type": "string", "minLength": 1}), root)
        low = schema.get("minProperties", 0)
        return st.dictionaries(
            keys,
            from_schema(schema["additionalProperties"], root)
            if isinstance(schema["additionalProperties"], dict)
            else st.integers(),
            min_size=low,
            max_size=max(low, min(schema.get("maxProperties", 3), 3)),
        )
    return st.fixed_dictionaries(
        {k: from_schema(v, root) for k, v in props.items() if k in required},
        optional={k: from_schema(v, root) for k, v in props.items() if k not in required},
    )


HOSTILE_VALUES = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308 * 10]),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "\u202eevil\u202c",
            "\u2066x\u2069",
            "\ufeff",
            "../../etc/passwd",
            "x" * 100_000,
            "\U0001f4a9" * 1000,
            "' OR 1=1 --",
            "${jndi:ldap://x}",
            "",
        ]
    ),
    st.sampled_from([None, True, [], {}, [1, 2], {"a": {"b": [math.nan]}}, -1, 2**70]),
    st.text(max_size=30),
)


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A tool and its arguments: schema-valid, or valid then spoiled in one place."""
    name = draw(st.sampled_from(TOOLS))
    schema = SCHEMAS[name]
    args = dict(draw(from_schema(schema, schema)))
    spoil = draw(st.sampled_from(["none", "none", "value", "extra_key", "drop_required"]))
    props = sorted(schema.get("properties", {}))
    if spoil == "value" and props:
        args[draw(st.sampled_from(props))] = draw(HOSTILE_VALUES)
    elif spoil == "extra_key" or (spoil == "value" and not props):
        args[draw(st.sampled_from(["unknown", "\x00", "__proto__", "x" * 300]))] = draw(HOSTILE_VALUES)
    elif spoil == "drop_required" and schema.get("required"):
        args.pop(draw(st.sampled_from(sorted(schema["required"]))), None)
    return name, args


# -- checking answers -----------------------------------------------------------------------------


def check_result(result: dict[str, Any]) -> None:
    """A tool result (as JSON) that is a result or a clear error."""
    texts = [c.get("text", "") for c in result.get("content", []) if c.get("type") == "text"]
    assert texts and all(texts), result
    assert not any("Traceback" in t or "Internal error in" in t for t in texts), texts
    if result.get("isError"):
        assert len(texts[0]) >= 10, texts  # says something: not an empty or one-word error


def check_answer(message: dict[str, Any]) -> None:
    """A JSON-RPC answer to tools/call: a result as above, or a clear non-internal error."""
    if "error" in message:
        assert message["error"]["code"] not in INTERNAL and len(message["error"]["message"]) >= 10, message
        assert "Traceback" not in message["error"]["message"]
    else:
        check_result(message["result"])


# -- in-process: the volume -------------------------------------------------------------------------


class InProcess:
    def __init__(self, audit_dir: Path) -> None:
        self.audit_dir = audit_dir
        self.sent = 0
        self.client: Client | None = None

    async def call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        assert self.client is not None
        self.sent += 1
        try:
            result = await self.client.call_tool(name, args)
        except MCPError as exc:
            return {"error": {"code": exc.error.code, "message": exc.error.message}}
        return {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True)}


@asynccontextmanager
async def in_process_server(audit_dir: Path) -> AsyncIterator[InProcess]:
    """A server with an audit log on the in-process emulator."""
    from box_mcp.box.client import BoxClient, StaticToken

    app = create_app(memory=True, seed="demo", rate_limits=False, base_url="http://emulator")
    token = next(
        u["developer_token"] for u in app.state.emulator.credentials["users"] if u["login"].startswith("ada")
    )
    state = InProcess(audit_dir)
    box = BoxClient(
        token_source=StaticToken(token), base_url="http://emulator", transport=httpx2.ASGITransport(app=app)
    )
    try:
        async with await AuditLog.open(audit_dir) as log:
            server = build_server(
                Settings.load(env={}), box_client=box, audit=GateAudit(log), transport="memory"
            )
            async with Client(server) as client:
                state.client = client
                yield state
    finally:
        await box.aclose()
        app.state.emulator.store.close()


@pytest.fixture
def in_process(tmp_path: Path) -> Iterator[tuple[BlockingPortal, InProcess]]:
    """The server above, run by a portal so that hypothesis (synchronous) can drive it."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(in_process_server(tmp_path / "audit")) as state,
    ):
        yield portal, state


def test_fuzzed_calls_in_process_get_clear_answers_and_all_are_in_the_verified_audit_log(
    in_process: tuple[BlockingPortal, InProcess],
) -> None:
    portal, state = in_process

    @FUZZ
    @given(call=tool_calls())
    def fuzz(call: tuple[str, dict[str, Any]]) -> None:
        check_answer(portal.call(state.call, *call))

    fuzz()
    still = portal.call(state.call, "who_am_i", {})
    assert still["result"]["structuredContent"]["login"] == "ada@acme.example"  # still serving
    assert len(tool_call_records(state.audit_dir.parent)) == state.sent
    assert verify(state.audit_dir).status == "ok"


# -- real subprocesses: smaller batches -----------------------------------------------------------


@pytest.fixture
def emulator_portal() -> Iterator[tuple[BlockingPortal, Any]]:
    with (
        running_emulator(memory=True, seed="demo", rate_limits=False) as emu,
        start_blocking_portal() as portal,
    ):
        yield portal, emu


def test_fuzzed_calls_to_a_real_stdio_server_get_clear_answers_and_are_all_audited(
    emulator_portal: tuple[BlockingPortal, Any],
    tmp_path: Path,
) -> None:
    portal, emu = emulator_portal
    sent = 0
    with portal.wrap_async_context_manager(stdio_peer(emu, tmp_path)) as peer:

        @SMALL
        @given(call=tool_calls())
        def fuzz(call: tuple[str, dict[str, Any]]) -> None:
            nonlocal sent
            sent += 1
            check_answer(portal.call(peer.request, tool_call(sent, *call)))

        fuzz()
        still = portal.call(peer.request, tool_call("last", "who_am_i", {}))
    assert not still["result"]["isError"]
    assert len(tool_call_records(tmp_path)) == sent + 1
    assert verify(tmp_path / "audit").status == "ok"


def test_fuzzed_calls_to_a_real_http_server_get_clear_answers_and_are_all_audited(
    emulator_portal: tuple[BlockingPortal, Any],
    tmp_path: Path,
) -> None:
    portal, emu = emulator_portal
    sent = 0
    with (
        portal.wrap_async_context_manager(http_server(emu, tmp_path)) as server,
        portal.wrap_async_context_manager(httpx2.AsyncClient(timeout=30)) as http,
    ):
        headers = portal.call(open_http_session, http, server.url)

        async def post(message: dict[str, Any]) -> dict[str, Any]:
            response = await http.post(server.url, content=encode(message), headers=headers)
            assert response.status_code == 200, (response.status_code, response.text[:500])
            return rpc_message(response)

        @SMALL
        @given(call=tool_calls())
        def fuzz(call: tuple[str, dict[str, Any]]) -> None:
            nonlocal sent
            sent += 1
            check_answer(portal.call(post, tool_call(sent, *call)))

        fuzz()
        still = portal.call(post, tool_call("last", "who_am_i", {}))
    assert not still["result"]["isError"]
    assert len(tool_call_records(tmp_path)) == sent + 1
    assert verify(tmp_path / "audit").status == "ok"
