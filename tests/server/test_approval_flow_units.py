"""ApprovalFlow's corners, on a stand-in request context: a broken store, rounds answered with a state
of another call or an id the server does not hold, a client that fails to show the prompt, a hold
ended by a denial, and where the waiting message says to approve."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import NoBackChannelError

from box_mcp.access import CallFacts
from box_mcp.approval_records import MemoryApprovalStore
from box_mcp.approvals import ApprovalFlow, call_fingerprint
from box_mcp.decision import ApprovalTerms, Decision
from box_mcp.errors import BoxMCPError, Denied
from box_mcp.events import Events
from box_mcp.seams import Call, InputRequired
from box_mcp.tools.catalog import get

pytestmark = pytest.mark.anyio


def _call(file_id: str = "123") -> Call:
    spec = get("delete_file")
    args = spec.input_model.model_validate({"file_id": file_id})
    return Call("call-1", "bot", spec, args, spec.resources(args), CallFacts(), "memory")


def _decision(*by: str, hold: float = 0.0) -> Decision:
    return Decision("approval_required", ("r",), "rule r", approval=ApprovalTerms(by, hold, 600.0))


def _ctx(*, elicit: Any = None, modern: bool = False, can_elicit: bool = True, request: Any = None) -> Any:
    caps = types.ClientCapabilities(elicitation=types.ElicitationCapability() if can_elicit else None)
    session = SimpleNamespace(
        client_capabilities=caps,
        protocol_version="2026-07-28" if modern else "2025-11-25",
        elicit_form=elicit,
    )
    return SimpleNamespace(session=session, request=request, request_id=1)


def _params(**more: Any) -> types.CallToolRequestParams:
    return types.CallToolRequestParams(name="delete_file", arguments={"file_id": "123"}, **more)


class Broken(MemoryApprovalStore):
    def find(self, fingerprint: str) -> Any:
        raise BoxMCPError("database down")

    def expire_due(self) -> Any:
        raise BoxMCPError("database down")


async def test_an_unavailable_store_refuses_the_call_saying_so() -> None:
    flow = ApprovalFlow(Broken(), Events())
    with pytest.raises(Denied, match="cannot be read or written right now"):
        await flow.approve(_ctx(), _params(), _call(), _decision("admin"))


async def test_answers_must_come_with_this_calls_state_and_a_record_the_server_holds() -> None:
    flow = ApprovalFlow(MemoryApprovalStore(), Events())
    call = _call()
    yes = types.ElicitResult(action="accept", content={"approve": True})
    other = call_fingerprint(_call("456"))
    with pytest.raises(Denied, match="asked for another call"):
        await flow.approve(
            _ctx(),
            _params(input_responses={"approval": yes}, request_state=f"{other}#apr_x"),
            call,
            _decision("caller"),
        )
    state = f"{call_fingerprint(call)}#apr_nosuchidnosuchidnosuch"
    with pytest.raises(Denied, match="not one this server holds"):
        await flow.approve(
            _ctx(), _params(input_responses={"approval": yes}, request_state=state), call, _decision("caller")
        )


async def test_a_prompt_the_client_fails_to_show_leaves_the_record_to_other_approvers() -> None:
    async def fails(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("client broke")

    store = MemoryApprovalStore()
    flow = ApprovalFlow(store, Events())
    with pytest.raises(Denied, match="Waiting for approval"):
        await flow.approve(_ctx(elicit=fails), _params(), _call(), _decision("caller", "admin"))
    assert [r.status for r in store.list()] == ["pending"]
    alone = ApprovalFlow(MemoryApprovalStore(), Events())
    assert await alone.approve(_ctx(elicit=fails), _params(), _call(), _decision("caller")) is None


async def test_no_back_channel_becomes_an_input_required_round() -> None:
    async def no_channel(*args: Any, **kwargs: Any) -> Any:
        raise NoBackChannelError("elicitation/create")

    flow = ApprovalFlow(MemoryApprovalStore(), Events())
    with pytest.raises(InputRequired) as raised:
        await flow.approve(_ctx(elicit=no_channel), _params(), _call(), _decision("caller"))
    assert "approval" in raised.value.result.input_requests


async def test_a_hold_ended_by_a_denial_refuses_at_once() -> None:
    store = MemoryApprovalStore()
    flow = ApprovalFlow(store, Events(), poll_every=0.02)

    async def broken_progress(done: float, total: float | None = None, message: str | None = None) -> None:
        raise RuntimeError("the client went away")

    async def deny_soon() -> None:
        for _ in range(200):
            pending = store.list(status="pending")
            if pending:
                store.decide(pending[0].id, approve=False, by="ops@example.com", note="no")
                return
            await anyio.sleep(0.01)

    refused: list[str] = []

    async def held() -> None:
        try:
            await flow.approve(
                _ctx(can_elicit=False), _params(), _call(), _decision("admin", hold=3), broken_progress
            )
        except Denied as exc:
            refused.append(str(exc))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(deny_soon)
            tg.start_soon(held)
    assert len(refused) == 1 and "denied by ops@example.com (no)" in refused[0]


async def test_the_waiting_message_names_the_console_under_the_public_url_or_the_request() -> None:
    flow = ApprovalFlow(MemoryApprovalStore(), Events(), public_url="https://mcp.example.com/")
    with pytest.raises(Denied) as raised:
        await flow.approve(_ctx(can_elicit=False), _params(), _call(), _decision("admin"))
    [record] = flow.store.list()
    assert f"https://mcp.example.com/console/approvals/{record.id}" in str(raised.value)
    local = ApprovalFlow(MemoryApprovalStore(), Events())
    request = SimpleNamespace(base_url="http://127.0.0.1:8123/")
    with pytest.raises(Denied) as raised:
        await local.approve(_ctx(can_elicit=False, request=request), _params(), _call(), _decision("admin"))
    [record] = local.store.list()
    assert f"http://127.0.0.1:8123/console/approvals/{record.id}" in str(raised.value)


async def test_a_console_decision_is_stored_and_audited_and_who_may_decide_is_checked() -> None:
    from box_mcp.approval_records import ApprovalStateError, may_decide

    events = Events()
    seen: list[tuple[str, dict[str, Any]]] = []

    async def sink(kind: str, fields: dict[str, Any]) -> None:
        seen.append((kind, fields))

    events.connect(sink)
    flow = ApprovalFlow(MemoryApprovalStore(), events)
    with pytest.raises(Denied):
        await flow.approve(
            _ctx(can_elicit=False), _params(), _call(), _decision("alice@example.com", "group:9")
        )
    [record] = flow.store.list()
    assert may_decide(record, login="Alice@Example.com") and may_decide(record, groups=["9"])
    assert not may_decide(record, admin=True) and not may_decide(
        record, login="bob@example.com", groups=["8"]
    )
    decided = await flow.decide(record.id, approve=True, by="alice@example.com", note="ok")
    assert decided.status == "approved"
    assert [f["detail"]["action"] for k, f in seen if k == "approval"] == ["created", "approved"]
    with pytest.raises(ApprovalStateError, match="already decided"):
        await flow.decide(record.id, approve=False, by="alice@example.com", note="")
