"""The gate: policy before any Box request, audit around writes, result confinement, clean errors."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

from box_mcp.config import Settings
from box_mcp.decision import ALLOW, Decision
from box_mcp.errors import AuditError
from box_mcp.seams import AllowAll, Call, NoAudit, NoFilter, Outcome, StaticCredentials
from box_mcp.server import build_server
from box_mcp.tools.spec import ToolOutput, ToolSpec

pytestmark = pytest.mark.anyio


class Recorder(AllowAll, NoFilter, NoAudit):
    """Policy, filter and audit hooks in one, recording the order of events (the rest of each hook's
    interface is the null hooks' no-ops)."""

    def __init__(self, deny: set[str] = frozenset(), fail_intent: bool = False) -> None:  # type: ignore[assignment]
        self.deny, self.fail_intent = deny, fail_intent
        self.events: list[str] = []
        self.outcomes: list[Outcome] = []

    def tool_visible(self, agent: str, tool: ToolSpec, person: Any = None) -> bool:
        return tool.name not in self.deny

    async def decide(self, call: Call) -> Decision:
        self.events.append(f"decide {call.tool.name} {[str(r.item) for r in call.resources]}")
        if call.tool.name in self.deny:
            return Decision("deny", ("no-x",), f"rule no-{call.tool.name} forbids it")
        return ALLOW

    async def confine(self, call: Call, output: ToolOutput) -> ToolOutput:
        self.events.append(f"confine {call.tool.name}")
        if hasattr(output, "entries"):
            return output.model_copy(update={"entries": [e for e in output.entries if e.name != "HR"]})
        return output

    async def intent(self, call: Call) -> None:
        self.events.append(f"intent {call.tool.name}")
        if self.fail_intent:
            raise AuditError("the audit log is not writable; the call was stopped")

    async def outcome(self, call: Call, outcome: Outcome) -> None:
        self.events.append(f"outcome {call.tool.name} {'ok' if outcome.ok else outcome.error_kind}")
        self.outcomes.append(outcome)


def _server(emu: Any, box: Any, rec: Recorder) -> Any:
    return build_server(
        Settings.load(env={}),
        credentials=StaticCredentials(box),
        policy=rec,
        results=rec,
        audit=rec,
        transport="memory",
    )


async def test_a_denied_call_makes_no_box_request_and_says_which_rule(emu: Any, box: Any) -> None:
    rec = Recorder(deny={"delete_file"})
    before = len(emu.requests)
    async with Client(_server(emu, box, rec)) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        result = await client.call_tool("delete_file", {"file_id": emu.file("HR/salaries.csv")})
    assert "delete_file" not in names
    assert result.is_error and "rule no-delete_file forbids it" in result.content[0].text
    assert len(emu.requests) == before
    assert rec.events == [
        f"decide delete_file ['file {emu.file('HR/salaries.csv')}']",
        "outcome delete_file denied",
    ]
    assert rec.outcomes[0].decision.rule_ids == ("no-x",)


async def test_a_write_is_audited_before_it_runs_and_its_outcome_after(emu: Any, box: Any) -> None:
    rec = Recorder()
    async with Client(_server(emu, box, rec)) as client:
        made = await client.call_tool("create_folder", {"parent_folder_id": "0", "name": "Audited"})
        read = await client.call_tool("get_folder_details", {"folder_id": "0"})
    assert not made.is_error and not read.is_error
    assert rec.events == [
        "decide create_folder ['folder 0']",
        "intent create_folder",
        "confine create_folder",
        "outcome create_folder ok",
        "decide get_folder_details ['folder 0']",
        "confine get_folder_details",
        "outcome get_folder_details ok",
    ]


async def test_a_write_whose_intent_cannot_be_recorded_never_reaches_box(emu: Any, box: Any) -> None:
    rec = Recorder(fail_intent=True)
    before = len(emu.requests)
    async with Client(_server(emu, box, rec)) as client:
        result = await client.call_tool("create_folder", {"parent_folder_id": "0", "name": "Unrecorded"})
    assert result.is_error and "audit log is not writable" in result.content[0].text
    assert len(emu.requests) == before
    assert rec.events[-1] == "outcome create_folder audit"


async def test_results_pass_through_the_filter_before_the_agent_sees_them(emu: Any, box: Any) -> None:
    rec = Recorder()
    async with Client(_server(emu, box, rec)) as client:
        listing = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
    names = [e["name"] for e in listing.structured_content["entries"]]
    assert "Contracts" in names and "HR" not in names


async def test_box_errors_are_recorded_with_their_code_and_request_id(emu: Any, box: Any) -> None:
    rec = Recorder()
    async with Client(_server(emu, box, rec)) as client:
        result = await client.call_tool("get_file_details", {"file_id": "999999999"})
    assert result.is_error
    outcome = rec.outcomes[-1]
    assert outcome.error_kind == "box" and outcome.box_status == 404 and outcome.box_code == "not_found"
    assert outcome.box_request_id and outcome.box_request_id in result.content[0].text


async def test_a_policy_can_narrow_the_arguments_and_the_handler_sees_the_narrowed_call(
    emu: Any, box: Any
) -> None:
    class Narrow(Recorder):
        async def decide(self, call: Call) -> Decision:
            narrowed = call.args.model_copy(update={"limit": 1})
            return Decision("allow", reason="narrowed", args=narrowed)

    rec = Narrow()
    async with Client(_server(emu, box, rec)) as client:
        listing = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0", "limit": 50})
    assert len(listing.structured_content["entries"]) == 1


async def test_a_crashing_handler_gives_a_reference_not_a_traceback(emu: Any, box: Any) -> None:
    class Broken(StaticCredentials):
        async def client_for(self, call: Call) -> Any:
            return None  # the handler will trip over it

    server = build_server(Settings.load(env={}), credentials=Broken(None), transport="memory")  # type: ignore[arg-type]
    async with Client(server) as client:
        result = await client.call_tool("who_am_i", {})
    text = result.content[0].text
    assert result.is_error and "Internal error in who_am_i (reference" in text
    assert "Traceback" not in text and "NoneType" not in text


async def test_a_cancelled_call_still_gets_its_outcome_recorded(emu: Any, box: Any) -> None:
    import functools

    import anyio

    entered = anyio.Event()

    class Stuck(StaticCredentials):
        async def client_for(self, call: Call) -> Any:
            entered.set()
            await anyio.Event().wait()  # never set: only cancellation ends this

    rec = Recorder()
    server = build_server(Settings.load(env={}), credentials=Stuck(None), audit=rec, transport="memory")
    async with anyio.create_task_group() as tg:
        tg.start_soon(
            functools.partial(
                server.gate.call,
                "create_folder",
                {"parent_folder_id": "0", "name": "x"},
                agent="a",
                transport="memory",
            )
        )
        with anyio.fail_after(5):
            await entered.wait()
        tg.cancel_scope.cancel()
    assert rec.outcomes and rec.outcomes[-1].error_kind == "cancelled"


class _NeedsApproval(Recorder):
    async def decide(self, call: Call) -> Decision:
        if call.tool.name == "delete_file":
            return Decision("approval_required", reason="rule approve-deletes")
        return ALLOW


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # input_required round, or back-channel request
@pytest.mark.parametrize(("answer", "runs"), [("yes", True), ("no", False), ("decline", False)])
async def test_a_call_needing_approval_runs_only_when_the_person_approves(
    emu: Any, box: Any, answer: str, runs: bool, mode: str
) -> None:
    import mcp_types as types

    asked: list[str] = []

    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        if answer == "decline":
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"approve": answer == "yes"})

    rec = _NeedsApproval()
    file_id = emu.file("Engineering/notes.txt")
    async with Client(_server(emu, box, rec), elicitation_callback=on_elicit, mode=mode) as client:
        result = await client.call_tool("delete_file", {"file_id": file_id})
    assert asked and "delete_file" in asked[0] and f"file {file_id}" in asked[0]
    assert result.is_error is (not runs)
    if not runs:
        assert "needs a person's approval" in result.content[0].text


async def test_a_client_that_cannot_be_asked_gets_a_denial_not_a_hang(emu: Any, box: Any) -> None:
    rec = _NeedsApproval()
    before = len(emu.requests)
    async with Client(_server(emu, box, rec), mode="legacy") as client:
        result = await client.call_tool("delete_file", {"file_id": emu.file("Engineering/notes.txt")})
    assert result.is_error and "cannot show approval prompts" in result.content[0].text
    assert len(emu.requests) == before


async def test_a_2026_client_that_cannot_be_asked_gets_missing_capability(emu: Any, box: Any) -> None:
    from mcp.shared.exceptions import MCPError

    rec = _NeedsApproval()
    before = len(emu.requests)
    async with Client(_server(emu, box, rec), mode="2026-07-28") as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("delete_file", {"file_id": emu.file("Engineering/notes.txt")})
    assert raised.value.error.code == -32021 and "elicitation" in raised.value.error.message
    assert raised.value.error.data == {"requiredCapabilities": {"elicitation": {"form": {}}}}
    assert len(emu.requests) == before


def test_an_approval_is_bound_to_the_exact_agent_tool_and_arguments() -> None:
    from box_mcp.access import CallFacts
    from box_mcp.approvals import call_fingerprint
    from box_mcp.tools.catalog import get

    spec = get("delete_file")

    def fp(agent: str, file_id: str) -> str:
        args = spec.input_model.model_validate({"file_id": file_id})
        return call_fingerprint(Call("id", agent, spec, args, spec.resources(args), CallFacts(), "memory"))

    assert fp("a", "1") == fp("a", "1")
    assert len({fp("a", "1"), fp("a", "2"), fp("b", "1")}) == 3
    from dataclasses import replace

    from box_mcp.identity import Person

    args = spec.input_model.model_validate({"file_id": "1"})
    base = Call("id", "a", spec, args, spec.resources(args), CallFacts(), "memory")
    ada = replace(base, person=Person(box_user_id="7", client_id="c"))
    bob = replace(base, person=Person(box_user_id="8", client_id="c"))
    assert len({call_fingerprint(base), call_fingerprint(ada), call_fingerprint(bob)}) == 3


class _GrantGone(StaticCredentials):
    """A signed-in person whose Box grant is gone: what the broker raises for a person agent."""

    async def client_for(self, call: Call) -> Any:
        from box_mcp.errors import NeedsSignIn

        raise NeedsSignIn("the Box grant of person 42 was revoked", person_id="42")


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28 input_required, or 2025-11-25 -32042
async def test_a_person_whose_grant_is_gone_is_sent_to_reconnect_by_url(
    emu: Any, box: Any, mode: str
) -> None:
    import mcp_types as types
    from mcp.shared.exceptions import MCPError

    rec = Recorder()
    server = build_server(
        Settings.load(env={}),
        credentials=_GrantGone(box),
        policy=rec,
        results=rec,
        audit=rec,
        transport="memory",
    )
    minted: list[str] = []

    def connect(person_id: str) -> str:
        minted.append(person_id)
        return f"https://box-mcp.example.com/connect/box?request=r{len(minted)}"

    server.gate.connect = connect
    opened: list[str] = []

    async def on_elicit(context: Any, params: Any) -> types.ElicitResult:
        assert params.mode == "url"
        opened.append(params.url)
        return types.ElicitResult(action="accept")

    async with Client(server, elicitation_callback=on_elicit, mode=mode) as client:
        if mode == "legacy":
            with pytest.raises(MCPError) as raised:
                await client.call_tool("who_am_i", {})
            assert raised.value.error.code == -32042
            urls = [e["url"] for e in (raised.value.error.data or {})["elicitations"]]
        else:
            # The SDK fulfils the input_required round (opens the URL) and retries; the grant is still
            # gone, so the retry is refused the same way and the client gets the tool error with the link.
            result = await client.call_tool("who_am_i", {})
            assert result.is_error and "/connect/box?request=" in result.content[0].text
            urls = opened
    assert urls and urls[0].startswith("https://box-mcp.example.com/connect/box?request=")
    assert minted and set(minted) == {"42"}
    async with Client(server) as plain:  # no URL mode declared: the link is in the tool error
        result = await plain.call_tool("who_am_i", {})
    assert result.is_error and "https://box-mcp.example.com/connect/box?request=" in result.content[0].text
    assert all(o.error_kind == "broker" for o in rec.outcomes)
