"""A tool that cannot work on a transport is not listed there, nor callable: a real `box-mcp serve` over
HTTP and over stdio, each against a loopback emulator, through a real MCP client."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from box_mcp.errors import ConfigError
from box_mcp.tools.catalog import CATALOG, select

pytestmark = pytest.mark.anyio

OVER_HTTP = (
    "download_file is only offered over stdio (this server runs over http): it works on files on the disk "
    "of the machine box-mcp runs on, which only a local stdio client shares. Instead, read a file's content "
    "with get_file_content (small files), or give a person a download link with add_file_shared_link."
)


def _env(emulator: Any, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_", "XDG_"))}
    return env | {
        "BOX_DEVELOPER_TOKEN": emulator.token("ada"),
        "BOX_MCP_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }


@asynccontextmanager
async def serve_http(emulator: Any, tmp_path: Path) -> AsyncIterator[str]:
    """`box-mcp serve --transport http --port 0`; yields the MCP URL it announces."""
    argv = [
        sys.executable,
        "-m",
        "box_mcp.cli",
        "serve",
        "--transport",
        "http",
        "--port",
        "0",
        "--box-url",
        emulator.base_url,
    ]
    async with await anyio.open_process(argv, env=_env(emulator, tmp_path)) as proc:
        try:
            assert proc.stderr is not None
            seen = b""
            with anyio.fail_after(30):
                while (found := re.search(rb"http://127\.0\.0\.1:(\d+)/mcp", seen)) is None:
                    seen += await proc.stderr.receive()
            yield found.group(0).decode()
        finally:
            proc.terminate()


async def test_over_http_download_file_is_neither_listed_nor_callable_but_inline_upload_is(
    emulator: Any, tmp_path: Path
) -> None:
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve_http(emulator, tmp_path))
        http = await stack.enter_async_context(httpx2.AsyncClient())
        async with Client(streamable_http_client(url, http_client=http)) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            target = str(tmp_path / "x")
            download = await client.call_tool("download_file", {"file_id": "1", "local_path": target})
            upload = await client.call_tool(
                "upload_file", {"parent_folder_id": "0", "name": "inline.txt", "content_text": "hello"}
            )
    assert names == [s.name for s in select() if s.name != "download_file"]  # the default toolsets
    assert download.is_error and download.content[0].text == OVER_HTTP
    assert not upload.is_error and upload.structured_content["size"] == 5


async def test_over_stdio_without_an_allowed_dir_download_file_is_listed_and_says_how_to_enable_it(
    emulator: Any, tmp_path: Path
) -> None:
    argv = ["-m", "box_mcp.cli", "serve", "--transport", "stdio", "--box-url", emulator.base_url]
    params = StdioServerParameters(command=sys.executable, args=argv, env=_env(emulator, tmp_path))
    readme = emulator.credentials["files"]["Engineering/README.md"]
    with anyio.fail_after(60):
        async with Client(params) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            result = await client.call_tool("download_file", {"file_id": readme, "local_path": str(tmp_path)})
    assert names == [s.name for s in select()]
    assert result.is_error and result.content[0].text == (
        "Invalid arguments for download_file: local_path: no local directory is allowed on this server; "
        "whoever runs box-mcp can restart it with --allowed-dir DIR (an upload can send content_text or "
        "content_base64 instead)"
    )
    assert not (tmp_path / "README.md").exists()  # nothing was written


def test_naming_a_tool_that_cannot_work_over_http_fails_at_start() -> None:
    with pytest.raises(ConfigError) as refused:
        select(CATALOG, tools=["who_am_i", "download_file"], transport="http")
    assert str(refused.value) == f"--tools download_file: {OVER_HTTP}"
    assert [s.name for s in select(CATALOG, tools=["download_file"], transport="stdio")] == ["download_file"]


async def test_a_policy_naming_an_extra_toolset_serves_it_and_a_call_to_one_left_out_says_how(
    emulator: Any, tmp_path: Path
) -> None:
    """The extra toolsets (trash, versions, locks, ...) are not served by default; a rule that names one
    serves it without --toolsets, and a call to a tool that is left out says how to serve it."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\ndefault_agent: bot\n"
        'agents:\n  bot:\n    acts_as: {as_user: "' + emulator.user_id("ada") + '"}\n'
        "rules:\n"
        "  - {id: read, effect: permit, agents: [bot], access: read}\n"
        "  - {id: trash, effect: permit, agents: [bot], toolsets: [trash], access: write}\n",
        encoding="utf-8",
    )
    data = tmp_path / "data"
    env = _env(emulator, tmp_path)
    governed = ["--policy", str(policy)]
    for argv, expect_trash in ((governed, True), ([], False)):
        params = StdioServerParameters(
            command=sys.executable,
            args=[
                "-m",
                "box_mcp.cli",
                "serve",
                "--transport",
                "stdio",
                "--box-url",
                emulator.base_url,
                *argv,
            ],
            env=env | {"BOX_MCP_DATA_DIR": str(data / str(expect_trash))},
        )
        async with Client(params) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            locked = await client.call_tool("lock_file", {"file_id": "1"})
        assert ("list_trashed_items" in names) is expect_trash, sorted(names)
        assert "lock_file" not in names and "get_file_details" in names
        assert locked.is_error and "--toolsets default,locks" in locked.content[0].text, locked
