"""AuditEvent: the fields of one audit record, typed, and `call_event`, the one place a tool call's
record is built from the gate's Call, Decision and Outcome (the record format: docs/audit-format.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

from box_mcp.access import ItemRef, ResourceUse
from box_mcp.decision import Decision
from box_mcp.identity import ActingAs, Person

from .redact import Redactor, finite_or_tagged, redact_string

if TYPE_CHECKING:
    from box_mcp.events import SessionInfo
    from box_mcp.seams import Call, Outcome
    from box_mcp.tools.spec import TransportKind

Kind = Literal[
    "call",  # one tool call that sends no write to Box: a read, a denial, a rejected call
    "intent",  # durable *before* a write is sent to Box; an `outcome` follows it
    "outcome",  # what became of an intent (`intent_id` names it)
    "session_start",
    "session_end",
    "tools_list",
    "policy_load",
    "policy_reload",
    "broker",
    "sign_in",  # remote sign-in: consent, Box connected, code issued, refused, reconnect, sign-out
    "approval",  # an approval record created, decided (approved, denied), used or expired
    "console",  # the web console: sign-ins (and refused ones), approval decisions, revoked sign-ins
    "box",  # what Box said of the API itself: an endpoint answered with a Deprecation header
    "log_recovery",  # written by the log itself after cutting a torn last line (a crash)
    "webhook",  # a Box webhook delivery to /box/webhooks: accepted, duplicate or refused (and why)
    "box_change",  # a change published on the deployment's feed, or the events follower's own steps
    "notification",  # a change notification sent to one agent's session (resources/updated, list_changed)
]
CallKind = Literal["call", "intent", "outcome"]
ITEM_KEYS = ("type", "id", "name", "parent_path", "role", "access")
SENTENCE_CHARS = 1024  # a rule's sentence or Box's message is kept longer than other strings


def _text(value: object) -> object:
    # Names and ids arrive from agents, Box and the policy: numbers and enums are taken as their text.
    if type(value) is str:  # nearly always: this runs for every string of every record
        return value
    if isinstance(value, Enum):
        value = value.value
    return value if value is None or isinstance(value, str | Mapping | list | tuple) else str(value)


Text = Annotated[str, BeforeValidator(_text)]


def _item(value: object) -> object:
    if isinstance(value, ResourceUse):
        return {"type": value.item.type, "id": value.item.id, "access": str(value.access), "role": value.role}
    if isinstance(value, ItemRef):
        return {"type": value.type, "id": value.id}
    if isinstance(value, Mapping | Item):
        return value
    raise ValueError(f"an item must be an ItemRef, a ResourceUse or a mapping, not {type(value).__name__}")


class Item(BaseModel):
    """A Box item the call named or returned; other keys of a mapping are left out."""

    model_config = ConfigDict(frozen=True)

    type: Text | None = None
    id: Text
    name: Text | None = None
    parent_path: Text | None = None
    role: Text | None = None  # which argument named it (item, parent, destination), or "result"
    access: Text | None = None  # read | write | admin


def _verdict(value: object) -> object:
    if isinstance(value, Decision):
        return _verdict_of(value)
    if isinstance(value, Mapping) and isinstance(value.get("rules"), str):
        return {**value, "rules": [value["rules"]]}
    return value


class Verdict(BaseModel):
    """The policy's decision: effect, the ids of the rules that decided it, and its sentence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    effect: Text
    rules: tuple[Text, ...] = ()
    sentence: Text | None = None


def _result(value: object) -> object:
    return {"status": value} if isinstance(value, str) else value


class Result(BaseModel):
    """How the call ended; with Box's error code, HTTP status and request id when Box refused it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: Text | None = None  # "ok", or the gate's error kind (denied, input, box, ...); see body()
    error_code: Text | None = None
    http_status: int | None = None
    request_id: Text | None = None
    message: Text | None = None  # what the agent was told


def _person(value: object) -> object:
    if isinstance(value, Person):
        return {
            "box_user_id": value.box_user_id,
            "login": value.login,
            "client_id": value.client_id,
            "client_name": value.client_name,
        }
    return value


class PersonField(BaseModel):
    """The signed-in person a call came from (remote sign-in) and the MCP client they connected with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    box_user_id: Text
    login: Text | None = None
    client_id: Text | None = None
    client_name: Text | None = None  # as the client describes itself (self-asserted)


class AuditEvent(BaseModel):
    """One record before the log seals it (the log adds v, seq, id, time, prev_hash, hash, mac).

    OPA's decision-log shape: who (agent, session, client), as whom in Box (acting_as), what (tool,
    args, items), the decision, the outcome, the latency. `args` and `detail` are free-form: the
    Redactor makes them safe to keep. A None field is left out of the record, except an `acting_as`
    given as None: a call record says so when the call ran as no Box identity (it never reached Box).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    agent: Text | None = None
    person: Annotated[PersonField, BeforeValidator(_person)] | None = None
    session_id: Text | None = None
    client_name: Text | None = None
    client_version: Text | None = None
    acting_as: ActingAs | Text | None = None  # broker events name their session ("user:default")
    tool: Text | None = None
    args: Any = None
    items: tuple[Annotated[Item, BeforeValidator(_item)], ...] | None = None
    decision: Annotated[Verdict, BeforeValidator(_verdict)] | None = None
    outcome: Annotated[Result, BeforeValidator(_result)] | None = None
    intent_id: Text | None = None
    latency_ms: float | None = None
    detail: Any = None

    def body(self, redactor: Redactor) -> dict[str, Any]:
        """The record's fields as written: every string through the redaction rules (redact.py)."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in ("agent", "session_id", "client_name", "client_version", "tool", "intent_id"):
            value = getattr(self, name)
            if value is not None:
                out[name] = redact_string(value)
        if self.person is not None:
            out["person"] = redactor(self.person.model_dump(exclude_none=True))
        if isinstance(self.acting_as, ActingAs):
            out["acting_as"] = redactor(self.acting_as.model_dump(exclude_none=True))
        elif self.acting_as is not None:
            out["acting_as"] = redact_string(self.acting_as)
        elif "acting_as" in self.model_fields_set:
            out["acting_as"] = None
        if self.args is not None:
            out["args"] = redactor(self.args)
        if self.items is not None:
            out["items"] = [
                {k: redact_string(v) for k in ITEM_KEYS if (v := getattr(item, k)) is not None}
                for item in self.items
            ]
        if self.decision is not None:
            verdict: dict[str, Any] = {"effect": self.decision.effect, "rules": list(self.decision.rules)}
            if self.decision.sentence is not None:
                verdict["sentence"] = redact_string(self.decision.sentence, max_chars=SENTENCE_CHARS)
            out["decision"] = verdict
        if self.outcome is not None:
            out["outcome"] = _outcome_body(self.outcome)
        if self.latency_ms is not None:
            out["latency_ms"] = finite_or_tagged(round(self.latency_ms, 3))
        if self.detail is not None:
            out["detail"] = redactor(self.detail)
        return out


def _outcome_body(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("status", "error_code", "request_id", "message"):
        value = getattr(result, key)
        if value is not None:
            out[key] = redact_string(value, max_chars=SENTENCE_CHARS)
    if result.http_status is not None:
        out["http_status"] = result.http_status
    if "status" not in out:
        out["status"] = "error" if result.error_code is not None or result.http_status is not None else "ok"
    return out


@dataclass(frozen=True, slots=True)
class Rejected:
    """A call refused before it became a Call (unknown tool, invalid arguments, a rate limit): the tool
    name and arguments as received. It ran as no Box identity."""

    tool: str
    arguments: object
    call_id: str
    agent: str
    transport: TransportKind
    session: SessionInfo | None = None
    person: Person | None = None


def call_event(
    kind: CallKind,
    call: Call | Rejected,
    decision: Decision | None = None,
    outcome: Outcome | None = None,
    *,
    intent_id: str | None = None,
) -> AuditEvent:
    """The record of one tool call: `intent` before a write (no decision or outcome yet), then its
    `outcome`; `call` for everything else."""
    detail: dict[str, Any] = {"call_id": call.call_id, "transport": str(call.transport)}
    fields: dict[str, Any] = {"kind": kind, "agent": call.agent, "detail": detail}
    if call.person is not None:
        fields["person"] = call.person
    if isinstance(call, Rejected):
        args = call.arguments if isinstance(call.arguments, dict) else {"arguments": call.arguments}
        fields.update(tool=call.tool, args=args, acting_as=None)
        if decision is not None and decision.allowed:  # nothing decided: it never reached the policy
            decision = None
    else:
        fields.update(
            tool=call.tool.name,
            args=call.args,
            acting_as=call.acting_as,
            items=_named(call.resources, outcome.result_item if outcome is not None else None),
        )
        facts = {
            f.name: v
            for f in dataclasses.fields(call.facts)
            if (v := getattr(call.facts, f.name)) is not None
        }
        if facts:
            detail["facts"] = facts
        if call.approval is not None:  # the approval it ran on: which record, who approved
            detail["approval"] = {"id": call.approval.id, "by": call.approval.by}
        if call.via is not None:  # a resource read, listing, completion or notification check
            detail["via"] = call.via
    if call.session is not None:
        fields.update((k, v) for k, v in call.session.fields().items() if v is not None)
    if decision is not None:
        fields["decision"] = _verdict_of(decision)
    if outcome is not None:
        fields["outcome"] = {
            "status": "ok" if outcome.ok else (outcome.error_kind or "error"),
            "error_code": outcome.box_code,
            "http_status": outcome.box_status,
            "request_id": outcome.box_request_id,
            "message": outcome.error,
        }
        fields["latency_ms"] = outcome.duration_ms
        if outcome.result_detail:
            detail["result"] = outcome.result_detail
    if intent_id is not None:
        fields["intent_id"] = intent_id
    return AuditEvent.model_validate(fields)


def _verdict_of(decision: Decision) -> dict[str, Any]:
    return {"effect": decision.effect, "rules": decision.rule_ids, "sentence": decision.reason or None}


def _named(uses: tuple[ResourceUse, ...], result: dict[str, str] | None) -> list[dict[str, str]]:
    """The call's items, with the name and parent path of the item the call returned: on the use it
    matches, or as a `result` item when the call made a new one (create, upload, copy)."""
    items = [{"type": u.item.type, "id": u.item.id, "access": str(u.access), "role": u.role} for u in uses]
    if not result:
        return items
    named: dict[str, str] = {k: result[k] for k in ("type", "id", "name", "parent_path") if k in result}
    matched = False
    for item in items:
        if (item["type"], item["id"]) == (named.get("type"), named.get("id")):
            item.update(named)
            matched = True
    if not matched:
        items.append({**named, "role": "result"})
    return items
