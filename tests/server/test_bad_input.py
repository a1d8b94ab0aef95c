"""Bad arguments become a tool error naming the field, and nothing reaches Box."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.client import Client

from box_mcp.server import BoxMCPServer

BAD_CALLS: list[tuple[str, dict[str, Any], str]] = [
    ("get_file_details", {}, "file_id"),  # missing field
    ("get_file_details", {"file_id": 123}, "file_id"),  # wrong type
    ("get_file_details", {"file_id": "12a"}, "file_id"),  # not a Box id
    ("get_file_details", {"file_id": "1" * 21}, "file_id"),  # too long for a Box id
    ("get_file_details", {"file_id": "../../users/me"}, "file_id"),  # path injection
    ("get_file_details", {"file_id": "1", "fields": "x"}, "fields"),  # unknown argument
    ("list_folder_content_by_folder_id", {"folder_id": "0", "limit": 0}, "limit"),
    ("list_folder_content_by_folder_id", {"folder_id": "0", "limit": 1001}, "limit"),
    ("list_folder_content_by_folder_id", {"folder_id": "0", "limit": "many"}, "limit"),
    ("search_files_keyword", {"query": "x", "limit": 201}, "limit"),
    ("search_files_keyword", {"query": "x", "offset": 10001}, "offset"),
    ("search_files_keyword", {"query": ""}, "query"),
    ("search_files_keyword", {"query": "x", "ancestor_folder_ids": ["1", "x"]}, "ancestor_folder_ids.1"),
    ("search_files_keyword", {"query": "x", "file_extensions": [".pdf"]}, "file_extensions.0"),
    ("create_folder", {"parent_folder_id": "0", "name": "a/b"}, "name"),
    ("create_folder", {"parent_folder_id": "0", "name": "a\\b"}, "name"),
    ("create_folder", {"parent_folder_id": "0", "name": ".."}, "name"),
    ("create_folder", {"parent_folder_id": "0", "name": " lead"}, "name"),
    ("create_folder", {"parent_folder_id": "0", "name": "bell\x07"}, "name"),
    ("create_folder", {"parent_folder_id": "0", "name": "x" * 256}, "name"),
    ("create_folder", {"parent_folder_id": "0", "name": ""}, "name"),
    ("upload_file", {"parent_folder_id": "0", "name": "a.txt"}, "content_text, content_base64, local_path"),
    (
        "upload_file",
        {"parent_folder_id": "0", "name": "a.txt", "content_text": "x" * (4 * 1024 * 1024 + 1)},
        "content_text",
    ),
    ("upload_file", {"parent_folder_id": "0", "name": "a.txt", "content_base64": "not base64!"}, "base64"),
    (
        "upload_file",
        {"parent_folder_id": "0", "name": "a.txt", "content_text": "x", "content_base64": "eA=="},
        "exactly one",
    ),
    ("update_file_properties", {"file_id": "1"}, "at least one"),
    ("delete_file", {"file_id": "1", "etag": "a b"}, "etag"),
    ("add_file_shared_link", {"file_id": "1", "access": "everyone"}, "access"),
    ("add_file_shared_link", {"file_id": "1", "password": "short"}, "password"),
    ("create_collaboration", {"item_type": "file", "item_id": "1", "role": "owner", "user_id": "2"}, "role"),
    (
        "create_collaboration",
        {"item_type": "file", "item_id": "1", "role": "viewer", "invitee_email": "nope"},
        "invitee_email",
    ),
    ("create_collaboration", {"item_type": "folder", "item_id": "1", "role": "viewer"}, "exactly one"),
    ("get_shared_link", {"item_type": "web_link", "item_id": "1"}, "item_type"),
    ("set_file_metadata", {"file_id": "1", "template_key": "x", "values": {}}, "values"),
    ("set_file_metadata", {"file_id": "1", "template_key": "bad key", "values": {"a": 1}}, "template_key"),
    ("create_file_comment", {"file_id": "1", "message": ""}, "message"),
    ("list_file_comments", {"file_id": "1", "offset": -1}, "offset"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("tool", "args", "names"), BAD_CALLS, ids=[f"{t}-{n}" for t, _, n in BAD_CALLS])
async def test_bad_arguments_get_a_tool_error_naming_the_field_and_nothing_reaches_box(
    counted_server: BoxMCPServer, counting_box: Any, tool: str, args: dict[str, Any], names: str
) -> None:
    async with Client(counted_server) as client:
        result = await client.call_tool(tool, args)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert names in text
    assert "Traceback" not in text
    assert counting_box.requests == []


@pytest.mark.anyio
async def test_rejected_values_are_not_echoed_back(counted_server: BoxMCPServer, counting_box: Any) -> None:
    async with Client(counted_server) as client:
        result = await client.call_tool("get_file_details", {"file_id": "secret-value-123"})
    assert "secret-value-123" not in result.content[0].text  # type: ignore[union-attr]


@pytest.mark.anyio
async def test_unknown_tool_is_a_tool_error(counted_server: BoxMCPServer, counting_box: Any) -> None:
    async with Client(counted_server) as client:
        result = await client.call_tool("rm_rf", {})
    assert result.is_error and "Unknown tool" in result.content[0].text  # type: ignore[union-attr]
    assert counting_box.requests == []


@pytest.mark.anyio
async def test_local_paths_are_refused_outside_stdio_before_any_request(
    counted_server: BoxMCPServer, counting_box: Any
) -> None:
    async with Client(counted_server) as client:
        result = await client.call_tool(
            "upload_file", {"parent_folder_id": "0", "name": "a.txt", "local_path": "/etc/passwd"}
        )
    assert result.is_error and "stdio" in result.content[0].text  # type: ignore[union-attr]
    assert counting_box.requests == []
