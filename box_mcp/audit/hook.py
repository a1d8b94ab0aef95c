"""GateAudit: the gate's audit hook (`intent(call)`, `outcome(call, outcome)`) backed by an AuditLog.

A write gets an `intent` record, durable before the gate sends it to Box, then an `outcome` record that
names it; any other call gets one `call` record when it ends. The gate's Call, Decision and Outcome are
read by attribute (duck typing), so this module imports nothing from the gate.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Protocol

from .record import AuditRecord


class AuditSink(Protocol):
    """What GateAudit needs of a log: AuditLog (JSONL) today; a PostgreSQL or OpenTelemetry-exporting
    writer later only has to offer the same three calls with the same durability promise."""

    async def append(self, kind: str, **fields: Any) -> AuditRecord: ...

    async def intent(self, **fields: Any) -> str: ...

    async def outcome(self, intent_id: str, **fields: Any) -> AuditRecord: ...


class GateAudit:
    """Pass as `Gate(audit=GateAudit(log))`. `acting_as` names the Box identity calls run as;
    `secret_fields` gives the argument names the current policy marks secret (asked on every call, so a
    policy reload applies at once)."""

    def __init__(self, log: AuditSink, *, acting_as: str | dict[str, Any] | None = None,
                 secret_fields: Callable[[], frozenset[str]] | None = None) -> None:
        self.log = log
        self.acting_as = acting_as
        self._secret_fields = secret_fields
        self._intents: dict[str, str] = {}  # gate call id -> intent record id

    def failure(self) -> str | None:
        """Why the log can record nothing (the gate then refuses every call), or None."""
        why = getattr(self.log, "failure", None)
        return why if isinstance(why, str) else None

    def _secrets(self) -> dict[str, Any]:
        names = self._secret_fields() if self._secret_fields is not None else None
        return {"secret_fields": sorted(names)} if names else {}

    async def intent(self, call: Any) -> None:
        """Raises AuditError when the intent cannot be made durable: the gate then stops the write."""
        self._intents[call.call_id] = await self.log.intent(**self._call_fields(call), **self._secrets())

    async def outcome(self, call: Any, outcome: Any) -> None:
        fields = self._call_fields(call)
        fields["decision"] = _decision(outcome.decision)
        fields["outcome"] = _outcome(outcome)
        fields["latency_ms"] = outcome.duration_ms
        fields["items"] = _named(fields["items"], getattr(outcome, "result_item", None))
        fields.update(self._secrets())
        intent_id = self._intents.pop(call.call_id, None)
        if intent_id is not None:
            await self.log.outcome(intent_id, **fields)
        else:
            await self.log.append("call", **fields)

    async def rejected(self, tool: str, arguments: Any, *, call_id: str, agent: str, transport: Any,
                       session: Any, outcome: Any) -> None:
        """A call refused before it ran (unknown tool, invalid arguments): its arguments as received."""
        args = arguments if isinstance(arguments, dict) else {"arguments": arguments}
        fields: dict[str, Any] = {
            "agent": agent,
            "tool": tool,
            "args": args,
            "acting_as": self.acting_as,
            "detail": {"call_id": call_id, "transport": str(transport)},
            "outcome": _outcome(outcome),
            "latency_ms": outcome.duration_ms,
        }
        if session is not None:
            fields.update(session.fields())
        fields.update(self._secrets())
        await self.log.append("call", **fields)

    async def event(self, kind: str, **fields: Any) -> None:
        """Session, tools/list, policy and broker events: `kind` and fields as for AuditLog.append."""
        await self.log.append(kind, **fields)

    async def sink(self, kind: str, fields: dict[str, Any]) -> None:
        """`box_mcp.events.Events.connect(audit.sink)`: the deployment's events become records."""
        await self.log.append(kind, **fields)

    def _call_fields(self, call: Any) -> dict[str, Any]:
        detail: dict[str, Any] = {"call_id": call.call_id, "transport": str(call.transport)}
        facts = call.facts
        if dataclasses.is_dataclass(facts) and not isinstance(facts, type):
            detail["facts"] = {k: v for k, v in dataclasses.asdict(facts).items() if v is not None}
        session = getattr(call, "session", None)
        return {
            **(session.fields() if session is not None else {}),
            "agent": call.agent,
            "tool": call.tool.name,
            "args": call.args,
            "items": list(call.resources),
            "acting_as": self.acting_as,
            "detail": detail,
        }


def _named(uses: list[Any], result: dict[str, str] | None) -> list[Any]:
    """The call's items, with the name and parent path of the item the call returned: on the use
    it matches, or as a `result` item when the call made a new one (create, upload, copy)."""
    if not result:
        return uses
    out: list[Any] = []
    matched = False
    for use in uses:
        item = getattr(use, "item", None)
        if item is not None and (item.type, item.id) == (result["type"], result["id"]):
            out.append({**result, "access": str(use.access), "role": use.role})
            matched = True
        else:
            out.append(use)
    if not matched:
        out.append({**result, "role": "result"})
    return out


def _decision(decision: Any) -> dict[str, Any]:
    return {
        "effect": decision.effect,
        "rules": list(decision.rule_ids),
        "sentence": decision.reason or None,
    }


def _outcome(outcome: Any) -> dict[str, Any]:
    return {
        "status": "ok" if outcome.ok else (outcome.error_kind or "error"),
        "error_code": outcome.box_code,
        "http_status": outcome.box_status,
        "request_id": outcome.box_request_id,
        "message": outcome.error,
    }
