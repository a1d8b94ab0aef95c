"""Main Box errors, tool by tool: a missing item is Box's 404 with its fix; a dead token is a 401."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from mcp.client import Client

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.config import Settings
from box_mcp.server import build_server

pytestmark = pytest.mark.anyio

MISSING = "999999999"

MISSING_ITEM_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("get_file_content", {"file_id": MISSING}),
    ("upload_file_version", {"file_id": MISSING, "content_text": "x"}),
    ("update_file_properties", {"file_id": MISSING, "description": "x"}),
    ("copy_file", {"file_id": MISSING, "destination_folder_id": "0"}),
    ("delete_file", {"file_id": MISSING}),
    ("create_folder", {"parent_folder_id": MISSING, "name": "x"}),
    ("update_folder_properties", {"folder_id": MISSING, "name": "x"}),
    ("copy_folder", {"folder_id": MISSING, "destination_folder_id": "0"}),
    ("move_folder", {"folder_id": MISSING, "destination_folder_id": "0"}),
    ("delete_folder", {"folder_id": MISSING}),
    ("add_file_shared_link", {"file_id": MISSING}),
    ("get_shared_link", {"item_type": "folder", "item_id": MISSING}),
    ("remove_shared_link", {"item_type": "file", "item_id": MISSING}),
    ("create_collaboration", {"item_type": "file", "item_id": MISSING, "role": "viewer", "user_id": "1"}),
    ("list_item_collaborations", {"item_type": "file", "item_id": MISSING}),
    ("update_collaboration", {"collaboration_id": MISSING, "role": "viewer"}),
    ("get_file_metadata", {"file_id": MISSING}),
    ("set_file_metadata", {"file_id": MISSING, "template_key": "contract", "values": {"counterparty": "x"}}),
    ("list_file_comments", {"file_id": MISSING}),
    ("list_tasks", {"file_id": MISSING}),
]


@pytest.mark.parametrize(("tool", "args"), MISSING_ITEM_CALLS, ids=[t for t, _ in MISSING_ITEM_CALLS])
async def test_a_missing_item_is_a_404_tool_error_with_boxs_fix(
    tools: Any, tool: str, args: dict[str, Any]
) -> None:
    text = await tools.err(tool, **args)
    assert "404" in text and "not_found" in text


async def test_download_file_of_a_missing_file_leaves_nothing_behind(
    stdio_tools: Any, allowed_dir: Any
) -> None:
    text = await stdio_tools.err("download_file", file_id=MISSING, local_path=str(allowed_dir / "x.bin"))
    assert "404" in text
    assert list(allowed_dir.iterdir()) == []


async def test_search_under_a_missing_ancestor_finds_nothing_or_says_so(tools: Any, emu: Any) -> None:
    result = await tools.client.call_tool(
        "search_files_keyword", {"query": "budget", "ancestor_folder_ids": [MISSING]}
    )
    assert result.is_error or result.structured_content["entries"] == []


async def test_a_dead_token_is_a_401_tool_error_that_does_not_leak_the_token(emu: Any) -> None:
    box = BoxClient(
        token_source=StaticToken("dead-token-value"),
        base_url="http://emulator",
        transport=httpx2.ASGITransport(app=emu.app),
        max_attempts=1,
    )
    server = build_server(Settings.load(env={}), box_client=box, transport="memory")
    try:
        async with Client(server) as client:
            me = await client.call_tool("who_am_i", {})
            templates = await client.call_tool("list_metadata_templates", {})
    finally:
        await box.aclose()
    for result in (me, templates):
        text = result.content[0].text
        assert result.is_error and "401" in text and "dead-token-value" not in text
