"""Approval rounds of the 2026-07-28 era in process: an approval lets one call through once, even on a
server with no deployment state (its own key and ledger), and cannot be moved onto other arguments."""

from __future__ import annotations

from typing import Any

import mcp_types as types
import pytest
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from box_mcp.config import Settings
from box_mcp.decision import ALLOW, Decision
from box_mcp.seams import AllowAll, Call, StaticCredentials
from box_mcp.server import build_server

pytestmark = pytest.mark.anyio

APPROVED = types.ElicitResult(action="accept", content={"approve": True})


class AskForDeletes(AllowAll):
    async def decide(self, call: Call) -> Decision:
        if call.tool.name == "delete_file":
            return Decision("approval_required", reason="rule ask-first")
        return ALLOW


async def _never(context: Any, params: Any) -> types.ElicitResult:
    raise AssertionError("the test answers the round itself")


async def test_an_approval_answered_twice_deletes_once_and_cannot_move_to_another_file(
    emu: Any, box: Any
) -> None:
    server = build_server(
        Settings.load(env={}), credentials=StaticCredentials(box), policy=AskForDeletes(), transport="memory"
    )
    doomed, other = emu.file("Engineering/notes.txt"), emu.file("Engineering/README.md")
    async with Client(server, mode="2026-07-28", elicitation_callback=_never) as client:
        asked = await client.session.call_tool("delete_file", {"file_id": doomed}, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult) and asked.request_state

        async def answer(file_id: str) -> Any:
            return await client.session.call_tool(
                "delete_file",
                {"file_id": file_id},
                input_responses={"approval": APPROVED},
                request_state=asked.request_state,
                allow_input_required=True,
            )

        with pytest.raises(MCPError, match="Invalid or expired requestState"):
            await answer(other)  # the SDK's seal binds the round to its arguments
        first = await answer(doomed)
        deletes = sum(r.method == "DELETE" for r in emu.requests)
        again = await answer(doomed)
    assert isinstance(first, types.CallToolResult) and not first.is_error, first
    assert isinstance(again, types.CallToolResult) and again.is_error
    assert "already used" in again.content[0].text  # type: ignore[union-attr]
    assert deletes == 1 and sum(r.method == "DELETE" for r in emu.requests) == 1  # Box saw one delete
