"""Telemetry of tool calls: OpenTelemetry traces and metrics when configured, nothing at all when not.

    BOX_MCP_TELEMETRY=otlp   -> box_mcp.telemetry_otel.OTelTelemetry (imports OpenTelemetry's SDK)
    off (the default)        -> NULL: every method returns at once; no OpenTelemetry module is imported

The gate, the Box client, the locator and the broker hold a `Telemetry` (NULL until the deployment
gives them the configured one) and call it at each stage of a call. What it records is chosen so that a
telemetry backend, often a third party's, learns how calls went and never what they were about:

- a call: tool, agent, transport, outcome kind, the decision's effect and rule ids, Box's status and
  error code when Box refused it;
- a Box request: method, the route with every id replaced by `{id}` (`/2.0/files/{id}/content`),
  host (only Box's own: a download host's link is its secret), status, attempts and each retry;
- never: argument values, item names, item or user ids, paths, the person, tokens, error messages.

Item ids are left out on purpose: they are no secret in Box, but an id joins a trace to one file, and
the audit log (sealed, access-controlled) is where who touched which file is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from box_mcp.errors import ConfigError

if TYPE_CHECKING:
    from box_mcp.config import Settings
    from box_mcp.seams import Outcome


class Span(Protocol):
    """The part of a span the instrumented code touches (a context manager)."""

    def __enter__(self) -> Span: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None: ...


class _NullSpan:
    """One shared instance: entering and leaving it does nothing."""

    __slots__ = ()

    def __enter__(self) -> _NullSpan:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        return None


NULL_SPAN: Span = _NullSpan()


class Telemetry:
    """Telemetry switched off: every method is a no-op returning `NULL_SPAN` (or what it was given).

    The OpenTelemetry implementation (box_mcp.telemetry_otel) overrides each method; this class is the
    interface the instrumented code calls.
    """

    enabled = False

    # --- spans -----------------------------------------------------------------------------------

    def call(self, tool: str, agent: str, transport: str) -> Span:
        """The root span of one tool call (its stages nest under it)."""
        return NULL_SPAN

    def stage(self, name: str) -> Span:
        """A stage of the current call: validate, locate, decide, approve, broker, handler, confine, audit."""
        return NULL_SPAN

    def box_request(self, method: str, url: str, *, trusted: bool) -> Span:
        """One Box request (`BoxClient.send`, all its attempts)."""
        return NULL_SPAN

    # --- facts on the current span ---------------------------------------------------------------

    def outcome(self, outcome: Outcome) -> None:
        """How the current call ended (its root span's attributes and the call metrics)."""

    def box_status(self, status: int) -> None:
        """An attempt of the current Box request got `status`."""

    def box_retry(self, attempt: int, reason: str, delay: float) -> None:
        """The current Box request is sent again after `reason` (a status or an exception's class)."""

    def box_failed(self, reason: str) -> None:
        """The current Box request ended without an answer (an exception's class name)."""

    # --- metrics only ----------------------------------------------------------------------------

    def broker_event(self, kind: str, **fields: Any) -> None:
        """A deployment event (box_mcp.events): the broker's token issue/refresh/failure is counted."""

    # --- lifecycle -------------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Flush and stop the exporters (the deployment calls it on close)."""


NULL = Telemetry()


def from_settings(settings: Settings) -> Telemetry:
    """The deployment's telemetry: NULL when off, else OpenTelemetry (a ConfigError names what to install)."""
    if settings.telemetry == "off":
        return NULL
    try:
        from box_mcp.telemetry_otel import OTelTelemetry
    except ImportError as exc:
        raise ConfigError(
            f"BOX_MCP_TELEMETRY={settings.telemetry} needs OpenTelemetry's SDK and OTLP exporter, which are "
            f"not installed ({exc.name or exc}): install box-mcp with the telemetry extra "
            "(pip install 'box-mcp[telemetry]'), or set BOX_MCP_TELEMETRY=off"
        ) from None
    return OTelTelemetry.otlp()
