"""`box-mcp serve --transport stdio` as a test's subprocess, with a stand-in Box change producer.

    python -m tests.server.stdio_with_feed FEED_FILE   (settings from BOX_* / BOX_MCP_* variables)

The deployment, the server and the stdio transport are the ones `box-mcp serve` runs. The webhook
receiver and events follower are replaced by a reader of FEED_FILE: each line the test appends is one
`Change` as JSON, published on the deployment's ChangeFeed as those producers publish theirs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio

from box_mcp.changes import Change, ChangeFeed
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment

POLL = 0.05  # seconds between looks at the feed file


async def follow(path: Path, feed: ChangeFeed) -> None:
    offset = 0
    while True:  # until the server stops (the task group cancels this task)
        file = anyio.Path(path)
        data = await file.read_bytes() if await file.exists() else b""
        complete = data[: data.rfind(b"\n") + 1] if b"\n" in data else b""
        for line in complete[offset:].splitlines():
            if line.strip():
                await feed.publish(Change(**json.loads(line)))
        offset = max(offset, len(complete))
        await anyio.sleep(POLL)


async def main(path: Path) -> None:
    settings = Settings.load(transport="stdio")
    async with open_deployment(settings, transport="stdio") as deployment:
        async with anyio.create_task_group() as tg:
            tg.start_soon(follow, path, deployment.changes)
            await deployment.server.run_stdio()
            tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main, Path(sys.argv[1]))
