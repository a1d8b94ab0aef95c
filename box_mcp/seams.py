"""What one tool call is, and the seams the policy, the broker and the audit plug into the gate with.

Each seam is a Protocol naming every method the gate calls; `AllowAll`, `StaticCredentials`, `NoFilter`
and `NoAudit` are the plain implementations (allow every call, one token, filter nothing, record
nothing) that tests and embedders start from. `box_mcp/gate.py` runs calls through them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from mcp_types import CallToolResult, InputRequiredResult

from box_mcp.access import CallFacts, ResourceUse
from box_mcp.decision import ALLOW, Decision
from box_mcp.errors import BoxError
from box_mcp.events import SessionInfo
from box_mcp.identity import ActingAs, Person
from box_mcp.tools.spec import ToolInput, ToolOutput, ToolSpec, TransportKind

if TYPE_CHECKING:
    from box_mcp.box.client import BoxClient


@dataclass(frozen=True, slots=True)
class ApprovalGrant:
    """The approval a held call ran on: its record's id and who approved it (for the call's records)."""

    id: str
    by: str


@dataclass(frozen=True, slots=True)
class Call:
    """One validated tool call: what every hook sees."""

    call_id: str
    agent: str
    tool: ToolSpec
    args: ToolInput
    resources: tuple[ResourceUse, ...]
    facts: CallFacts
    transport: TransportKind
    session: SessionInfo | None = None  # the MCP session and client the call came from
    acting_as: ActingAs | None = None  # the Box identity it runs as, once the credentials hook chose it
    person: Person | None = None  # the signed-in person (remote sign-in), from the verified token only
    approval: ApprovalGrant | None = None  # the approval it runs on (a require_approval rule held it)
    # How the agent reached the tool when not by tools/call: "resources/read", "resources/list",
    # "completion/complete", or "notification" (box-mcp checking, as the agent, that it may hear of a change)
    via: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a call that reached the policy ended, for the audit log."""

    ok: bool
    decision: Decision
    duration_ms: float
    error: str | None = None  # the message the agent read
    error_kind: str | None = None  # denied | input | unknown_tool | box | broker | audit | internal
    box_status: int | None = None
    box_code: str | None = None
    box_request_id: str | None = None
    # The Box item the call returned (created, changed or read), as the agent saw it: type, id, name,
    # parent_path. Lets the audit name the items it records by id.
    result_item: dict[str, str] | None = None
    # What the result was, beyond the item, for the audit (`ToolOutput.audit_detail`: e.g. that a download
    # URL was issued and until when; never the URL itself). Redacted like every record field.
    result_detail: dict[str, Any] | None = None


class Approver(Protocol):
    async def __call__(self, call: Call, decision: Decision) -> ApprovalGrant | None:
        """Whether this call may run: the approval it runs on, or None when nobody approved it. May raise
        Denied (saying why: declined, denied, waiting, replayed), InputRequired or CapabilityRequired."""
        ...


async def no_approver(call: Call, decision: Decision) -> ApprovalGrant | None:
    return None


class CapabilityRequired(Exception):  # a control-flow signal: the server answers with a protocol error
    """The call needs something the client did not declare (MCP 2026-07-28: `-32021`, HTTP 400), e.g.
    elicitation for an approval only the caller can give. The gate records the refusal, then lets it
    through; `error` is the protocol error to raise (an mcp MCPError)."""

    def __init__(self, message: str, error: Exception) -> None:
        super().__init__(message)
        self.message = message
        self.error = error


class InputRequired(Exception):  # a control-flow signal, not an error
    """Raised by an Approver that must ask the client in a further round (MCP input_required flow).

    The gate lets it through untouched: nothing reached Box, and the retried call is the one recorded.
    """

    def __init__(self, result: InputRequiredResult) -> None:
        super().__init__("input required")
        self.result = result


class ConnectRequired(Exception):  # a control-flow signal: the server picks how to tell the client
    """A signed-in person's Box grant is gone (revoked at Box, expired): they must reconnect at `url`.

    Raised by the gate after the call was recorded. The server answers with a URL-mode elicitation
    where the client supports one, else with `result` (a tool error naming the URL)."""

    def __init__(self, url: str, message: str, result: CallToolResult) -> None:
        super().__init__(message)
        self.url = url
        self.message = message
        self.result = result


class PolicyHook(Protocol):
    def tool_visible(self, agent: str, tool: ToolSpec, person: Person | None = None) -> bool:
        """False hides the tool from this agent's tools/list (it holds no grant for it; for a signed-in
        person, no grant that applies to them)."""
        ...

    async def admit(self, agent: str, tool: ToolSpec | None, person: Person | None = None) -> str | None:
        """Count one tools/call against the agent's rate limits, before its arguments are checked (a call
        with bad arguments or an unknown tool costs an audit record too): the refusal sentence, or None.
        A person agent's limits hold for each signed-in person on their own. Async: the counters may be
        shared by every replica, in the deployment's database."""
        ...

    async def decide(self, call: Call) -> Decision: ...

    def succeeded(self, call: Call) -> None:
        """The call was let through and its handler finished without an error (Box did it)."""
        ...


class CredentialsHook(Protocol):
    async def client_for(self, call: Call) -> BoxClient:
        """A Box client bound to the agent's identity, downscoped to `call.tool.box_scopes` where possible."""
        ...

    def acting_as(self, agent: str, person: Person | None = None) -> ActingAs | None:
        """The Box identity the agent's calls run as (a person agent's: the signed-in person's own Box
        user), named for the audit (never a secret)."""
        ...


class ResultFilterHook(Protocol):
    async def confine(self, call: Call, output: ToolOutput) -> ToolOutput:
        """Drop list/search entries outside what the agent may see. Must return the same output model."""
        ...

    async def confine_error(self, call: Call, exc: BoxError) -> BoxError:
        """A Box error names items too (a name conflict's id): drop those the agent may not see."""
        ...


class AuditHook(Protocol):
    async def intent(self, call: Call) -> None:
        """Called before a write runs; raising AuditError stops the call (never unrecorded writes)."""
        ...

    async def outcome(self, call: Call, outcome: Outcome) -> None: ...

    async def rejected(
        self,
        tool: str,
        arguments: Any,
        *,
        call_id: str,
        agent: str,
        transport: TransportKind,
        session: SessionInfo | None,
        outcome: Outcome,
        person: Person | None = None,
    ) -> None:
        """Record a call refused before it became a Call (unknown tool, bad arguments, rate limit)."""
        ...

    def failure(self) -> str | None:
        """Why the audit can record nothing (its disk failed), else None: the gate then refuses every
        call, since a call must be recorded or not served."""
        ...

    async def sink(self, kind: str, fields: dict[str, Any]) -> None:
        """Record one deployment event (session, tools/list, policy reload, token refresh)."""
        ...


class AllowAll:
    def tool_visible(self, agent: str, tool: ToolSpec, person: Person | None = None) -> bool:
        return True

    async def admit(self, agent: str, tool: ToolSpec | None, person: Person | None = None) -> str | None:
        return None

    async def decide(self, call: Call) -> Decision:
        return ALLOW

    def succeeded(self, call: Call) -> None:
        return None


@dataclass(frozen=True)
class StaticCredentials:
    """One Box client for every call (one token): tests and embedders; deployments use the broker's."""

    client: BoxClient = field(repr=False)
    identity: ActingAs | None = field(default_factory=lambda: ActingAs(kind="developer_token"))

    async def client_for(self, call: Call) -> BoxClient:
        return self.client

    def acting_as(self, agent: str, person: Person | None = None) -> ActingAs | None:
        return self.identity


class NoFilter:
    async def confine(self, call: Call, output: ToolOutput) -> ToolOutput:
        return output

    async def confine_error(self, call: Call, exc: BoxError) -> BoxError:
        return exc


class NoAudit:
    async def intent(self, call: Call) -> None:
        return None

    async def outcome(self, call: Call, outcome: Outcome) -> None:
        return None

    async def rejected(
        self,
        tool: str,
        arguments: Any,
        *,
        call_id: str,
        agent: str,
        transport: TransportKind,
        session: SessionInfo | None,
        outcome: Outcome,
        person: Person | None = None,
    ) -> None:
        return None

    def failure(self) -> str | None:
        return None

    async def sink(self, kind: str, fields: dict[str, Any]) -> None:
        return None
