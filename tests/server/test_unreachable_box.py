"""A real `box-mcp serve` whose Box URL points at nothing: the agent reads the URL and the fix, plainly."""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.anyio

CREDENTIALS = {
    "developer token": {"BOX_DEVELOPER_TOKEN": "dev-token-for-nowhere"},
    "client credentials": {"BOX_CLIENT_ID": "cid", "BOX_CLIENT_SECRET": "csecret", "BOX_ENTERPRISE_ID": "1"},
}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released): connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("mode", list(CREDENTIALS))
async def test_a_tool_call_to_an_unreachable_box_names_the_url_and_the_setting(
    mode: str, tmp_path: Path
) -> None:
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    env |= {"BOX_MCP_DATA_DIR": str(tmp_path), "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    env |= CREDENTIALS[mode]
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "box_mcp.cli", "serve", "--transport", "stdio", "--box-url", f"http://127.0.0.1:{port}"],
        env=env,
    )
    async with Client(params) as client:
        result = await client.call_tool("get_file_details", {"file_id": "1"})
    text = result.content[0].text
    assert result.is_error
    # The token request was retried (broker/tokens.py): the attempts and their wall time are in the text.
    tries = re.compile(r" after 4 attempts over \d+\.\d s\.")
    assert tries.search(text), text
    assert tries.sub(".", text) == (
        f"cannot reach Box at http://127.0.0.1:{port}/ (connection refused) to get an access token. "
        "Fix: check --box-url / BOX_MCP_BOX_URL, or that the emulator is running (box-mcp emulator)."
    )
