"""Approvals asked of the person at the client: MCP form elicitation, bound to the exact call.

Handshake-era connections get an elicitation request on the back-channel. Newer ones get an
input_required round: the answer comes back on the retried call, bound to it by a fingerprint the SDK
seals into request_state (the server's RequestStateBoundary), so an approval cannot be replayed onto
other arguments. The state also carries a fresh approval id, spent in the deployment's ledger
(`box_mcp.ledger`) when it lets its call through: the same state and answer sent again are refused. The
sealing key is the deployment's (`request_state_security`), so a round asked by one replica, or before a
restart, is answered on another.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from typing import Any

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateSecurity
from mcp.shared.exceptions import NoBackChannelError
from mcp_types import (
    CallToolRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
)

from box_mcp.decision import Decision
from box_mcp.errors import BoxMCPError, Denied
from box_mcp.ledger import ApprovalLedger
from box_mcp.seams import Call, InputRequired

log = logging.getLogger("box_mcp.approvals")

# How long an input_required round's sealed request_state is accepted; a spent approval id is kept a
# little longer (a replica's clock may run up to the SDK's 60 s of allowed skew ahead of another's).
APPROVAL_TTL = 600.0
SPENT_FOR = APPROVAL_TTL + 120.0

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approve": {"type": "boolean", "title": "Approve this call"}},
    "required": ["approve"],
}


def call_fingerprint(call: Call) -> str:
    """What an approval is bound to: agent, the signed-in person and their client (remote sign-in), tool
    and exact arguments (sealed by the SDK in request_state): one person's approval is not another's."""
    person = call.person
    who = [person.box_user_id, person.client_id] if person is not None else None
    canonical = json.dumps(
        {
            "agent": call.agent,
            "person": who,
            "tool": call.tool.name,
            "args": call.args.model_dump(mode="json"),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return "approval:" + hashlib.sha256(canonical.encode()).hexdigest()


def request_state_security(key: bytes) -> RequestStateSecurity:
    """Request-state sealing under the deployment's key (AES-256-GCM, the SDK's codec)."""
    return RequestStateSecurity(keys=[key], ttl=APPROVAL_TTL)


async def ask_approval(
    ctx: ServerRequestContext[Any, Any],
    params: CallToolRequestParams,
    call: Call,
    decision: Decision,
    ledger: ApprovalLedger,
) -> bool:
    """Ask the person at the client to approve one call; any failure means no. An approval answered in
    an earlier round is spent here: sent again, it is refused (Denied, saying so, for the audit)."""
    fingerprint = call_fingerprint(call)
    answer = (params.input_responses or {}).get("approval")
    if answer is not None:
        bound, _, approval_id = (params.request_state or "").partition("#")
        if bound != fingerprint or not approval_id or not isinstance(answer, ElicitResult):
            return False
        if not (answer.action == "accept" and (answer.content or {}).get("approve") is True):
            return False
        return await _spend(ledger, approval_id, decision)
    caps = ctx.session.client_capabilities
    if caps is None or caps.elicitation is None:  # this client cannot show a person anything
        return False
    items = ", ".join(str(use.item) for use in call.resources) or "no specific item"
    message = (
        f"Agent '{call.agent}' wants to run {call.tool.name} on {items}. "
        f"The policy requires your approval: {decision.reason or 'no reason given'}."
    )
    try:
        result = await ctx.session.elicit_form(message, APPROVAL_SCHEMA, related_request_id=ctx.request_id)
    except NoBackChannelError:
        request = ElicitRequest(
            params=ElicitRequestFormParams(message=message, requested_schema=APPROVAL_SCHEMA)
        )
        raise InputRequired(
            InputRequiredResult(
                input_requests={"approval": request},
                request_state=f"{fingerprint}#{secrets.token_urlsafe(16)}",
            )
        ) from None
    except Exception:  # no elicitation support, client error: nobody approved
        return False
    return result.action == "accept" and (result.content or {}).get("approve") is True


async def _spend(ledger: ApprovalLedger, approval_id: str, decision: Decision) -> bool:
    """Mark an approval used; Denied when it already was (or when the ledger cannot say)."""
    why = decision.reason or "policy"
    try:
        first = await anyio.to_thread.run_sync(ledger.consume, approval_id, time.time() + SPENT_FOR)
    except BoxMCPError as exc:
        log.error("the ledger of used approvals could not be written: %s", exc)
        raise Denied(
            f"Denied: this call needs a person's approval ({why}), and whether this approval was already "
            "used could not be checked (the deployment's state is unavailable). Retry in a few seconds."
        ) from None
    if not first:
        raise Denied(
            f"Denied: this call needs a person's approval ({why}), and the approval sent with it was already "
            "used: an approval lets one call through once. Ask the user to approve this call again."
        )
    return True
