"""The gate: the one wrapper around every tool call (the seams it calls are in box_mcp/seams.py).

    identify agent -> validate args -> resources/facts -> policy.decide -> credentials.client_for
    -> audit.intent (writes) -> handler -> results.confine -> audit.outcome

A denied call or a call with bad arguments makes no Box request. Every failure becomes a tool result
with isError and a message fit for a model: never a traceback, never a secret.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp_types import CallToolResult, TextContent
from pydantic import ValidationError

from box_mcp.decision import ALLOW, Decision, deny
from box_mcp.errors import (
    AuditError,
    BoxError,
    BoxMCPError,
    BrokerError,
    Denied,
    NeedsSignIn,
    ToolInputError,
)
from box_mcp.events import Events, SessionInfo
from box_mcp.identity import Person
from box_mcp.seams import (
    AllowAll,
    Approver,
    AuditHook,
    Call,
    CapabilityRequired,
    ConnectRequired,
    CredentialsHook,
    InputRequired,
    NoAudit,
    NoFilter,
    Outcome,
    PolicyHook,
    ResultFilterHook,
    no_approver,
)
from box_mcp.telemetry import NULL, Telemetry
from box_mcp.tools.local import LocalRules, confine_path
from box_mcp.tools.marking import result_content
from box_mcp.tools.recheck import hint_for
from box_mcp.tools.spec import (
    ProgressReporter,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    TransportKind,
    no_progress,
)

if TYPE_CHECKING:
    from box_mcp.box.client import BoxClient

log = logging.getLogger("box_mcp.gate")


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def describe_validation_error(tool: str, exc: ValidationError) -> str:
    """Name each bad field and what is wrong; never echo the rejected values (they are the caller's data)."""
    problems = []
    for err in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "arguments"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch" and any(
            str(p).endswith(("_id", "_ids")) for p in err["loc"]
        ):
            msg += " (a Box id is a string of 1-20 digits)"
        problems.append(f"{where}: {msg}")
    return (
        f"Invalid arguments for {tool}: " + "; ".join(problems) + ". Nothing was sent to Box; fix and retry."
    )


class Gate:
    """Runs tool calls for one deployment: the selected catalog plus the four hooks."""

    def __init__(
        self,
        tools: Sequence[ToolSpec],
        *,
        credentials: CredentialsHook,
        policy: PolicyHook | None = None,
        results: ResultFilterHook | None = None,
        audit: AuditHook | None = None,
        allowed_dirs: Sequence[Path] = (),
        protected_paths: Sequence[Path] = (),
        max_read_bytes: int = 1_048_576,
        events: Events | None = None,
        unavailable: Mapping[str, str] | None = None,
    ) -> None:
        self.tools = {t.name: t for t in tools}
        self.unavailable = dict(unavailable or {})  # tool left out on this transport -> why (for a call)
        self.credentials = credentials
        self.policy: PolicyHook = policy or AllowAll()
        self.results: ResultFilterHook = results or NoFilter()
        self.audit: AuditHook = audit or NoAudit()
        if events is None:  # no deployment hub: this gate's own, recorded by its audit
            events = Events()
            events.connect(self.audit.sink)
        self.events = events  # policy/broker/session events, flushed before each record
        self.allowed_dirs = tuple(Path(d) for d in allowed_dirs)
        self.protected_paths = tuple(Path(p) for p in protected_paths)  # box-mcp's own files
        self.max_read_bytes = max_read_bytes
        # Remote sign-in: a fresh reconnect link for a person whose Box grant is gone (the HTTP app sets it).
        self.connect: Callable[[str], str] | None = None
        self.telemetry: Telemetry = NULL  # spans around the stages below (the deployment sets it)

    def visible_tools(self, agent: str, person: Person | None = None) -> list[ToolSpec]:
        """The tools this agent (for this signed-in person) holds a grant for: its tools/list."""
        return [t for t in self.tools.values() if self.policy.tool_visible(agent, t, person)]

    async def call(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        *,
        agent: str,
        transport: TransportKind,
        person: Person | None = None,
        progress: ProgressReporter = no_progress,
        approve: Approver = no_approver,
        session: SessionInfo | None = None,
        via: str | None = None,
    ) -> CallToolResult:
        """`via`: how the agent reached the tool when not by tools/call (box_mcp/resources.py: a resource
        read, listing or completion; "notification": box-mcp asking, as the agent, whether it may hear of
        a change). The same policy, identity, audit and confinement apply; only a notification check is
        not counted against the agent's rate limits (the agent did not ask for it)."""
        # A name from the catalog only: an unknown one is the caller's text, not fit for a span.
        with self.telemetry.call(name if name in self.tools else "(unknown)", agent, transport):
            return await self._call(
                name, arguments, agent, transport, person, progress, approve, session, via
            )

    async def _call(
        self,
        name: str,
        arguments: dict[str, Any] | None,
        agent: str,
        transport: TransportKind,
        person: Person | None,
        progress: ProgressReporter,
        approve: Approver,
        session: SessionInfo | None,
        via: str | None = None,
    ) -> CallToolResult:
        started = time.perf_counter()
        broken = self.audit.failure()
        if broken:  # nothing could record this call, so it is not served (and not logged again and again)
            return _error(f"Refused: {broken}. Nothing was sent to Box.")
        call_id = uuid.uuid4().hex
        tool = self.tools.get(name)
        # Rate limits count every call, valid or not (not box-mcp's own checks before a notification).
        refusal = None if via == "notification" else await self.policy.admit(agent, tool, person)
        if refusal:
            limited = Outcome(False, deny(refusal), _ms(started), f"Denied: {refusal}", "denied")
            return await self._reject(name, arguments, call_id, agent, transport, session, limited, person)
        if tool is None:
            message = self.unavailable.get(name) or (
                f"Unknown tool {name!r}. Call tools/list to see the tools this server offers."
            )
            return await self._reject(
                name,
                arguments,
                call_id,
                agent,
                transport,
                session,
                Outcome(False, ALLOW, _ms(started), message, "unknown_tool"),
                person,
            )
        try:
            with self.telemetry.stage("validate"):
                args = tool.input_model.model_validate(arguments or {})
                self._check_local_paths(tool, args, transport)
                resources, facts = tool.resources(args), tool.facts(args)
        except (ValidationError, ToolInputError) as exc:
            message = (
                describe_validation_error(name, exc)
                if isinstance(exc, ValidationError)
                else f"Invalid arguments for {name}: {exc}"
            )
            return await self._reject(
                name,
                arguments,
                call_id,
                agent,
                transport,
                session,
                Outcome(False, ALLOW, _ms(started), message, "input"),
                person,
            )
        call = Call(call_id, agent, tool, args, resources, facts, transport, session, person=person, via=via)
        return await self._run(call, progress, approve)

    def _check_local_paths(self, tool: ToolSpec, args: ToolInput, transport: TransportKind) -> None:
        """Refuse a local path the handler would refuse, before facts stat it: a size in a decision would
        tell the agent about files outside the allowed directories (or on an HTTP server's disk)."""
        for name in tool.stdio_only_fields:
            raw = getattr(args, name, None)
            if isinstance(raw, str):
                rules = LocalRules(transport, self.allowed_dirs, self.protected_paths)
                confine_path(rules, raw, field=name, must_exist=False)

    async def _reject(
        self,
        name: str,
        arguments: Any,
        call_id: str,
        agent: str,
        transport: TransportKind,
        session: SessionInfo | None,
        outcome: Outcome,
        person: Person | None = None,
    ) -> CallToolResult:
        """A call refused before it became a Call: nothing reached Box, but the attempt is recorded."""
        self.telemetry.outcome(outcome)
        try:
            await self.events.flush()
            with self.telemetry.stage("audit"):
                await self.audit.rejected(
                    name,
                    arguments,
                    call_id=call_id,
                    agent=agent,
                    transport=transport,
                    session=session,
                    outcome=outcome,
                    person=person,
                )
        except AuditError as exc:
            log.error("audit record for rejected call %s could not be written: %s", call_id, exc)
        except Exception:
            log.exception("audit record for rejected call %s could not be written", call_id)
        return _error(outcome.error or "the call was rejected")

    async def _run(self, call: Call, progress: ProgressReporter, approve: Approver) -> CallToolResult:
        started = time.perf_counter()
        decision = ALLOW
        try:
            with self.telemetry.stage("decide"):
                decision = await self.policy.decide(call)
            if decision.approval_required:
                with self.telemetry.stage("approve"):  # box_mcp/approvals.py: records, rounds, holds
                    grant = await approve(call, decision)
                if grant is None:
                    why = decision.reason or "policy"
                    raise Denied(
                        f"Denied: this call needs a person's approval ({why}), and it was not given "
                        "(declined, or this client cannot ask). Ask the user to approve it, or do something "
                        "that needs no approval."
                    )
                call = replace(call, approval=grant)
            elif not decision.allowed:
                told = decision.shown or decision.reason  # `shown` withholds what the agent may not learn
                raise Denied(f"Denied: {told or 'no policy rule allows this call'}")
            if decision.args is not None:  # the policy narrowed the call: hooks downstream see the new args
                args = decision.args
                call = replace(
                    call, args=args, resources=call.tool.resources(args), facts=call.tool.facts(args)
                )
            with self.telemetry.stage("broker"):
                client = await self.credentials.client_for(call)
            box = _declared(client, call.tool)
            # for the audit
            call = replace(call, acting_as=self.credentials.acting_as(call.agent, call.person))
            if not call.tool.read_only:
                await self.events.flush()
                with self.telemetry.stage("audit"):
                    await self.audit.intent(call)
            ctx = ToolContext(
                box=box,
                transport=call.transport,
                allowed_dirs=self.allowed_dirs,
                protected_paths=self.protected_paths,
                progress=progress,
                max_read_bytes=self.max_read_bytes,
            )
            with self.telemetry.stage("handler"):
                output = await call.tool.handler(ctx, call.args)
            self._succeeded(call)  # e.g. a session's first destructive call has now happened
            with self.telemetry.stage("confine"):
                output = await self.results.confine(call, output)
        except (InputRequired, ConnectRequired):
            raise
        except CapabilityRequired as needed:
            await self._record(call, Outcome(False, decision, _ms(started), needed.message, "denied"))
            raise
        except anyio.get_cancelled_exc_class():
            # The client gave up (or the server is stopping): a started write may still have happened.
            with anyio.CancelScope(shield=True):
                await self._record(call, Outcome(False, decision, _ms(started), "cancelled", "cancelled"))
            raise
        except BoxMCPError as exc:
            exc = await self._confine_error(call, exc)
            person_id = getattr(exc, "person_id", None) if isinstance(exc, NeedsSignIn) else None
            if person_id and self.connect is not None:  # a signed-in person's Box grant is gone
                url = self.connect(str(person_id))
                message = (
                    "Your Box account is no longer connected to box-mcp (the sign-in was revoked or has "
                    f"expired). Open {url} to sign in to Box again, then retry. Nothing was sent to Box."
                )
                await self._record(call, Outcome(False, decision, _ms(started), message, "broker"))
                raise ConnectRequired(url, message, _error(message)) from None
            outcome = _failed(exc, decision, started)
            await self._record(call, outcome)
            return _error(outcome.error or "the call failed")
        except Exception:
            # A bug, not a Box answer: the agent gets a reference, the log gets the traceback.
            log.exception("tool %s crashed (call %s)", call.tool.name, call.call_id)
            message = (
                f"Internal error in {call.tool.name} (reference {call.call_id}); the server log has details."
            )
            await self._record(call, Outcome(False, decision, _ms(started), message, "internal"))
            return _error(message)
        recorded = await self._record(
            call,
            Outcome(
                True,
                decision,
                _ms(started),
                result_item=_result_item(output),
                result_detail=output.audit_detail(),
            ),
        )
        if not recorded and call.tool.read_only:
            # A read the audit could not record is not served: what it read stays with the server.
            return _error(
                f"Refused: the audit log could not record this {call.tool.name} call, so its "
                "result is withheld. Nothing was changed in Box."
            )
        text, structured = output.text_and_structured()
        return CallToolResult(
            content=result_content(call.tool, output, text, _result_item(output)),
            structured_content=structured,
            is_error=False,
        )

    def _succeeded(self, call: Call) -> None:
        """Tell the policy a call went through; a hook that fails here must not turn a done write into an
        error (the write happened: its outcome is still recorded and returned)."""
        hook = getattr(self.policy, "succeeded", None)
        if hook is None:  # a PolicyHook written before the hook existed
            return
        try:
            hook(call)
        except Exception:
            log.exception("the policy's succeeded hook failed for call %s", call.call_id)

    async def _confine_error(self, call: Call, exc: BoxMCPError) -> BoxMCPError:
        """A Box error names items too (a name conflict's id): the result filter may trim those."""
        if not isinstance(exc, BoxError):
            return exc
        try:
            confined = await self.results.confine_error(call, exc)
        except Exception:
            log.exception("confining the error of call %s failed", call.call_id)
            # Box's code without its details, and without saying why they are left out.
            status, code = getattr(exc, "status", None), getattr(exc, "code", None)
            said = f" (Box said {status} {code})" if status and code else ""
            return BoxError(f"Box refused {call.tool.name}{said}.")
        return confined if isinstance(confined, BoxMCPError) else exc

    async def _record(self, call: Call, outcome: Outcome) -> bool:
        """Record the call's outcome; False (logged for the operator) when the audit could not."""
        self.telemetry.outcome(outcome)
        try:
            await self.events.flush()  # a policy reload or token refresh during this call comes first
            with self.telemetry.stage("audit"):
                await self.audit.outcome(call, outcome)
        except AuditError as exc:
            # The log has told the operator why (once, with the cause); one line per call is enough.
            log.error("audit outcome for call %s could not be recorded: %s", call.call_id, exc)
            return False
        except Exception:
            # The work already happened; an unrecordable outcome is logged loudly for the operator.
            log.exception("audit outcome for call %s could not be recorded", call.call_id)
            return False
        return True


def _declared(box: BoxClient, tool: ToolSpec) -> BoxClient:
    """The call's client, told what the tool declares: whether its writes may be sent again after a 5xx
    (`Hints.idempotent`, not the HTTP method) and how to check one that failed uncertainly."""
    bound = getattr(box, "bound", None)
    if bound is None:  # a test double that is not a BoxClient
        return box
    view: BoxClient = bound(idempotent=tool.hints.idempotent, check_hint=hint_for(tool.name))
    return view


def _result_item(output: ToolOutput) -> dict[str, str] | None:
    """type/id/name/parent_path of an output that is one Box item (file, folder, web link details)."""
    item_id, kind, name = (getattr(output, k, None) for k in ("id", "type", "name"))
    if not (isinstance(item_id, str) and isinstance(kind, str) and isinstance(name, str)):
        return None
    item = {"type": kind, "id": item_id, "name": name}
    path = getattr(output, "path", None)
    if isinstance(path, str) and "/" in path:
        item["parent_path"] = path.rsplit("/", 1)[0] or "/"
    return item


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _failed(exc: BoxMCPError, decision: Decision, started: float) -> Outcome:
    match exc:
        case Denied():
            kind = "denied"
        case ToolInputError():
            kind = "input"
        case BoxError():
            kind = "box"
        case BrokerError():
            kind = "broker"
        case AuditError():
            kind = "audit"
        case _:
            kind = "error"
    message = str(exc) or type(exc).__name__
    if kind == "input":
        message = f"Invalid arguments: {message}"
    return Outcome(
        False,
        decision,
        _ms(started),
        message,
        kind,
        box_status=getattr(exc, "status", None) or decision.box_status,
        box_code=getattr(exc, "code", None) or decision.box_code,
        box_request_id=getattr(exc, "request_id", None) or decision.box_request_id,
    )
