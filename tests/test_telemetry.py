"""Telemetry: the spans and metrics of real tool calls through a deployment on the loopback emulator.

The deployment is the one `box-mcp serve` opens (default policy, CCG credentials), with its telemetry
collected by the SDK's in-memory exporter and reader instead of OTLP. Each test checks the span tree
of a call and that nothing the call was about (ids, names, tokens, secrets) is in the exported data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import box_mcp.deployment as deployment_module
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.emulator.faults import FaultRule
from box_mcp.errors import ConfigError
from box_mcp.telemetry import NULL, NULL_SPAN, from_settings
from box_mcp.telemetry_otel import OTelTelemetry, route_template

pytestmark = pytest.mark.anyio

DEFAULT = Path(__file__).resolve().parents[1] / "box_mcp" / "policies" / "default.yaml"


class Collected:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.metrics = InMemoryMetricReader()
        self.telemetry = OTelTelemetry(
            span_processors=[SimpleSpanProcessor(self.spans)], metric_readers=[self.metrics]
        )

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def exported_text(self) -> str:
        """Every span and metric point as JSON: what an OTLP backend would receive."""
        spans = [json.loads(s.to_json()) for s in self.finished()]
        data = self.metrics.get_metrics_data()
        metrics = json.loads(data.to_json()) if data is not None else {}
        return json.dumps({"spans": spans, "metrics": metrics})

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, value or histogram count) of each point of metric `name`."""
        data = self.metrics.get_metrics_data()
        assert data is not None
        found = []
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    if metric.name == name:
                        for p in metric.data.data_points:
                            found.append((dict(p.attributes or {}), getattr(p, "value", None) or p.count))
        return found


@pytest.fixture
def collected(monkeypatch: pytest.MonkeyPatch) -> Iterator[Collected]:
    got = Collected()
    monkeypatch.setattr(deployment_module, "telemetry_from", lambda settings: got.telemetry)
    yield got


@pytest.fixture
def ccg_env(monkeypatch: pytest.MonkeyPatch, emulator: Any) -> dict[str, str]:
    for name in [k for k in os.environ if k.startswith("BOX_")]:
        monkeypatch.delenv(name)
    ccg = emulator.credentials["ccg"]
    env = {
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    pid = parent.context.span_id
    return sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == pid), key=lambda s: s.start_time
    )


def _root(spans: list[ReadableSpan], tool: str) -> ReadableSpan:
    (root,) = [s for s in spans if s.name == f"tools/call {tool}"]
    assert root.parent is None
    return root


def _below(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    out = []
    for child in _children(spans, parent):
        out += [child, *_below(spans, child)]
    return out


def _secrets(emulator: Any, ccg_env: dict[str, str]) -> list[str]:
    """What must never be exported: item ids, names and paths, the Box user, credentials, tokens."""
    files = emulator.credentials["files"]
    found = [*ccg_env.values(), emulator.user_id("ada"), "Contracts", "Engineering"]
    for path, item_id in files.items():
        found += [str(item_id), path.rsplit("/", 1)[-1]]
    found += [str(v) for v in emulator.credentials["folders"].values() if str(v) != "0"]
    found += [u["developer_token"] for u in emulator.credentials["users"]]
    return [s for s in found if s]


async def test_a_granted_a_denied_and_a_throttled_call_as_spans_and_metrics(
    emulator: Any, tmp_path: Path, ccg_env: dict[str, str], collected: Collected
) -> None:
    files = emulator.credentials["files"]
    contract, readme = files["Contracts/MSA-Globex.pdf"], files["Engineering/README.md"]
    settings = Settings.load(
        box_url=emulator.base_url, data_dir=tmp_path, policy=DEFAULT, agent="contracts-bot"
    )
    async with open_deployment(settings, transport="stdio") as deployment:
        assert deployment.telemetry is collected.telemetry
        async with Client(deployment.server) as client:
            granted = await client.call_tool("get_file_details", {"file_id": contract})
            assert not granted.is_error, granted.content
            denied = await client.call_tool("get_file_details", {"file_id": readme})
            assert denied.is_error
            # Box throttles the comments route: 429 with Retry-After: 0, every attempt.
            emulator.emulator.faults.append(FaultRule(pattern=r"/comments", rate_429=1.0, retry_after=0))
            throttled = await client.call_tool("list_file_comments", {"file_id": contract})
            assert throttled.is_error and "429" in str(throttled.content[0].text)
            unknown = await client.call_tool("no_such_tool_" + readme, {"file_id": readme})
            assert unknown.is_error
    spans = collected.finished()

    # The granted call: every stage a child of its root; the Box lookups inside locate and the handler.
    root = next(s for s in spans if s.name == "tools/call get_file_details")
    assert root.parent is None and root.attributes is not None
    assert root.attributes["box_mcp.outcome"] == "ok"
    assert root.attributes["box_mcp.decision.effect"] == "allow"
    assert root.attributes["box_mcp.decision.rule_ids"] == ("contracts-read",)
    assert root.attributes["box_mcp.agent"] == "contracts-bot"
    assert root.attributes["box_mcp.transport"] == "stdio"
    stages = [s.name for s in _children(spans, root)]
    assert stages == ["validate", "decide", "broker", "handler", "confine", "audit"], stages
    under = {s.name for s in _below(spans, root)}
    assert {"locate", "GET /2.0/files/{id}", "broker.token", "POST /oauth2/token"} <= under, under
    (handler,) = [s for s in _children(spans, root) if s.name == "handler"]
    (request,) = _children(spans, handler)
    assert request.attributes is not None
    assert request.name == "GET /2.0/files/{id}"
    assert request.attributes["http.response.status_code"] == 200
    assert request.attributes["url.template"] == "/2.0/files/{id}"
    assert request.attributes["box_mcp.attempts"] == 1

    # The denied call: decided, recorded, never at Box.
    (denied_root,) = [s for s in spans if s.name == "tools/call get_file_details" and s is not root]
    assert denied_root.attributes is not None
    assert denied_root.attributes["box_mcp.outcome"] == "denied"
    assert denied_root.attributes["box_mcp.decision.effect"] == "deny"
    assert [s.name for s in _children(spans, denied_root)] == ["validate", "decide", "audit"]

    # The throttled call: one Box request span, five attempts, four retries as events, Box's status.
    throttled_root = _root(spans, "list_file_comments")
    assert throttled_root.attributes is not None
    assert throttled_root.attributes["box_mcp.outcome"] == "box"
    assert throttled_root.attributes["box_mcp.box.status"] == 429
    (handler,) = [s for s in _children(spans, throttled_root) if s.name == "handler"]
    (request,) = _children(spans, handler)
    assert request.attributes is not None
    assert request.name == "GET /2.0/files/{id}/comments"
    assert request.attributes["box_mcp.attempts"] == 5
    assert request.attributes["error.type"] == "429"
    retries = [e for e in request.events if e.name == "retry"]
    assert [e.attributes["box_mcp.attempt"] for e in retries if e.attributes] == [1, 2, 3, 4]
    assert all(e.attributes and e.attributes["box_mcp.retry.reason"] == "429" for e in retries)

    # The unknown tool: its name was the caller's text, so the span does not carry it.
    unknown_root = _root(spans, "(unknown)")
    assert unknown_root.attributes is not None
    assert unknown_root.attributes["box_mcp.outcome"] == "unknown_tool"

    # Metrics: calls by tool and outcome, denials, errors by kind, latency, Box requests and 429s, tokens.
    calls = {(a["box_mcp.tool"], a["box_mcp.outcome"]): v for a, v in collected.points("box_mcp.calls")}
    assert calls == {
        ("get_file_details", "ok"): 1,
        ("get_file_details", "denied"): 1,
        ("list_file_comments", "box"): 1,
        ("(unknown)", "unknown_tool"): 1,
    }
    assert collected.points("box_mcp.denials") == [({"box_mcp.tool": "get_file_details"}, 1)]
    errors = {a["box_mcp.error.kind"]: v for a, v in collected.points("box_mcp.errors")}
    assert errors == {"box": 1, "unknown_tool": 1}
    assert sum(v for _, v in collected.points("box_mcp.call.duration")) == 4
    assert collected.points("box_mcp.box.throttled") == [({"http.request.method": "GET"}, 5)]
    box_requests = {
        (a["http.request.method"], a["http.response.status_code"]): v
        for a, v in collected.points("box_mcp.box.requests")
    }
    assert box_requests[("GET", 429)] == 5 and box_requests[("GET", 200)] >= 2
    assert ("POST", 200) in box_requests  # the token endpoint
    tokens = {a["box_mcp.token.event"]: v for a, v in collected.points("box_mcp.broker.tokens")}
    assert tokens.get("issue", 0) >= 1

    # Nothing the calls were about, and no credential, is anywhere in what was exported.
    text = collected.exported_text()
    for secret in _secrets(emulator, ccg_env):
        assert secret not in text, f"{secret!r} was exported"


async def test_a_bad_argument_value_is_not_exported(
    emulator: Any, tmp_path: Path, ccg_env: dict[str, str], collected: Collected
) -> None:
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path, policy=DEFAULT, agent="demo")
    marker = "Zebra-Quokka-4411"
    async with open_deployment(settings, transport="stdio") as deployment:
        async with Client(deployment.server) as client:
            bad = await client.call_tool("get_file_details", {"file_id": marker})
            assert bad.is_error
            search = await client.call_tool("search_files_keyword", {"query": marker})
            assert not search.is_error, search.content
    spans = collected.finished()
    validate = [s for s in spans if s.name == "validate"]
    assert validate and validate[0].attributes is not None
    root = _root(spans, "get_file_details")
    assert root.attributes is not None and root.attributes["box_mcp.outcome"] == "input"
    text = collected.exported_text()
    assert marker not in text and marker.lower() not in text
    # The search went to Box with the marker in its query string: the span has the route only.
    assert any(s.name == "GET /2.0/search" for s in spans)


def test_routes_have_no_ids() -> None:
    assert route_template("https://api.box.com/2.0/files/123/content?x=1") == "/2.0/files/{id}/content"
    assert (
        route_template("https://upload.box.com/api/2.0/files/upload_sessions/F971964745A5CD0C001BB")
        == "/api/2.0/files/upload_sessions/{id}"
    )
    assert route_template("https://api.box.com") == "/"
    assert route_template("https://api.box.com/oauth2/token") == "/oauth2/token"
    assert (
        route_template("https://api.box.com/2.0/files/1/metadata/enterprise_123/contractTerms")
        == "/2.0/files/{id}/metadata/{id}/{id}"
    )


def test_off_is_the_null_object_and_on_without_the_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert from_settings(Settings.load(env={})) is NULL
    assert NULL.call("t", "a", "stdio") is NULL_SPAN and NULL.stage("x") is NULL_SPAN
    with NULL.box_request("GET", "https://api.box.com/2.0/files/1", trusted=True):
        NULL.box_status(200)
        NULL.box_retry(1, "429", 0.0)
        NULL.box_failed("ConnectError")
    on = from_settings(Settings.load(env={"BOX_MCP_TELEMETRY": "otlp"}))
    try:
        assert isinstance(on, OTelTelemetry) and on.enabled
    finally:
        on.shutdown()
    monkeypatch.setitem(sys.modules, "box_mcp.telemetry_otel", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"pip install 'box-mcp\[telemetry\]'.*BOX_MCP_TELEMETRY=off"):
        from_settings(Settings.load(env={"BOX_MCP_TELEMETRY": "otlp"}))
    with pytest.raises(ConfigError, match="BOX_MCP_TELEMETRY"):
        Settings.load(env={"BOX_MCP_TELEMETRY": "jaeger"})


def test_off_imports_no_opentelemetry_sdk() -> None:
    """A fresh interpreter that builds the gate and serves imports OpenTelemetry's API (the MCP SDK
    does) but never its SDK nor an exporter."""
    code = (
        "import sys, box_mcp.deployment, box_mcp.server_cli, box_mcp.gate;"
        "from box_mcp.telemetry import from_settings; from box_mcp.config import Settings;"
        "from_settings(Settings.load(env={}));"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk', 'opentelemetry.exporter',"
        " 'box_mcp.telemetry_otel'))))"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout


class _Receiver:
    """A loopback OTLP/HTTP receiver: what `serve` exports, decoded with opentelemetry-proto."""

    def __init__(self) -> None:
        import http.server
        import threading

        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        self.spans: list[Any] = []
        self.resources: list[dict[str, str]] = []
        self.metric_names: set[str] = set()
        self.raw = b""
        self.arrived = threading.Event()  # the call's spans and its metrics are in
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.raw += body
                if self.path == "/v1/traces":
                    request = ExportTraceServiceRequest.FromString(body)
                    for rs in request.resource_spans:
                        receiver.resources.append(
                            {a.key: a.value.string_value for a in rs.resource.attributes}
                        )
                        for ss in rs.scope_spans:
                            receiver.spans.extend(ss.spans)
                elif self.path == "/v1/metrics":
                    metrics = ExportMetricsServiceRequest.FromString(body)
                    for rm in metrics.resource_metrics:
                        for sm in rm.scope_metrics:
                            receiver.metric_names.update(m.name for m in sm.metrics)
                names = {s.name for s in receiver.spans}
                if {"tools/call get_file_details", "GET /2.0/files/{id}"} <= names and (
                    "box_mcp.calls" in receiver.metric_names
                ):
                    receiver.arrived.set()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_serve_over_http_exports_the_spans_of_an_mcp_call_by_otlp(
    emulator: Any, tmp_path: Path
) -> None:
    import re

    import anyio
    import anyio.to_thread
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    receiver = _Receiver()
    token = emulator.token("ada")
    readme = emulator.credentials["files"]["Engineering/README.md"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_", "XDG_", "OTEL_"))}
    env |= {
        "BOX_DEVELOPER_TOKEN": token,
        "BOX_MCP_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
        "BOX_MCP_TELEMETRY": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "box-mcp-under-test",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
        "OTEL_METRIC_EXPORT_INTERVAL": "200",
    }
    argv = [sys.executable, "-m", "box_mcp.cli", "serve", "--transport", "http", "--port", "0"]
    argv += ["--box-url", emulator.base_url]
    try:
        async with await anyio.open_process(argv, env=env) as proc:
            try:
                assert proc.stderr is not None
                seen = b""
                with anyio.fail_after(30):
                    while (found := re.search(rb"http://127\.0\.0\.1:(\d+)/mcp", seen)) is None:
                        seen += await proc.stderr.receive()
                assert b"telemetry:    OpenTelemetry by OTLP/HTTP" in seen, seen
                async with httpx2.AsyncClient() as http:
                    transport = streamable_http_client(found.group(0).decode(), http_client=http)
                    async with Client(transport) as client:
                        result = await client.call_tool("get_file_details", {"file_id": readme})
                        assert not result.is_error, result.content
                arrived = await anyio.to_thread.run_sync(receiver.arrived.wait, 20.0)
                assert arrived, f"spans seen: {sorted({s.name for s in receiver.spans})}"
            finally:
                proc.terminate()
    finally:
        receiver.close()
    (root,) = [s for s in receiver.spans if s.name == "tools/call get_file_details"]
    attrs = {a.key: a.value for a in root.attributes}
    assert attrs["box_mcp.outcome"].string_value == "ok"
    assert attrs["box_mcp.transport"].string_value == "http"
    children = {s.name for s in receiver.spans if s.parent_span_id == root.span_id}
    assert {"validate", "decide", "broker", "handler", "confine", "audit"} <= children, children
    assert {"service.name": "box-mcp-under-test"}.items() <= receiver.resources[0].items()
    assert {"box_mcp.call.duration", "box_mcp.box.requests"} <= receiver.metric_names
    assert token.encode() not in receiver.raw and readme.encode() not in receiver.raw
    assert b"README" not in receiver.raw
