"""The TypeScript MCP SDK client of tests/e2e/node, for the interoperability tests: `npm ci` once (a file
lock keeps two xdist workers from racing), then the script spoken to in JSON lines, every wait bounded.

Node and npm are on the machines this project runs on (and the npm registry is reachable from CI); a
missing `node` or a failing `npm ci` fails the test with what went wrong, never a skip.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "oauth_client.mjs"


def ensure_node_modules() -> None:
    """`npm ci` from the committed lock file, once per checkout."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the TypeScript SDK test (apt-get install nodejs npm)"
    with (NODE_DIR / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (NODE_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json").exists():
            return
        done = subprocess.run(  # noqa: S603
            [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"npm ci failed in {NODE_DIR}:\n{done.stdout}\n{done.stderr}"


@dataclass
class TSClient:
    proc: Process
    buffer: bytes = b""
    seen: list[str] = field(default_factory=list)  # every line the script printed (for leak scans)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send((json.dumps(message) + "\n").encode())

    async def next_event(self, seconds: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        with anyio.fail_after(seconds):
            while b"\n" not in self.buffer:
                chunk = await self.proc.stdout.receive()
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        text = line.decode()
        self.seen.append(text)
        event: dict[str, Any] = json.loads(text)
        assert event.get("event") != "error", event.get("message")
        return event

    async def until(self, kind: str, seconds: float = 30.0) -> dict[str, Any]:
        """The next event of `kind`, passing over others (e.g. an authorize the SDK starts on a 401)."""
        with anyio.fail_after(seconds):
            while True:
                event = await self.next_event(seconds)
                if event.get("event") == kind:
                    return event


@asynccontextmanager
async def ts_client(mcp_url: str) -> AsyncIterator[TSClient]:
    await anyio.to_thread.run_sync(ensure_node_modules)
    node = shutil.which("node")
    assert node
    proc = await anyio.open_process([node, str(SCRIPT), mcp_url], cwd=NODE_DIR)
    client = TSClient(proc)
    try:
        yield client
    finally:
        if proc.returncode is None:
            proc.kill()
        with anyio.move_on_after(10):
            await proc.wait()
        await proc.aclose()
