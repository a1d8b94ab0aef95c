"""The approval flow in process: records in a store, decided by an admin or by the caller's answer, used
once, audited at every step; refused when replayed, expired, re-targeted, already used or denied."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client import Client

from box_mcp.approval_records import ApprovalStore, MemoryApprovalStore, SQLiteApprovalStore
from box_mcp.audit.hook import GateAudit
from box_mcp.audit.log import AuditLog
from box_mcp.config import Settings
from box_mcp.decision import ALLOW, ApprovalTerms, Decision
from box_mcp.events import Events
from box_mcp.seams import AllowAll, Call, StaticCredentials
from box_mcp.server import BoxMCPServer, build_server
from tests.audit.test_wiring import records

pytestmark = pytest.mark.anyio

APPROVED = types.ElicitResult(action="accept", content={"approve": True})


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class HoldsDeletes(AllowAll):
    """delete_file and create_folder need approval by `by`; the rest is allowed."""

    def __init__(self, by: tuple[str, ...], hold: float = 0.0, expires: float = 600.0) -> None:
        self.terms = ApprovalTerms(by, hold, expires)

    async def decide(self, call: Call) -> Decision:
        if call.tool.name in ("delete_file", "create_folder"):
            return Decision(
                "approval_required",
                ("ask-first",),
                "rule ask-first holds deletes",
                approval=self.terms,
                policy_version="sha256:test",
            )
        return ALLOW


@dataclass
class World:
    server: BoxMCPServer
    store: ApprovalStore
    audit_dir: Path
    clock: Clock

    def approvals(self) -> list[dict[str, Any]]:
        return [r for r in records(self.audit_dir) if r["kind"] == "approval"]

    def calls(self, tool: str) -> list[dict[str, Any]]:
        return [
            r for r in records(self.audit_dir) if r.get("tool") == tool and r["kind"] in ("call", "outcome")
        ]


@pytest.fixture
async def world_for(tmp_path: Path, box: Any) -> AsyncIterator[Any]:
    opened: list[Any] = []

    async def make(
        by: tuple[str, ...], *, hold: float = 0.0, expires: float = 600.0, sqlite: bool = False
    ) -> World:
        clock = Clock()
        store: ApprovalStore = (
            SQLiteApprovalStore(tmp_path / "approvals.sqlite3", clock)
            if sqlite
            else MemoryApprovalStore(clock)
        )
        log = await AuditLog.open(tmp_path / "audit")
        opened.append((store, log))
        events = Events()
        audit = GateAudit(log, secret_fields=lambda: frozenset({"name"}))
        events.connect(audit.sink)
        server = build_server(
            Settings.load(env={}),
            credentials=StaticCredentials(box),
            policy=HoldsDeletes(by, hold, expires),
            audit=audit,
            events=events,
            transport="memory",
            approvals=store,
            secret_fields=lambda: frozenset({"name"}),
        )
        server.approvals.clock = clock
        server.approvals.poll_every = 0.05
        return World(server, store, tmp_path / "audit", clock)

    try:
        yield make
    finally:
        for store, log in opened:
            await log.aclose()
            store.close()


def _deletes(emu: Any) -> int:
    return sum(r.method == "DELETE" for r in emu.requests)


async def test_an_admin_approval_lets_the_retried_call_run_once(world_for: Any, emu: Any) -> None:
    w = await world_for(("admin",), sqlite=True)
    doomed = emu.file("Engineering/notes.txt")
    async with Client(w.server) as client:
        first = await client.call_tool("delete_file", {"file_id": doomed})
        again = await client.call_tool("delete_file", {"file_id": doomed})
        [record] = w.store.list()
        for result in (first, again):  # the same pending record, never two
            text = result.content[0].text
            assert result.is_error and text.startswith("Waiting for approval") and record.id in text
            assert f"box-mcp approvals approve {record.id}" in text and "retry the same call" in text
            assert "an admin of this server" in text and "expires in 600 s" in text
        assert record.status == "pending" and record.resources == (f"write file:{doomed}",)
        assert record.approvers == ("admin",) and record.policy_version == "sha256:test"
        assert record.rules == ("ask-first",) and record.arguments == {"file_id": doomed}
        w.store.decide(record.id, approve=True, by="admin:ops", note="cleanup")
        ran = await client.call_tool("delete_file", {"file_id": doomed})
        assert not ran.is_error, ran.content[0].text
        assert _deletes(emu) == 1
        after = await client.call_tool("delete_file", {"file_id": doomed})  # used: asks again
    assert after.is_error and after.content[0].text.startswith("Waiting for approval")
    assert _deletes(emu) == 1
    assert w.store.get(record.id).status == "used"  # type: ignore[union-attr]
    steps = [(r["detail"]["action"], r["detail"]["approval_id"]) for r in w.approvals()]
    assert steps[:2] == [("created", record.id), ("used", record.id)]  # the CLI/console audits its decision
    assert steps[2][0] == "created" and steps[2][1] != record.id
    outcome = [r for r in w.calls("delete_file") if r["kind"] == "outcome"]
    assert [o["detail"]["approval"] for o in outcome] == [{"id": record.id, "by": "admin:ops"}]


async def test_a_denied_approval_refuses_the_retry_naming_who_and_why(world_for: Any, emu: Any) -> None:
    w = await world_for(("alice@example.com", "group:42"))
    doomed = emu.file("Engineering/notes.txt")
    async with Client(w.server) as client:
        waiting = await client.call_tool("delete_file", {"file_id": doomed})
        assert "alice@example.com or a member of Box group 42" in waiting.content[0].text
        [record] = w.store.list()
        w.store.decide(record.id, approve=False, by="alice@example.com", note="keep that file")
        refused = await client.call_tool("delete_file", {"file_id": doomed})
    text = refused.content[0].text
    assert refused.is_error and "denied by alice@example.com (keep that file)" in text
    assert len(w.store.list()) == 1 and _deletes(emu) == 0


async def test_an_expired_approval_is_not_used_and_its_expiry_is_audited(world_for: Any, emu: Any) -> None:
    w = await world_for(("admin",), expires=60)
    doomed = emu.file("Engineering/notes.txt")
    async with Client(w.server) as client:
        await client.call_tool("delete_file", {"file_id": doomed})
        [record] = w.store.list()
        w.store.decide(record.id, approve=True, by="admin", note="")
        w.clock.now += 61
        late = await client.call_tool("delete_file", {"file_id": doomed})
    assert late.is_error and "Waiting for approval" in late.content[0].text and _deletes(emu) == 0
    assert w.store.get(record.id).status == "expired"  # type: ignore[union-attr]
    actions = [(r["detail"]["action"], r["detail"]["approval_id"] == record.id) for r in w.approvals()]
    assert actions == [("created", True), ("expired", True), ("created", False)]


async def test_an_approval_does_not_move_to_other_arguments(world_for: Any, emu: Any) -> None:
    w = await world_for(("admin",))
    doomed, other = emu.file("Engineering/notes.txt"), emu.file("Engineering/README.md")
    async with Client(w.server) as client:
        await client.call_tool("delete_file", {"file_id": doomed})
        [record] = w.store.list()
        w.store.decide(record.id, approve=True, by="admin", note="")
        moved = await client.call_tool("delete_file", {"file_id": other})
    assert moved.is_error and record.id not in moved.content[0].text and _deletes(emu) == 0
    assert w.store.get(record.id).status == "approved"  # type: ignore[union-attr]


async def test_a_held_call_runs_when_approved_while_it_waits_and_reports_progress(
    world_for: Any, emu: Any
) -> None:
    w = await world_for(("admin",), hold=5)
    doomed = emu.file("Engineering/notes.txt")
    seen: list[str] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    async def approve_soon() -> None:
        for _ in range(100):
            pending = w.store.list(status="pending")
            if pending:
                w.store.decide(pending[0].id, approve=True, by="admin:ops", note="")
                return
            await anyio.sleep(0.02)

    async with Client(w.server) as client, anyio.create_task_group() as tg:
        tg.start_soon(approve_soon)
        with anyio.fail_after(4):
            result = await client.call_tool("delete_file", {"file_id": doomed}, progress_callback=progress)
    assert not result.is_error, result.content[0].text
    assert _deletes(emu) == 1 and any("waiting for approval" in m for m in seen)


async def test_a_held_call_gives_up_after_its_hold_and_says_how_to_retry(world_for: Any, emu: Any) -> None:
    w = await world_for(("admin",), hold=0.3)
    async with Client(w.server) as client:
        with anyio.fail_after(3):
            result = await client.call_tool("delete_file", {"file_id": emu.file("Engineering/notes.txt")})
    assert result.is_error and result.content[0].text.startswith("Waiting for approval")


async def test_the_record_keeps_arguments_as_the_audit_masks_them(world_for: Any, emu: Any) -> None:
    w = await world_for(("admin",))
    async with Client(w.server) as client:
        await client.call_tool(
            "create_folder",
            {"parent_folder_id": emu.folder("Engineering"), "name": "Bearer abcdefghijklmnop"},
        )
    [record] = w.store.list()
    assert record.arguments["name"] == "[masked]"  # a policy secret field: never stored in clear
    assert "abcdefghijklmnop" not in str(w.approvals())


async def test_caller_rounds_decide_the_record_and_replays_are_refused(world_for: Any, emu: Any) -> None:
    w = await world_for(("caller", "admin"))
    doomed = emu.file("Engineering/notes.txt")

    async def never(context: Any, params: Any) -> types.ElicitResult:
        raise AssertionError("the test answers the round itself")

    async with Client(w.server, mode="2026-07-28", elicitation_callback=never) as client:
        asked = await client.session.call_tool("delete_file", {"file_id": doomed}, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult) and asked.request_state
        [record] = w.store.list()
        assert record.status == "pending" and record.id not in asked.request_state  # sealed

        async def answer(response: types.ElicitResult) -> Any:
            return await client.session.call_tool(
                "delete_file",
                {"file_id": doomed},
                input_responses={"approval": response},
                request_state=asked.request_state,
                allow_input_required=True,
            )

        first = await answer(APPROVED)
        replay = await answer(APPROVED)
    assert isinstance(first, types.CallToolResult) and not first.is_error
    assert isinstance(replay, types.CallToolResult) and replay.is_error
    assert "already used" in replay.content[0].text and _deletes(emu) == 1  # type: ignore[union-attr]
    used = w.store.get(record.id)
    assert used is not None and used.status == "used" and used.decided_by == "caller:default"
    actions = [r["detail"]["action"] for r in w.approvals()]
    assert actions == ["created", "approved", "used"]


async def test_a_caller_round_answered_after_expiry_is_refused(world_for: Any, emu: Any) -> None:
    w = await world_for(("caller",), expires=60)
    doomed = emu.file("Engineering/notes.txt")

    async def never(context: Any, params: Any) -> types.ElicitResult:
        raise AssertionError("the test answers the round itself")

    async with Client(w.server, mode="2026-07-28", elicitation_callback=never) as client:
        asked = await client.session.call_tool("delete_file", {"file_id": doomed}, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        w.clock.now += 61
        late = await client.session.call_tool(
            "delete_file",
            {"file_id": doomed},
            input_responses={"approval": APPROVED},
            request_state=asked.request_state,
            allow_input_required=True,
        )
    assert isinstance(late, types.CallToolResult) and late.is_error
    assert "expired" in late.content[0].text and _deletes(emu) == 0  # type: ignore[union-attr]


async def test_a_declined_round_denies_the_record_and_a_retry_is_told(world_for: Any, emu: Any) -> None:
    w = await world_for(("caller",))
    doomed = emu.file("Engineering/notes.txt")

    async def decline(context: Any, params: Any) -> types.ElicitResult:
        return types.ElicitResult(action="decline")

    async with Client(w.server, mode="legacy", elicitation_callback=decline) as client:
        first = await client.call_tool("delete_file", {"file_id": doomed})
        again = await client.call_tool("delete_file", {"file_id": doomed})
    assert first.is_error and "denied by caller:default (not approved at the client)" in first.content[0].text
    assert again.is_error and "denied by caller:default" in again.content[0].text
    assert len(w.store.list()) == 1 and _deletes(emu) == 0


async def test_a_legacy_back_channel_approval_runs_once(world_for: Any, emu: Any) -> None:
    w = await world_for(("caller",))
    doomed = emu.file("Engineering/notes.txt")

    async def approve(context: Any, params: Any) -> types.ElicitResult:
        return APPROVED

    async with Client(w.server, mode="legacy", elicitation_callback=approve) as client:
        ran = await client.call_tool("delete_file", {"file_id": doomed})
    assert not ran.is_error and _deletes(emu) == 1
    [record] = w.store.list()
    assert record.status == "used" and record.call_id is not None
