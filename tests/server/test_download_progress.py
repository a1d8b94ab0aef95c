"""download_file reports progress as uploads do, through a real `box-mcp serve --transport stdio` and a
real MCP client collecting the progress notifications, against a loopback emulator."""

from __future__ import annotations

import base64
import os
import random
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

pytestmark = pytest.mark.anyio

SIZE = 1_500_000  # several 256 KiB progress steps, and still under the 4 MiB inline upload cap


def serve_stdio(emulator: Any, tmp_path: Path, *flags: str) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_", "XDG_"))}
    env |= {
        "BOX_DEVELOPER_TOKEN": emulator.token("ada"),
        "BOX_MCP_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }
    argv = ["-m", "box_mcp.cli", "serve", "--transport", "stdio", "--box-url", emulator.base_url, *flags]
    return StdioServerParameters(command=sys.executable, args=argv, env=env)


class Seen:
    """The progress notifications of one call, in the order the client got them."""

    def __init__(self, total: int) -> None:
        self.updates: list[tuple[float, float | None]] = []
        self.total = total
        self.done = anyio.Event()

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.updates.append((progress, total))
        if progress == self.total:
            self.done.set()

    async def until_done(self) -> list[tuple[float, float | None]]:
        with anyio.fail_after(10):  # a notification may be handled just after the result arrives
            await self.done.wait()
        return self.updates


async def test_upload_and_download_over_stdio_report_strictly_increasing_progress_ending_at_the_size(
    emulator: Any, tmp_path: Path
) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    content = random.Random(9).randbytes(SIZE)  # noqa: S311  (test data)
    inline = base64.b64encode(content).decode()
    uploaded, downloaded = Seen(SIZE), Seen(SIZE)
    with anyio.fail_after(60):
        async with Client(serve_stdio(emulator, tmp_path, "--allowed-dir", str(allowed))) as client:
            made = await client.call_tool(
                "upload_file",
                {"parent_folder_id": "0", "name": "big.bin", "content_base64": inline},
                progress_callback=uploaded,
            )
            assert not made.is_error, made.content[0].text
            got = await client.call_tool(
                "download_file",
                {"file_id": made.structured_content["id"], "local_path": str(allowed)},
                progress_callback=downloaded,
            )
            up, down = await uploaded.until_done(), await downloaded.until_done()
    assert not got.is_error, got.content[0].text
    assert got.structured_content["size"] == SIZE
    assert (allowed / "big.bin").read_bytes() == content
    for updates in (up, down):
        values = [progress for progress, _ in updates]
        assert values == sorted(set(values)), values  # strictly increasing: no repeats, never back
        assert {total for _, total in updates} == {SIZE}
        assert values[-1] == SIZE
    # 1.5 MB in steps of at least 256 KiB and the end: the upload from 0, the download from its first
    # 64 KiB chunk on (its size is known only once Box answers).
    assert [p for p, _ in up] == [0, 262144, 524288, 786432, 1048576, 1310720, SIZE]
    assert [p for p, _ in down] == [65536, 327680, 589824, 851968, 1114112, 1376256, SIZE]
