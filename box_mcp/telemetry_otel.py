"""The OpenTelemetry implementation of box_mcp.telemetry.Telemetry (imported only when telemetry is on).

Spans and metrics go to this deployment's own TracerProvider and MeterProvider, never the global ones:
the MCP SDK's own spans (which may carry an exception's text) stay unexported, and an application that
embeds box-mcp keeps its providers. `otlp()` exports by OTLP over HTTP, configured by OpenTelemetry's
standard variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_*, OTEL_METRIC_EXPORT_INTERVAL), which the SDK reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from box_mcp.box.wire import route_template
from box_mcp.telemetry import Telemetry

if TYPE_CHECKING:
    from box_mcp.seams import Outcome

SCOPE = "box_mcp"
# Seconds: a call takes from a millisecond (a denial) to a minute (a large upload).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_CODE_MAX = 64  # Box's error codes are short words; anything longer is cut


class _Node:
    """A stage or Box request of a recorded call: kept as plain values, made a span when the call ends."""

    __slots__ = ("attrs", "end", "error", "events", "kind", "name", "parent_id", "span_id", "start")

    def __init__(self, name: str, span_id: int, parent_id: int, kind: SpanKind, start: int) -> None:
        self.name = name
        self.span_id = span_id
        self.parent_id = parent_id
        self.kind = kind
        self.start = start
        self.end = start
        self.attrs: dict[str, Any] | None = None
        self.events: list[Event] | None = None
        self.error = False


class _Recording:
    """One sampled tool call: its trace id, its root span's id and every stage recorded under it."""

    __slots__ = ("done", "epoch", "flags", "nodes", "parent", "perf", "span_id", "trace_id", "trace_state")

    def __init__(self, trace_id: int, span_id: int, parent: SpanContext | None, trace_state: Any) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent = parent
        self.trace_state = trace_state
        self.epoch = time.time_ns()
        self.perf = time.perf_counter_ns()
        self.nodes: list[_Node] = []
        self.done = False
        self.flags = TraceFlags(TraceFlags.SAMPLED)

    def at(self, perf_ns: int) -> int:
        """A perf_counter_ns reading as nanoseconds since the epoch (what a span's times are)."""
        return self.epoch + (perf_ns - self.perf)


# Where a call's stages are being recorded: (the recording, the span id new stages nest under); the
# recording is None inside a call the sampler dropped (its stages record nothing; metrics still count).
_HERE: ContextVar[tuple[_Recording | None, int] | None] = ContextVar("box_mcp_telemetry_here", default=None)


class _Stage:
    """A stage of the current call: recorded as plain values (two clock readings and a context variable),
    exported as a child span when the call ends. Outside a call, a live SDK span (see `_LiveStage`)."""

    __slots__ = ("_live", "_node", "_recording", "_tel", "_token")

    def __init__(self, tel: OTelTelemetry, name: str, kind: SpanKind = SpanKind.INTERNAL) -> None:
        self._tel = tel
        here = _HERE.get()
        self._live: _LiveStage | None = None
        self._recording: _Recording | None = None
        if here is None:
            self._live = _LiveStage(tel.tracer, name, kind)
        else:
            self._recording, parent_id = here
            if self._recording is not None:
                self._node = _Node(name, tel.span_id(), parent_id, kind, 0)

    def set_attributes(self, attrs: dict[str, Any]) -> None:
        if self._live is not None:
            if hasattr(self._live, "span"):
                self._live.span.set_attributes(attrs)
            else:
                self._live.attrs.update(attrs)
        elif self._recording is not None:
            if self._node.attrs is None:
                self._node.attrs = dict(attrs)
            else:
                self._node.attrs.update(attrs)

    def add_event(self, name: str, attrs: dict[str, Any]) -> None:
        if self._live is not None:
            self._live.span.add_event(name, attrs)
        elif self._recording is not None:
            if self._node.events is None:
                self._node.events = []
            self._node.events.append(Event(name, attrs, self._recording.at(time.perf_counter_ns())))

    def fail(self, error_type: str) -> None:
        self.set_attributes({"error.type": error_type})
        if self._live is not None:
            self._live.span.set_status(StatusCode.ERROR)
        elif self._recording is not None:
            self._node.error = True

    def __enter__(self) -> _Stage:
        if self._live is not None:
            self._live.__enter__()
        elif self._recording is not None:
            self._node.start = time.perf_counter_ns()
            self._token = _HERE.set((self._recording, self._node.span_id))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            return
        recording = self._recording
        if recording is None:
            return
        node = self._node
        node.end = time.perf_counter_ns()
        _HERE.reset(self._token)
        if exc_type is not None and not node.error:  # the class only: its text may quote the call's data
            self.fail(exc_type.__name__)
        if recording.done:  # outlived its call (work the call left running): exported on its own
            self._tel.export(recording, [node])
        else:
            recording.nodes.append(node)


class _LiveStage:
    """A live SDK span made current while it runs: for a stage outside any call (a token fetched at
    start-up, a lookup of the console)."""

    __slots__ = ("_kind", "_name", "_token", "_tracer", "attrs", "span")

    def __init__(self, tracer: trace.Tracer, name: str, kind: SpanKind) -> None:
        self._tracer = tracer
        self._name = name
        self._kind = kind
        self.attrs: dict[str, Any] = {}  # given before the span starts (a Box request's route)

    def __enter__(self) -> _LiveStage:
        self.span = self._tracer.start_span(self._name, kind=self._kind, attributes=self.attrs)
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        otel_context.detach(self._token)
        if exc_type is not None:  # the class only: an exception's text may quote the call's data
            self.span.set_attribute("error.type", exc_type.__name__)
            self.span.set_status(StatusCode.ERROR)
        self.span.end()


class _CallSpan:
    """The root span of one tool call. The sampler decides once, here; a sampled call records its stages
    as plain values and hands every span to the span processors when it ends, which costs a few
    microseconds a span where live SDK spans cost 10-15 (bench/server_latency.py)."""

    __slots__ = ("_attrs", "_error", "_outcome", "_recording", "_started", "_tel", "_token", "_tool", "_var")

    def __init__(self, tel: OTelTelemetry, tool: str, agent: str, transport: str) -> None:
        self._tel = tel
        self._tool = tool
        self._outcome: str | None = None
        self._error = False
        self._recording: _Recording | None = None
        self._attrs: dict[str, Any] = {
            "mcp.method.name": "tools/call",
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
            "box_mcp.agent": agent,
            "box_mcp.transport": transport,
        }

    def __enter__(self) -> _CallSpan:
        self._started = time.perf_counter()
        self._recording = self._tel.sample(f"tools/call {self._tool}", self._attrs)
        self._var: Token[_CallSpan | None] = _CALL.set(self)
        recording = self._recording
        self._token: Token[tuple[_Recording | None, int] | None] = _HERE.set(
            (recording, recording.span_id if recording is not None else 0)
        )
        return self

    def record(self, outcome: Outcome) -> None:
        kind = "ok" if outcome.ok else (outcome.error_kind or "error")
        attrs = self._attrs
        attrs["box_mcp.outcome"] = kind
        attrs["box_mcp.decision.effect"] = outcome.decision.effect
        if outcome.decision.rule_ids:
            attrs["box_mcp.decision.rule_ids"] = tuple(outcome.decision.rule_ids)
        if outcome.box_status is not None:
            attrs["box_mcp.box.status"] = outcome.box_status
        if outcome.box_code:
            attrs["box_mcp.box.code"] = outcome.box_code[:_CODE_MAX]
        if not outcome.ok:
            attrs["error.type"] = kind
            self._error = True
        self._outcome = kind

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        _CALL.reset(self._var)
        kind = self._outcome
        if kind is None:  # left before an outcome was recorded: a flow-control exception of the SDK
            kind = (
                "input_required"
                if exc_type is not None and exc_type.__name__ == "InputRequired"
                else ("interrupted")
            )
            self._attrs["box_mcp.outcome"] = kind
        self._tel.count_call(self._tool, kind, time.perf_counter() - self._started)
        _HERE.reset(self._token)
        recording = self._recording
        if recording is None:
            return
        recording.done = True
        end = time.perf_counter_ns()
        root = _Node(f"tools/call {self._tool}", recording.span_id, 0, SpanKind.SERVER, recording.perf)
        root.end, root.attrs, root.error = end, self._attrs, self._error
        self._tel.export(recording, [*recording.nodes, root])


class _BoxSpan(_Stage):
    """One Box request (all its attempts): a recorded stage of kind CLIENT."""

    __slots__ = ("_attempts", "_failure", "_method", "_status", "_var")

    def __init__(self, tel: OTelTelemetry, method: str, url: str, trusted: bool) -> None:
        route = route_template(url) if trusted else "(external)"  # a download link's path is its secret
        super().__init__(tel, f"{method} {route}", SpanKind.CLIENT)
        self._method = method
        attrs: dict[str, Any] = {"http.request.method": method, "url.template": route}
        if trusted:
            host = urlsplit(url).hostname
            if host:
                attrs["server.address"] = host
        self.set_attributes(attrs)
        self._attempts = 0
        self._status: int | None = None
        self._failure: str | None = None

    def __enter__(self) -> _BoxSpan:
        super().__enter__()
        self._var: Token[_BoxSpan | None] = _BOX.set(self)
        return self

    def status(self, status: int) -> None:
        self._attempts += 1
        self._status = status
        self._tel.count_box(self._method, status)

    def retry(self, attempt: int, reason: str, delay: float) -> None:
        attrs: dict[str, Any] = {
            "box_mcp.attempt": attempt,
            "box_mcp.retry.reason": reason,
            "box_mcp.retry.delay_s": delay,
        }
        self.add_event("retry", attrs)

    def failed(self, reason: str) -> None:
        self._attempts += 1
        self._failure = reason

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        _BOX.reset(self._var)
        attrs: dict[str, Any] = {"box_mcp.attempts": self._attempts}
        if self._status is not None:
            attrs["http.response.status_code"] = self._status
        self.set_attributes(attrs)
        if self._status is not None and self._status >= 400:
            self.fail(str(self._status))
        elif exc_type is not None:  # no answer (or a bug): the class only, never the exception's text
            self.fail(self._failure or exc_type.__name__)
        super().__exit__(exc_type, exc, tb)


_CALL: ContextVar[_CallSpan | None] = ContextVar("box_mcp_telemetry_call", default=None)
_BOX: ContextVar[_BoxSpan | None] = ContextVar("box_mcp_telemetry_box", default=None)
_ERROR = Status(StatusCode.ERROR)
_UNSET = Status(StatusCode.UNSET)


class _Tally:
    """Cumulative counts by attribute values, reported by an observable counter at each collection."""

    __slots__ = ("_counts", "_keys", "_lock")

    def __init__(self, *keys: str) -> None:
        self._keys = keys
        self._counts: dict[tuple[Any, ...], int] = {}
        self._lock = threading.Lock()  # a worker thread may count too; collection runs on the reader's

    def add(self, *values: Any) -> None:
        with self._lock:
            self._counts[values] = self._counts.get(values, 0) + 1

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            counts = list(self._counts.items())
        return [Observation(count, dict(zip(self._keys, values, strict=True))) for values, count in counts]


class OTelTelemetry(Telemetry):
    """Traces and metrics of tool calls on this deployment's own OpenTelemetry providers."""

    enabled = True

    def __init__(
        self, *, span_processors: Sequence[SpanProcessor] = (), metric_readers: Sequence[MetricReader] = ()
    ) -> None:
        resource = Resource.create()  # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, read by the SDK
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "box-mcp"}))
        # Spans go to these processors: live spans (outside a call) through the provider, a call's recorded
        # spans straight from `export`, both through this one public multi-processor.
        self._processors = SynchronousMultiSpanProcessor()  # type: ignore[no-untyped-call]
        self.tracer_provider = TracerProvider(resource=resource, active_span_processor=self._processors)
        for processor in span_processors:
            self.tracer_provider.add_span_processor(processor)
        self._resource = resource
        self._ids = self.tracer_provider.id_generator
        self._random_ids = self._ids.is_trace_id_random()
        self.meter_provider = MeterProvider(resource=resource, metric_readers=list(metric_readers))
        from box_mcp import __version__

        self.tracer = self.tracer_provider.get_tracer(SCOPE, __version__)
        self._scope = InstrumentationScope(SCOPE, __version__)
        meter = self.meter_provider.get_meter(SCOPE, __version__)
        # Counts are tallied in plain dicts on the call path and read by observable counters when the
        # metrics are collected: an SDK counter's add() costs ~7 us a point, a tally ~0.3 us.
        self._calls = _Tally("box_mcp.tool", "box_mcp.outcome")
        self._denials = _Tally("box_mcp.tool")
        self._errors = _Tally("box_mcp.error.kind")
        self._box_requests = _Tally("http.request.method", "http.response.status_code")
        self._box_throttled = _Tally("http.request.method")
        for name, unit, what, tally in (
            ("box_mcp.calls", "{call}", "Tool calls, by tool and outcome", self._calls),
            ("box_mcp.denials", "{call}", "Tool calls the policy denied", self._denials),
            (
                "box_mcp.errors",
                "{call}",
                "Tool calls that failed, by kind (input, box, broker, audit, ...)",
                self._errors,
            ),
            (
                "box_mcp.box.requests",
                "{request}",
                "HTTP requests to Box (each attempt), by method and status",
                self._box_requests,
            ),
            ("box_mcp.box.throttled", "{request}", "Box answers 429 Too Many Requests", self._box_throttled),
        ):
            meter.create_observable_counter(name, [tally.observe], unit, what)
        self._duration = meter.create_histogram(
            "box_mcp.call.duration",
            "s",
            "How long a tool call took, from the gate's first step to its result",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
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
        return _Stage(self, name)

    def box_request(self, method: str, url: str, *, trusted: bool) -> _BoxSpan:
        return _BoxSpan(self, method, url, trusted)

    # --- recorded calls --------------------------------------------------------------------------

    def span_id(self) -> int:
        return self._ids.generate_span_id()

    def sample(self, name: str, attrs: dict[str, Any]) -> _Recording | None:
        """The recording of a new call's root span, or None when the sampler drops it (then its stages
        record nothing either). The parent is the span current in OpenTelemetry's context, if valid."""
        context = otel_context.get_current()
        parent: SpanContext | None = trace.get_current_span(context).get_span_context()
        if parent is None or not parent.is_valid:
            parent = None
            trace_id = self._ids.generate_trace_id()
        else:
            trace_id = parent.trace_id
        result = self.tracer_provider.sampler.should_sample(context, trace_id, name, SpanKind.SERVER, attrs)
        if not result.decision.is_sampled():  # type: ignore[no-untyped-call]
            return None
        if result.attributes:
            attrs.update(result.attributes)
        recording = _Recording(trace_id, self.span_id(), parent, result.trace_state)
        random_ids = self._random_ids if parent is None else parent.trace_flags.random_trace_id
        flags = TraceFlags.SAMPLED | (TraceFlags.RANDOM_TRACE_ID if random_ids else 0)
        recording.flags = TraceFlags(flags)
        return recording

    def export(self, recording: _Recording, nodes: Sequence[_Node]) -> None:
        """Hand `nodes` to the span processors as finished spans of `recording`'s trace."""
        trace_id, flags, state = recording.trace_id, recording.flags, recording.trace_state
        contexts = {n.span_id: SpanContext(trace_id, n.span_id, False, flags, state) for n in nodes}
        resource, scope, at = self._resource, self._scope, recording.at
        for node in nodes:
            parent: SpanContext | None = recording.parent
            if node.parent_id:  # another node, or one exported before it (a stage that outlived its call)
                parent = contexts.get(node.parent_id) or SpanContext(
                    trace_id, node.parent_id, False, flags, state
                )
            self._processors.on_end(
                ReadableSpan(
                    name=node.name,
                    context=contexts[node.span_id],
                    parent=parent,
                    resource=resource,
                    attributes=node.attrs or {},
                    events=node.events or (),
                    kind=node.kind,
                    status=_ERROR if node.error else _UNSET,
                    start_time=at(node.start),
                    end_time=at(node.end),
                    instrumentation_scope=scope,
                )
            )

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
        self._calls.add(tool, outcome)
        self._duration.record(seconds, attrs)
        if outcome == "denied":
            self._denials.add(tool)
        elif outcome != "ok":
            self._errors.add(outcome)

    def count_box(self, method: str, status: int) -> None:
        self._box_requests.add(method, status)
        if status == 429:
            self._box_throttled.add(method)

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
