"""Nothing hidden shows, through the door a user takes: a real `box-mcp serve` (stdio) with a policy that
confines the agent, a real MCP client, the loopback emulator, and the audit log it writes.

Demo seed: Contracts 200000000001 holds Inbox ...02 (hidden here by a forbid), Archive ...03 and two files.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.anyio

CONTRACTS, INBOX = "200000000001", "200000000002"
MISSING = "999999999999"


async def test_a_served_confined_agent_sees_no_trace_of_hidden_items_and_the_audit_keeps_the_detail(
    emulator: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"  # boxed acts as Ada (As-User on her admin developer token)
    policy.write_text(
        "agents:\n  boxed: {acts_as: {as_user: '30000000001'}}\nrules:\n"
        f"  - {{id: work, effect: permit, agents: boxed, access: write, within: ['{CONTRACTS}']}}\n"
        f"  - {{id: drafts, effect: forbid, agents: boxed, within: ['{INBOX}']}}\n"
    )
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_MCP_", "BOX_DEVELOPER", "BOX_JWT"))}
    env |= {
        "BOX_DEVELOPER_TOKEN": emulator.token("ada"),
        "BOX_MCP_DATA_DIR": str(data),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }
    argv = [
        "-m",
        "box_mcp.cli",
        "serve",
        "--transport",
        "stdio",
        "--box-url",
        emulator.base_url,
        "--policy",
        str(policy),
        "--agent",
        "boxed",
    ]
    outside = emulator.credentials["files"]["HR/salaries.csv"]
    async with Client(StdioServerParameters(command=sys.executable, args=argv, env=env)) as client:

        async def ok(tool: str, **args: Any) -> dict[str, Any]:
            result = await client.call_tool(tool, args)
            assert not result.is_error, result.content[0].text
            return dict(result.structured_content or {})

        async def err(tool: str, **args: Any) -> str:
            result = await client.call_tool(tool, args)
            assert result.is_error, result.structured_content
            return str(result.content[0].text)

        me = await ok("who_am_i")
        folder = await ok("get_folder_details", folder_id=CONTRACTS)
        pages = [await ok("list_folder_content_by_folder_id", folder_id=CONTRACTS, limit=2)]
        pages.append(
            await ok(
                "list_folder_content_by_folder_id",
                folder_id=CONTRACTS,
                limit=2,
                cursor=pages[0]["next_cursor"],
            )
        )
        denials = [await err("get_file_details", file_id=f) for f in (outside, MISSING)]
        conflict = await err("create_folder", parent_folder_id=CONTRACTS, name="Inbox")

    assert me["login"] == "ada@acme.example" and "space_used" not in me and "space_amount" not in me
    listed = [e["name"] for p in pages for e in p["entries"]]
    assert listed == ["Archive", "MSA-Globex.pdf", "NDA-Initech.pdf"] and "next_cursor" not in pages[1]
    assert folder["item_count"] == 3 and "size" not in folder
    assert denials[0].replace(outside, "ID") == denials[1].replace(MISSING, "ID")
    assert denials[0].startswith(f"Denied: file {outside} is not available to boxed"), denials[0]
    assert conflict.startswith("Box said 409 item_name_in_use: Item with the same name already exists (req")
    assert INBOX not in conflict and "conflicts with" not in conflict

    records = [
        json.loads(line)
        for f in sorted((data / "audit").glob("audit-*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    denied = {r["args"]["file_id"]: r for r in records if r.get("tool") == "get_file_details"}
    detail = denied[outside]["decision"]["sentence"]
    assert detail.startswith(f"get_file_details reads file {outside}, outside"), detail
    assert denied[MISSING]["decision"]["sentence"].startswith("not found: Box has no file")
    assert denied[outside]["outcome"]["message"] == denials[0]
