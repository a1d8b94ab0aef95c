"""The approval flow: what happens to a call a require_approval rule holds (the gate asks `approve`).

Every approval is a stored record (`box_mcp.approval_records`), bound to the exact call by its
fingerprint (agent, person, client, tool, arguments) and used once:

1. An approved, unexpired record for this exact call (approved in the console or with `box-mcp approvals
   approve`) is consumed and the call runs; its audit records name the approval and who approved.
2. When the rule lets the caller approve and the client declared elicitation, the person at the client
   is asked: on the back-channel in the handshake era, in an input_required round in 2026-07-28, whose
   sealed request_state carries the record's id. Their answer decides the record, then it is used: the
   same state and answer sent again, an expired one, or one sent with other arguments are refused.
3. When only the caller may approve and the client declared no elicitation: the 2026-07-28 protocol's
   `-32021` (MissingRequiredClientCapability, HTTP 400); in the handshake era, a tool error saying so.
4. Other approvers (admin, Box logins, Box groups): a pending record (reused, never two for one call);
   the call waits up to the rule's `hold` seconds polling the store (with progress notifications), else
   answers "waiting for approval": the id, where to approve, the expiry, and to retry the same call.

Every create, decision, use and expiry is an `approval` audit record. Nothing the agent sends or Box
returns chooses who approves: that is the policy's `approval:` block, and the record's id comes only
from the store or the server's own sealed request_state.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from mcp.server.context import ServerRequestContext
from mcp.server.request_state import RequestStateSecurity
from mcp.shared.exceptions import MCPError, NoBackChannelError
from mcp_types import (
    CallToolRequestParams,
    ClientCapabilities,
    ElicitationCapability,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    FormElicitationCapability,
    InputRequiredResult,
    MissingRequiredClientCapabilityErrorData,
)
from mcp_types.jsonrpc import MISSING_REQUIRED_CLIENT_CAPABILITY
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from box_mcp.approval_records import (
    ApprovalRequest,
    ApprovalStateError,
    ApprovalStore,
    audit_fields,
    new_approval_id,
)
from box_mcp.audit.redact import Redactor
from box_mcp.decision import CALLER_APPROVES, ApprovalTerms, Decision
from box_mcp.errors import BoxMCPError, Denied
from box_mcp.events import Events
from box_mcp.seams import ApprovalGrant, Call, CapabilityRequired, InputRequired
from box_mcp.tools.spec import ProgressReporter, no_progress

log = logging.getLogger("box_mcp.approvals")

# How long an input_required round's sealed request_state is accepted (the record's own expiry is the
# rule's `expires`; a round older than this is asked again).
APPROVAL_TTL = 600.0
POLL_EVERY = 0.5  # seconds between looks at the store while a call is held (bounded by the hold)
CLI_HINT = "box-mcp approvals approve"

APPROVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"approve": {"type": "boolean", "title": "Approve this call"}},
    "required": ["approve"],
}

T = TypeVar("T")


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


def caller_name(call: Call) -> str:
    """How a decision by the person at the client is recorded: 'caller', the agent, and the person."""
    person = call.person
    who = f"/{person.login or person.box_user_id}" if person is not None else ""
    return f"caller:{call.agent}{who}"


def can_elicit_form(ctx: ServerRequestContext[Any, Any]) -> bool:
    """Whether the client declared form elicitation (a bare `elicitation: {}` means form)."""
    caps = ctx.session.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def is_modern(ctx: ServerRequestContext[Any, Any]) -> bool:
    return ctx.session.protocol_version in MODERN_PROTOCOL_VERSIONS


class ApprovalFlow:
    """The deployment's approvals: one per server, over the deployment's store and audit events.

    `secret_fields` gives the argument names the current policy marks secret (the record's arguments
    are redacted as the audit redacts them); `public_url` names where the console is (else the URL the
    call came in on, over HTTP)."""

    def __init__(
        self,
        store: ApprovalStore,
        events: Events,
        *,
        secret_fields: Callable[[], frozenset[str]] = frozenset,
        public_url: str | None = None,
        poll_every: float = POLL_EVERY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.events = events
        self.secret_fields = secret_fields
        self.public_url = public_url
        self.poll_every = min(max(poll_every, 0.01), POLL_EVERY)
        self.clock = clock

    async def approve(
        self,
        ctx: ServerRequestContext[Any, Any],
        params: CallToolRequestParams,
        call: Call,
        decision: Decision,
        progress: ProgressReporter = no_progress,
    ) -> ApprovalGrant | None:
        """The approval this call runs on, or a refusal (Denied, saying why and what to do), a further
        round (InputRequired) or a protocol error (CapabilityRequired)."""
        terms = decision.approval or CALLER_APPROVES
        fingerprint = call_fingerprint(call)
        await self.expire_due()
        answer = (params.input_responses or {}).get("approval")
        if answer is not None:
            return await self._answered(params, call, decision, fingerprint, answer)
        record = await self._store(self.store.find, fingerprint)
        if record is not None and record.status == "approved":
            return await self._use(record, call, decision, fingerprint)
        if record is None:
            refused = await self._store(self._recent_denial, fingerprint)
            if refused is not None:
                raise Denied(self._denied_text(refused))
        others = tuple(b for b in terms.by if b != "caller")
        if "caller" in terms.by and can_elicit_form(ctx):
            return await self._ask_caller(ctx, call, decision, terms, fingerprint, record, others)
        if not others:
            self._no_elicitation(ctx, call, decision)
        if record is None:
            record = await self._create(call, decision, terms, fingerprint)
        if terms.hold > 0:
            record = await self._hold(record, terms.hold, progress)
        if record.status == "approved":
            return await self._use(record, call, decision, fingerprint)
        if record.status == "denied":
            raise Denied(self._denied_text(record))
        raise Denied(self._waiting_text(ctx, record, decision))

    # -- the store, off the event loop -------------------------------------------------------------

    async def _store(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
        except ApprovalStateError:
            raise
        except BoxMCPError as exc:
            log.error("the approval store could not be used: %s", exc)
            raise Denied(
                "Denied: this call needs a person's approval, and the deployment's approval records "
                "cannot be read or written right now (its state is unavailable). Nothing was sent to Box; "
                "retry in a few seconds."
            ) from None

    def _recent_denial(self, fingerprint: str) -> ApprovalRequest | None:
        """The newest record for this call when it was denied and its expiry has not passed: a retry is
        told who denied it, rather than asking again at once."""
        record = self.store.latest(fingerprint)
        if record is not None and record.status == "denied" and self.clock() < record.expires_at:
            return record
        return None

    async def expire_due(self) -> None:
        """Mark what expired (each by one process) and audit it."""
        try:
            due = await anyio.to_thread.run_sync(self.store.expire_due)
        except BoxMCPError as exc:
            log.warning("expired approvals could not be marked: %s", exc)
            return
        for record in due:
            await self._audit("expired", record)

    async def _audit(self, action: str, record: ApprovalRequest) -> None:
        await self.events.emit("approval", **audit_fields(action, record))

    # -- the steps ---------------------------------------------------------------------------------

    async def _create(
        self, call: Call, decision: Decision, terms: ApprovalTerms, fingerprint: str
    ) -> ApprovalRequest:
        now = self.clock()
        person = call.person
        redact = Redactor(self.secret_fields())
        arguments = redact(call.args.model_dump(mode="json", exclude_none=True))
        record = ApprovalRequest(
            id=new_approval_id(),
            status="pending",
            created_at=now,
            expires_at=now + terms.expires,
            agent=call.agent,
            person_id=person.box_user_id if person is not None else None,
            person_login=person.login if person is not None else None,
            client_id=person.client_id if person is not None else None,
            session_id=call.session.session_id if call.session is not None else None,
            tool=call.tool.name,
            fingerprint=fingerprint,
            arguments=arguments if isinstance(arguments, dict) else {"arguments": arguments},
            resources=tuple(f"{u.access.value} {u.item.type}:{u.item.id}" for u in call.resources),
            policy_version=decision.policy_version,
            rules=decision.rule_ids,
            reason=decision.reason,
            approvers=terms.by,
        )
        await self._store(self.store.create, record)
        await self._audit("created", record)
        return record

    async def _decide(self, record: ApprovalRequest, *, approve: bool, by: str, note: str) -> ApprovalRequest:
        """Record a decision; when someone else decided first, the record as they left it."""
        try:
            decided = await self._store(self.store.decide, record.id, approve=approve, by=by, note=note)
        except ApprovalStateError:
            current = await self._store(self.store.get, record.id)
            return current if current is not None else record
        await self._audit("approved" if approve else "denied", decided)
        return decided

    async def _use(
        self, record: ApprovalRequest, call: Call, decision: Decision, fingerprint: str
    ) -> ApprovalGrant:
        try:
            used = await self._store(
                self.store.consume, record.id, fingerprint=fingerprint, call_id=call.call_id
            )
        except ApprovalStateError as exc:
            raise Denied(
                f"Denied: this call needs a person's approval ({_why(decision)}), and {exc}."
            ) from None
        await self._audit("used", used)
        return ApprovalGrant(used.id, used.decided_by or "unknown")

    async def _ask_caller(
        self,
        ctx: ServerRequestContext[Any, Any],
        call: Call,
        decision: Decision,
        terms: ApprovalTerms,
        fingerprint: str,
        record: ApprovalRequest | None,
        others: tuple[str, ...],
    ) -> ApprovalGrant | None:
        if record is None:
            record = await self._create(call, decision, terms, fingerprint)
        items = ", ".join(str(use.item) for use in call.resources) or "no specific item"
        message = (
            f"Agent '{call.agent}' wants to run {call.tool.name} on {items}. "
            f"The policy requires approval: {decision.reason or 'no reason given'}. Approve this call once?"
        )
        round_ = InputRequired(
            InputRequiredResult(
                input_requests={
                    "approval": ElicitRequest(
                        params=ElicitRequestFormParams(message=message, requested_schema=APPROVAL_SCHEMA)
                    )
                },
                request_state=f"{fingerprint}#{record.id}",
            )
        )
        if is_modern(ctx):
            raise round_
        try:
            result = await ctx.session.elicit_form(
                message, APPROVAL_SCHEMA, related_request_id=ctx.request_id
            )
        except NoBackChannelError:
            raise round_ from None
        except Exception:  # the client failed to show it: nobody approved (an approver may, later)
            log.warning("the approval prompt could not be shown to the client", exc_info=True)
            if others:
                raise Denied(self._waiting_text(ctx, record, decision)) from None
            return None
        accepted = result.action == "accept" and (result.content or {}).get("approve") is True
        note = "" if accepted else "not approved at the client"
        decided = await self._decide(record, approve=accepted, by=caller_name(call), note=note)
        if decided.status == "denied":
            raise Denied(self._denied_text(decided))
        return await self._use(decided, call, decision, fingerprint)

    async def _answered(
        self, params: CallToolRequestParams, call: Call, decision: Decision, fingerprint: str, answer: object
    ) -> ApprovalGrant | None:
        """The retried call of an input_required round: the answer decides the record its sealed
        request_state names, then the record is used, once."""
        bound, _, approval_id = (params.request_state or "").partition("#")
        if bound != fingerprint or not approval_id.startswith("apr_"):
            raise Denied(
                f"Denied: this call needs a person's approval ({_why(decision)}), and the approval sent "
                "with it was asked for another call (other arguments, tool, agent or person). Call again "
                "without it to be asked for this one."
            )
        if not isinstance(answer, ElicitResult):
            return None
        record = await self._store(self.store.get, approval_id)
        if record is None or record.fingerprint != fingerprint or "caller" not in record.approvers:
            raise Denied(
                f"Denied: this call needs a person's approval ({_why(decision)}), and the approval sent "
                "with it is not one this server holds for this call. Call again without it to be asked."
            )
        accepted = answer.action == "accept" and (answer.content or {}).get("approve") is True
        if record.status == "pending":
            note = "" if accepted else "not approved at the client"
            record = await self._decide(record, approve=accepted, by=caller_name(call), note=note)
        if record.status == "denied":
            raise Denied(self._denied_text(record))
        if not accepted:
            return None
        return await self._use(record, call, decision, fingerprint)

    async def _hold(
        self, record: ApprovalRequest, hold: float, progress: ProgressReporter
    ) -> ApprovalRequest:
        """Wait up to `hold` seconds for a decision, looking at the store every `poll_every` seconds and
        telling the client (progress notifications, when it asked for them)."""
        deadline = anyio.current_time() + hold
        steps = max(1, math.ceil(hold / self.poll_every))
        for step in range(steps):
            left = deadline - anyio.current_time()
            if left <= 0:
                break
            await _report(
                progress, step, steps, f"waiting for approval {record.id} ({math.ceil(left)} s left)"
            )
            await anyio.sleep(min(self.poll_every, left))
            current = await self._store(self.store.get, record.id)
            if current is None:
                break
            record = current
            if record.status != "pending":
                break
        await _report(progress, steps, steps, f"approval {record.id}: {record.status}")
        return record

    def _no_elicitation(self, ctx: ServerRequestContext[Any, Any], call: Call, decision: Decision) -> None:
        """Only the caller may approve, and this client cannot ask them."""
        if is_modern(ctx):
            message = (
                f"{call.tool.name} needs the approval of the person at the client ({_why(decision)}), and "
                "this client did not declare the elicitation capability: use a client that supports form "
                "elicitation, or ask the server's admin to let another approver decide."
            )
            data = MissingRequiredClientCapabilityErrorData(
                required_capabilities=ClientCapabilities(
                    elicitation=ElicitationCapability(form=FormElicitationCapability())
                )
            )
            error = MCPError(
                code=MISSING_REQUIRED_CLIENT_CAPABILITY,
                message=message,
                data=data.model_dump(by_alias=True, mode="json", exclude_none=True),
            )
            raise CapabilityRequired(message, error)
        raise Denied(
            f"Denied: this call needs the approval of the person at the client ({_why(decision)}), and this "
            "client cannot show approval prompts (it did not declare the MCP elicitation capability). Use a "
            "client that supports elicitation, or ask the server's admin to name another approver in the "
            "policy (approval: {by: [admin]}). Nothing was sent to Box."
        )

    # -- what the agent reads ----------------------------------------------------------------------

    def where_to_approve(self, ctx: ServerRequestContext[Any, Any], record: ApprovalRequest) -> str:
        base = self.public_url
        request = ctx.request
        if base is None and request is not None:
            base = str(getattr(request, "base_url", "") or "") or None
        if base is not None:
            return f"an approver opens {base.rstrip('/')}/console/approvals/{record.id}"
        return f"an approver runs `{CLI_HINT} {record.id}` on the server"

    def _waiting_text(
        self, ctx: ServerRequestContext[Any, Any], record: ApprovalRequest, decision: Decision
    ) -> str:
        who = ApprovalTerms(tuple(b for b in record.approvers if b != "caller") or record.approvers).who()
        left = max(0, math.ceil(record.expires_at - self.clock()))
        return (
            f"Waiting for approval: this call needs approval by {who} ({_why(decision)}). Approval id "
            f"{record.id}; {self.where_to_approve(ctx, record)}. It expires in {left} s "
            f"(at {time.strftime('%H:%M:%S UTC', time.gmtime(record.expires_at))}). Nothing was sent to Box: "
            "retry the same call with the same arguments once approved."
        )

    @staticmethod
    def _denied_text(record: ApprovalRequest) -> str:
        note = f" ({record.decision_note})" if record.decision_note else ""
        return (
            f"Denied: this call needs a person's approval ({record.reason or 'policy'}), and approval "
            f"{record.id} was denied by {record.decided_by}{note}. Nothing was sent to Box; do not retry "
            "this call unless the user asks you to."
        )


def _why(decision: Decision) -> str:
    return decision.reason or "policy"


async def _report(progress: ProgressReporter, done: float, total: float, message: str) -> None:
    try:
        await progress(done, total, message)
    except Exception:  # a client that went away does not stop the wait
        log.debug("progress notification failed", exc_info=True)
