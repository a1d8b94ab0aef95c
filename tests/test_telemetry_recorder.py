"""The recorder behind box-mcp's spans: a call's stages are kept as plain values and handed to the span
processors as finished spans when the call ends (box_mcp/telemetry_otel.py). These tests pin what that
must still get right against live SDK spans: the tree, times, the sampler's word, a parent from the
context, a stage that outlives its call, and stages outside any call."""

from __future__ import annotations

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode

from box_mcp.decision import Decision
from box_mcp.seams import Outcome
from box_mcp.telemetry_otel import OTelTelemetry

pytestmark = pytest.mark.anyio

OK = Outcome(ok=True, decision=Decision(effect="allow", rule_ids=("r1",)), duration_ms=1.0, box_status=200)


def _make() -> tuple[OTelTelemetry, InMemorySpanExporter, InMemoryMetricReader]:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    tel = OTelTelemetry(span_processors=[SimpleSpanProcessor(spans)], metric_readers=[metrics])
    return tel, spans, metrics


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def _calls(metrics: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    data = metrics.get_metrics_data()
    assert data is not None
    out = {}
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == "box_mcp.calls":
                    for p in metric.data.data_points:
                        attrs = dict(p.attributes or {})
                        out[(str(attrs["box_mcp.tool"]), str(attrs["box_mcp.outcome"]))] = int(p.value)  # type: ignore[union-attr]
    return out


async def test_a_call_becomes_a_tree_of_finished_spans_with_nested_times() -> None:
    tel, spans, metrics = _make()
    with tel.call("get_file_details", "bot", "http"):
        with tel.stage("decide"):
            with (
                tel.stage("locate"),
                tel.box_request("GET", "https://api.box.com/2.0/files/12", trusted=True),
            ):
                tel.box_status(429)
                tel.box_retry(1, "429", 0.0)
                tel.box_status(200)
        with tel.stage("handler"):
            await anyio.sleep(0.001)
            with pytest.raises(ValueError), tel.stage("inner"):
                raise ValueError("text that quotes the call's data")
        tel.outcome(OK)
    got = _by_name(spans.get_finished_spans())
    root, decide, locate, request = (
        got[n] for n in ("tools/call get_file_details", "decide", "locate", "GET /2.0/files/{id}")
    )
    assert root.parent is None and root.kind is SpanKind.SERVER
    assert decide.parent is not None and decide.parent.span_id == root.context.span_id
    assert locate.parent is not None and locate.parent.span_id == decide.context.span_id
    assert request.parent is not None and request.parent.span_id == locate.context.span_id
    assert {s.context.trace_id for s in got.values()} == {root.context.trace_id}
    assert len({s.context.span_id for s in got.values()}) == len(got)
    for child, parent in ((decide, root), (locate, decide), (request, locate), (got["handler"], root)):
        assert parent.start_time is not None and child.start_time is not None
        assert parent.start_time <= child.start_time <= child.end_time <= parent.end_time  # type: ignore[operator]
    assert got["handler"].end_time - got["handler"].start_time >= 1_000_000  # type: ignore[operator]
    assert request.kind is SpanKind.CLIENT and request.attributes is not None
    assert (
        request.attributes["box_mcp.attempts"] == 2 and request.attributes["http.response.status_code"] == 200
    )
    assert [e.name for e in request.events] == ["retry"] and request.status.status_code is StatusCode.UNSET
    inner = got["inner"]
    assert inner.status.status_code is StatusCode.ERROR and inner.attributes == {"error.type": "ValueError"}
    assert "quotes" not in inner.to_json()
    assert root.attributes is not None and root.attributes["box_mcp.decision.rule_ids"] == ("r1",)
    assert _calls(metrics) == {("get_file_details", "ok"): 1}


async def test_the_sampler_drops_a_call_and_its_stages_but_the_metrics_still_count() -> None:
    spans, metrics = InMemorySpanExporter(), InMemoryMetricReader()
    tel = OTelTelemetry(span_processors=[SimpleSpanProcessor(spans)], metric_readers=[metrics])
    tel.tracer_provider.sampler = ALWAYS_OFF  # as OTEL_TRACES_SAMPLER=always_off sets it  # type: ignore[misc]
    with tel.call("get_file_details", "bot", "http"):
        with tel.stage("decide"), tel.box_request("GET", "https://api.box.com/2.0/files/1", trusted=True):
            tel.box_status(200)
        tel.outcome(OK)
    assert spans.get_finished_spans() == ()
    assert _calls(metrics) == {("get_file_details", "ok"): 1}


async def test_a_call_under_a_remote_parent_joins_its_trace() -> None:
    tel, spans, _ = _make()
    upstream = TracerProvider().get_tracer("upstream").start_span("client call")
    with trace.use_span(upstream, end_on_exit=True), tel.call("who_am_i", "bot", "http"):
        with tel.stage("handler"):
            pass
        tel.outcome(OK)
    root = _by_name(spans.get_finished_spans())["tools/call who_am_i"]
    assert root.parent is not None and root.parent.span_id == upstream.get_span_context().span_id
    assert root.context.trace_id == upstream.get_span_context().trace_id


async def test_a_stage_that_outlives_its_call_is_exported_on_its_own_under_the_same_trace() -> None:
    tel, spans, _ = _make()
    started, release = anyio.Event(), anyio.Event()

    async def background() -> None:
        with tel.stage("late"):
            started.set()
            await release.wait()

    async with anyio.create_task_group() as tg:
        with tel.call("upload_file", "bot", "stdio"):
            tg.start_soon(background)  # inherits the call's context
            await started.wait()
            tel.outcome(OK)
        assert "late" not in _by_name(spans.get_finished_spans())
        release.set()
    got = _by_name(spans.get_finished_spans())
    root, late = got["tools/call upload_file"], got["late"]
    assert late.parent is not None and late.parent.span_id == root.context.span_id
    assert late.context.trace_id == root.context.trace_id


async def test_stages_outside_a_call_are_live_spans_of_their_own() -> None:
    tel, spans, _ = _make()
    with tel.stage("broker.token"), tel.box_request("POST", "https://api.box.com/oauth2/token", trusted=True):
        tel.box_status(200)
    got = _by_name(spans.get_finished_spans())
    token, post = got["broker.token"], got["POST /oauth2/token"]
    assert token.parent is None
    assert post.parent is not None and post.parent.span_id == token.context.span_id
    assert post.attributes is not None and post.attributes["http.response.status_code"] == 200
