"""GateAudit: the gate's audit hook, writing each call's AuditEvent (event.call_event) to an AuditLog.

A write gets an `intent` record, durable before the gate sends it to Box, then an `outcome` record that
names it; any other call gets one `call` record when it ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

from .event import AuditEvent, CallKind, Rejected, call_event
from .record import AuditRecord

if TYPE_CHECKING:
    from box_mcp.events import SessionInfo
    from box_mcp.identity import Person
    from box_mcp.seams import Call, Outcome
    from box_mcp.tools.spec import TransportKind


class AuditSink(Protocol):
    """What GateAudit needs of a log: AuditLog (JSONL) today; a PostgreSQL or OpenTelemetry-exporting
    writer later only has to offer the same calls with the same durability promise."""

    async def append(self, kind: str, **fields: Any) -> AuditRecord: ...

    async def record(self, event: AuditEvent, *, secret_fields: Iterable[str] = ()) -> AuditRecord: ...

    @property
    def failure(self) -> str | None: ...


class GateAudit:
    """`Gate(audit=GateAudit(log, secret_fields=...))`. `secret_fields` gives the argument names the
    current policy marks secret (asked on every call, so a policy reload applies at once)."""

    def __init__(self, log: AuditSink, *, secret_fields: Callable[[], frozenset[str]] | None = None) -> None:
        self.log = log
        self._secret_fields = secret_fields
        self._intents: dict[str, str] = {}  # gate call id -> intent record id

    def failure(self) -> str | None:
        """Why the log can record nothing (the gate then refuses every call), or None."""
        return self.log.failure

    async def intent(self, call: Call) -> None:
        """Raises AuditError when the intent cannot be made durable: the gate then stops the write."""
        record = await self._write(call_event("intent", call))
        self._intents[call.call_id] = record.id

    async def outcome(self, call: Call, outcome: Outcome) -> None:
        intent_id = self._intents.pop(call.call_id, None)
        kind: CallKind = "call" if intent_id is None else "outcome"
        await self._write(call_event(kind, call, outcome.decision, outcome, intent_id=intent_id))

    async def rejected(
        self,
        tool: str,
        arguments: object,
        *,
        call_id: str,
        agent: str,
        transport: TransportKind,
        session: SessionInfo | None,
        outcome: Outcome,
        person: Person | None = None,
    ) -> None:
        """A call refused before it ran (unknown tool, invalid arguments, a rate limit): its arguments as
        received, and no Box identity."""
        refused = Rejected(tool, arguments, call_id, agent, transport, session, person)
        await self._write(call_event("call", refused, outcome.decision, outcome))

    async def sink(self, kind: str, fields: dict[str, Any]) -> None:
        """`box_mcp.events.Events.connect(audit.sink)`: the deployment's events become records."""
        await self.log.append(kind, **fields)

    async def _write(self, event: AuditEvent) -> AuditRecord:
        names = self._secret_fields() if self._secret_fields is not None else None
        return await self.log.record(event, secret_fields=names or ())
