"""The OpenTelemetry implementation of box_mcp.telemetry.Telemetry (imported only when telemetry is on).

Spans and metrics go to this deployment's own TracerProvider and MeterProvider, never the global ones:
the MCP SDK's own spans (which may carry an exception's text) stay unexported, and an application that
embeds box-mcp keeps its providers. `otlp()` exports by OTLP over HTTP, configured by OpenTelemetry's
standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*, OTEL_METRIC_EXPORT_INTERVAL), which the SDK reads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import SpanKind, StatusCode

from box_mcp.telemetry import Telemetry

if TYPE_CHECKING:
    from box_mcp.seams import Outcome

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

SCOPE = "box_mcp"
# Seconds: a call takes from a millisecond (a denial) to a minute (a large upload).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_NOUN = re.compile(r"[a-z][a-z_]*|\d+\.\d+|oauth2")
_CODE_MAX = 64  # Box's error codes are short words; anything longer is cut


def route_template(url: str) -> str:
    """The path of a Box URL with every segment that is not one of Box's nouns as {id}.

    Box spells its nouns in lower case with underscores (files, upload_sessions, metadata_templates), its
    versions as 2.0; anything else (an id, an upload session, a metadata scope with the enterprise id in
    it, a template key) becomes {id}."""
    path = urlsplit(url).path or "/"
    return "/".join(seg if _NOUN.fullmatch(seg) or not seg else "{id}" for seg in path.split("/"))


class _Stage:
    """A child span of whatever span is current, made current while it runs."""

    __slots__ = ("_name", "_span", "_token", "_tracer")

    def __init__(self, tracer: trace.Tracer, name: str) -> None:
        self._tracer = tracer
        self._name = name

    def __enter__(self) -> _Stage:
        self._span = self._tracer.start_span(self._name)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        otel_context.detach(self._token)
        if exc_type is not None:  # the class only: an exception's text may quote the call's data
            self._span.set_attribute("error.type", exc_type.__name__)
            self._span.set_status(StatusCode.ERROR)
        self._span.end()


class _CallSpan(_Stage):
    __slots__ = ("_attrs", "_outcome", "_started", "_tel", "_tool", "_var")

    def __init__(self, tel: OTelTelemetry, tool: str, agent: str, transport: str) -> None:
        self._tel = tel
        self._tool = tool
        self._outcome: str | None = None
        self._tracer = tel.tracer
        self._name = f"tools/call {tool}"
        self._attrs = {
            "mcp.method.name": "tools/call",
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "box_mcp.agent": agent,
            "box_mcp.transport": transport,
        }

    def __enter__(self) -> _CallSpan:
        self._started = time.perf_counter()
        self._span = self._tracer.start_span(self._name, kind=SpanKind.SERVER, attributes=self._attrs)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._var: Token[_CallSpan | None] = _CALL.set(self)
        return self

    def record(self, outcome: Outcome) -> None:
        kind = "ok" if outcome.ok else (outcome.error_kind or "error")
        span = self._span
        attrs: dict[str, Any] = {
            "box_mcp.outcome": kind,
            "box_mcp.decision.effect": outcome.decision.effect,
        }
        if outcome.decision.rule_ids:
            attrs["box_mcp.decision.rule_ids"] = list(outcome.decision.rule_ids)
        if outcome.box_status is not None:
            attrs["box_mcp.box.status"] = outcome.box_status
        if outcome.box_code:
            attrs["box_mcp.box.code"] = outcome.box_code[:_CODE_MAX]
        span.set_attributes(attrs)
        if not outcome.ok:
            span.set_attribute("error.type", kind)
            span.set_status(StatusCode.ERROR)
        self._outcome = kind

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        _CALL.reset(self._var)
        otel_context.detach(self._token)
        kind = self._outcome
        if kind is None:  # left before an outcome was recorded: a flow-control exception of the SDK
            kind = (
                "input_required"
                if exc_type is not None and exc_type.__name__ == "InputRequired"
                else ("interrupted")
            )
            self._span.set_attribute("box_mcp.outcome", kind)
        self._tel.count_call(self._tool, kind, time.perf_counter() - self._started)
        self._span.end()


class _BoxSpan:
    __slots__ = (
        "_attempts",
        "_failure",
        "_method",
        "_name",
        "_span",
        "_status",
        "_tel",
        "_token",
        "_var",
        "attrs",
    )

    def __init__(self, tel: OTelTelemetry, method: str, url: str, trusted: bool) -> None:
        self._tel = tel
        self._method = method
        route = route_template(url) if trusted else "(external)"  # a download link's path is its secret
        self._name = f"{method} {route}"
        self.attrs: dict[str, Any] = {"http.request.method": method, "url.template": route}
        if trusted:
            host = urlsplit(url).hostname
            if host:
                self.attrs["server.address"] = host
        self._attempts = 0
        self._status: int | None = None
        self._failure: str | None = None

    def __enter__(self) -> _BoxSpan:
        self._span = self._tel.tracer.start_span(self._name, kind=SpanKind.CLIENT, attributes=self.attrs)
        self._token = otel_context.attach(trace.set_span_in_context(self._span))
        self._var: Token[_BoxSpan | None] = _BOX.set(self)
        return self

    def status(self, status: int) -> None:
        self._attempts += 1
        self._status = status
        self._tel.count_box(self._method, status)

    def retry(self, attempt: int, reason: str, delay: float) -> None:
        attrs: dict[str, int | float | str] = {
            "box_mcp.attempt": attempt,
            "box_mcp.retry.reason": reason,
            "box_mcp.retry.delay_s": delay,
        }
        self._span.add_event("retry", attrs)

    def failed(self, reason: str) -> None:
        self._attempts += 1
        self._failure = reason

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        _BOX.reset(self._var)
        otel_context.detach(self._token)
        span = self._span
        span.set_attribute("box_mcp.attempts", self._attempts)
        if self._status is not None:
            span.set_attribute("http.response.status_code", self._status)
        if self._status is not None and self._status >= 400:
            span.set_attribute("error.type", str(self._status))
            span.set_status(StatusCode.ERROR)
        elif exc_type is not None:  # no answer (or a bug): the class only, never the exception's text
            span.set_attribute("error.type", self._failure or exc_type.__name__)
            span.set_status(StatusCode.ERROR)
        span.end()


_CALL: ContextVar[_CallSpan | None] = ContextVar("box_mcp_telemetry_call", default=None)
_BOX: ContextVar[_BoxSpan | None] = ContextVar("box_mcp_telemetry_box", default=None)


class OTelTelemetry(Telemetry):
    """Traces and metrics of tool calls on this deployment's own OpenTelemetry providers."""

    enabled = True

    def __init__(
        self, *, span_processors: Sequence[SpanProcessor] = (), metric_readers: Sequence[MetricReader] = ()
    ) -> None:
        resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "box-mcp"}))
        self.tracer_provider = TracerProvider(resource=resource)
        for processor in span_processors:
            self.tracer_provider.add_span_processor(processor)
        self.meter_provider = MeterProvider(resource=resource, metric_readers=list(metric_readers))
        from box_mcp import __version__

        self.tracer = self.tracer_provider.get_tracer(SCOPE, __version__)
        meter = self.meter_provider.get_meter(SCOPE, __version__)
        self._calls = meter.create_counter("box_mcp.calls", "{call}", "Tool calls, by tool and outcome")
        self._denials = meter.create_counter("box_mcp.denials", "{call}", "Tool calls the policy denied")
        self._errors = meter.create_counter(
            "box_mcp.errors", "{call}", "Tool calls that failed, by kind (input, box, broker, audit, ...)"
        )
        self._duration = meter.create_histogram(
            "box_mcp.call.duration",
            "s",
            "How long a tool call took, from the gate's first step to its result",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._box_requests = meter.create_counter(
            "box_mcp.box.requests", "{request}", "HTTP requests to Box (each attempt), by method and status"
        )
        self._box_throttled = meter.create_counter(
            "box_mcp.box.throttled", "{request}", "Box answers 429 Too Many Requests"
        )
        self._tokens = meter.create_counter(
            "box_mcp.broker.tokens", "{token}", "Box tokens the broker issued or refreshed, or failed to"
        )

    @classmethod
    def otlp(cls) -> OTelTelemetry:
        """Exported by OTLP/HTTP: spans in batches off the call path, metrics every export interval."""
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        return cls(
            span_processors=[BatchSpanProcessor(OTLPSpanExporter())],
            metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())],
        )

    # --- spans -----------------------------------------------------------------------------------

    def call(self, tool: str, agent: str, transport: str) -> _CallSpan:
        return _CallSpan(self, tool, agent, transport)

    def stage(self, name: str) -> _Stage:
        return _Stage(self.tracer, name)

    def staged(self, name: str, func: F) -> F:
        async def run(*args: Any, **kwargs: Any) -> Any:
            with _Stage(self.tracer, name):
                return await func(*args, **kwargs)

        return cast(F, run)

    def box_request(self, method: str, url: str, *, trusted: bool) -> _BoxSpan:
        return _BoxSpan(self, method, url, trusted)

    # --- facts on the current span ---------------------------------------------------------------

    def outcome(self, outcome: Outcome) -> None:
        current = _CALL.get()
        if current is not None:
            current.record(outcome)

    def box_status(self, status: int) -> None:
        current = _BOX.get()
        if current is not None:
            current.status(status)

    def box_retry(self, attempt: int, reason: str, delay: float) -> None:
        current = _BOX.get()
        if current is not None:
            current.retry(attempt, reason, delay)

    def box_failed(self, reason: str) -> None:
        current = _BOX.get()
        if current is not None:
            current.failed(reason)

    # --- metrics ---------------------------------------------------------------------------------

    def count_call(self, tool: str, outcome: str, seconds: float) -> None:
        attrs = {"box_mcp.tool": tool, "box_mcp.outcome": outcome}
        self._calls.add(1, attrs)
        self._duration.record(seconds, attrs)
        if outcome == "denied":
            self._denials.add(1, {"box_mcp.tool": tool})
        elif outcome != "ok":
            self._errors.add(1, {"box_mcp.error.kind": outcome})

    def count_box(self, method: str, status: int) -> None:
        self._box_requests.add(1, {"http.request.method": method, "http.response.status_code": status})
        if status == 429:
            self._box_throttled.add(1, {"http.request.method": method})

    def broker_event(self, kind: str, **fields: Any) -> None:
        if kind != "broker":
            return
        detail = fields.get("detail")
        event = detail.get("event") if isinstance(detail, dict) else None
        if isinstance(event, str):
            self._tokens.add(1, {"box_mcp.token.event": event})

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()  # the batch processor exports what it holds first
        self.meter_provider.shutdown(timeout_millis=5000)
