"""The one decision type: what the policy engine answers, what the gate acts on, what the audit records.

`reason` is the operator's sentence (audit, `policy explain`); it never starts with "denied:", the gate
says that once. `shown` is what a denied agent is told instead when it must not learn `reason` (an item
it may not see reads the same as one that does not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Effect = Literal["allow", "deny", "approval_required"]


@dataclass(frozen=True, slots=True)
class ApprovalTerms:
    """Who may approve a call a require_approval rule holds, how long the call waits, when it expires.

    `by`: "caller" (the person at the client, through MCP elicitation), "admin" (the console's admins,
    `box-mcp approvals approve`), a Box login (an email address), or "group:<Box group id>"."""

    by: tuple[str, ...] = ("caller",)
    hold: float = 0.0  # seconds the call waits for a decision before it answers "waiting for approval"
    expires: float = 600.0  # seconds the record stays decidable and usable

    def who(self) -> str:
        """The approvers in words: 'the person at the client or an admin of this server', ..."""
        names = [
            "the person at the client"
            if b == "caller"
            else "an admin of this server"
            if b == "admin"
            else f"a member of Box group {b.removeprefix('group:')}"
            if b.startswith("group:")
            else b
            for b in self.by
        ]
        return " or ".join(names) or "nobody"


CALLER_APPROVES = ApprovalTerms()


@dataclass(frozen=True, slots=True)
class Decision:
    effect: Effect
    rule_ids: tuple[str, ...] = ()
    reason: str = ""
    shown: str | None = None
    # The call's arguments narrowed by the policy (a search scoped to the agent's grant roots): the same
    # input model as the call's. None keeps the arguments as given.
    args: Any = None
    # A denial because a lookup the decision needed failed at Box: Box's answer, for the audit record.
    box_status: int | None = None
    box_code: str | None = None
    box_request_id: str | None = None
    # approval_required: who approves, how long the call is held, when the approval expires; and the
    # version (digest) of the policy that decided, for the approval record.
    approval: ApprovalTerms | None = None
    policy_version: str = ""

    @property
    def allowed(self) -> bool:
        return self.effect == "allow"

    @property
    def approval_required(self) -> bool:
        return self.effect == "approval_required"


ALLOW = Decision("allow", reason="no policy configured")


def deny(reason: str, rule_ids: tuple[str, ...] = (), *, shown: str | None = None) -> Decision:
    return Decision("deny", rule_ids, reason, shown)
