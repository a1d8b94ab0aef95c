"""Approvals asked of the person at the client: MCP form elicitation, bound to the exact call.

Handshake-era connections get an elicitation request on the back-channel. Newer ones get an
input_required round: the answer comes back on the retried call, bound to it by a fingerprint the SDK
seals into request_state (the server's RequestStateBoundary), so an approval cannot be replayed onto
other arguments.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import NoBackChannelError
from mcp_types import (
    CallToolRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
)

from box_mcp.decision import Decision
from box_mcp.seams import Call, InputRequired

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


async def ask_approval(
    ctx: ServerRequestContext[Any, Any], params: CallToolRequestParams, call: Call, decision: Decision
) -> bool:
    """Ask the person at the client to approve one call; any failure means no."""
    fingerprint = call_fingerprint(call)
    answer = (params.input_responses or {}).get("approval")
    if answer is not None:
        if params.request_state != fingerprint or not isinstance(answer, ElicitResult):
            return False
        return answer.action == "accept" and (answer.content or {}).get("approve") is True
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
            InputRequiredResult(input_requests={"approval": request}, request_state=fingerprint)
        ) from None
    except Exception:  # no elicitation support, client error: nobody approved
        return False
    return result.action == "accept" and (result.content or {}).get("approve") is True
