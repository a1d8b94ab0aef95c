"""Real `box-mcp serve` subprocesses for the hostile-input tests: raw JSON-RPC over stdio lines or HTTP.

The client side speaks raw JSON-RPC (bytes we choose, NaN and garbage included), because an MCP client
library would refuse to send what these tests must send.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from anyio.abc import Process

from box_mcp.audit import verify
from tests.state_mode import database_records, state_env

ROOT = Path(__file__).resolve().parents[2]
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CLIENT = {"name": "hostile-client", "version": "1.0"}
PROTOCOL = "2025-06-18"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(emulator: Any, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_MCP_", "BOX_DEVELOPER", "BOX_JWT"))}
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    home = data_dir / "home"
    home.mkdir(parents=True, exist_ok=True)
    env |= {
        "BOX_DEVELOPER_TOKEN": emulator.token("ada"),
        "BOX_MCP_DATA_DIR": str(data_dir),
        "PYTHONPATH": path,
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "data"),
    }
    return env | state_env() | extra


def ccg_env(emulator: Any) -> dict[str, str]:
    """The emulator's Client Credentials Grant app: what a policy's agents act through."""
    ccg = emulator.credentials["ccg"]
    return {
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
    }


def serve_argv(emulator: Any, *args: str) -> list[str]:
    return [sys.executable, "-m", "box_mcp.cli", "serve", "--box-url", emulator.base_url, *args]


def init_message(request_id: int | str = 0) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": CLIENT},
    }


def tool_call(request_id: int | str, name: str, arguments: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def encode(message: dict[str, Any]) -> bytes:
    """JSON as Python writes it, NaN and Infinity included (what a hostile client can send)."""
    return json.dumps(message, allow_nan=True).encode()


def audit_records(data_dir: Path) -> list[dict[str, Any]]:
    """The deployment's audit records: the data dir's files, or the test's database (state_mode)."""
    in_database = database_records()
    if in_database is not None:
        return in_database
    out: list[dict[str, Any]] = []
    for path in sorted((data_dir / "audit").glob("audit-*.jsonl")):
        out += [json.loads(line) for line in path.read_bytes().split(b"\0", 1)[0].splitlines() if line]
    return out


def verify_state(data_dir: Path) -> Any:
    """`audit verify` of the deployment's log: the data dir's files, or the test's database."""
    env = state_env()
    if "BOX_MCP_DATABASE_URL" in env:
        from pydantic import SecretStr

        from box_mcp.state.audit import PostgresAuditReader

        with PostgresAuditReader.open(SecretStr(env["BOX_MCP_DATABASE_URL"])) as reader:
            return reader.verify()
    return verify(data_dir / "audit")


def tool_call_records(data_dir: Path) -> list[dict[str, Any]]:
    """One record per tools/call: a `call` (reads, refusals) or an `intent` (writes)."""
    return [r for r in audit_records(data_dir) if r["kind"] in ("call", "intent")]


def assert_audit_verifies(data_dir: Path) -> None:
    report = verify_state(data_dir)
    assert report.status == "ok", report


@dataclass
class StdioPeer:
    """A `box-mcp serve --transport stdio` process spoken to line by line."""

    proc: Process
    buffer: bytes = b""
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def send_line(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        await self.proc.stdin.send(line + b"\n")

    async def send(self, message: dict[str, Any]) -> None:
        await self.send_line(encode(message))

    async def next_message(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        while b"\n" not in self.buffer:
            self.buffer += await self.proc.stdout.receive()
        line, self.buffer = self.buffer.split(b"\n", 1)
        message = json.loads(line)
        self.seen.append(message)
        return dict(message)

    async def answer(self, request_id: Any) -> dict[str, Any]:
        """The response to `request_id` (notifications and other answers in between are kept in `seen`)."""
        for earlier in self.seen:
            if earlier.get("id") == request_id and ("result" in earlier or "error" in earlier):
                self.seen.remove(earlier)
                return earlier
        while True:
            message = await self.next_message()
            if message.get("id") == request_id and ("result" in message or "error" in message):
                self.seen.remove(message)
                return message

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        await self.send(message)
        return await self.answer(message["id"])


@asynccontextmanager
async def stdio_peer(
    emulator: Any,
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    init_params: dict[str, Any] | None = None,
    stderr: Any = subprocess.DEVNULL,
) -> AsyncIterator[StdioPeer]:
    """An initialized stdio session; on exit stdin closes and the server must exit by itself."""
    argv = serve_argv(emulator, "--transport", "stdio", *args)
    proc = await anyio.open_process(argv, env=server_env(emulator, data_dir, **(env or {})), stderr=stderr)
    peer = StdioPeer(proc)
    try:
        with anyio.fail_after(20):
            init = init_message() | ({"params": init_params} if init_params else {})
            answer = await peer.request(init)
            assert "result" in answer, answer
            await peer.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        yield peer
        assert proc.stdin is not None
        await proc.stdin.aclose()
        with anyio.fail_after(20):
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.aclose()


@dataclass
class HttpServer:
    proc: Process
    url: str  # .../mcp
    port: int


# Lowers the open-file limit, then becomes the server (exec), so descriptor exhaustion is reachable.
_WITH_NOFILE = (
    "import os, resource, sys; n = int(sys.argv[1]); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (n, n)); os.execv(sys.argv[2], sys.argv[2:])"
)


@asynccontextmanager
async def http_server(
    emulator: Any,
    data_dir: Path,
    *args: str,
    stderr: Any = subprocess.DEVNULL,
    nofile: int | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[HttpServer]:
    """`box-mcp serve --transport http` on a free loopback port, serving when the block starts.
    `nofile`: the server's RLIMIT_NOFILE; `env`: more environment variables."""
    port = free_port()
    argv = serve_argv(emulator, "--transport", "http", "--port", str(port), *args)
    if nofile is not None:
        argv = [sys.executable, "-c", _WITH_NOFILE, str(nofile), *argv]
    proc = await anyio.open_process(
        argv, env=server_env(emulator, data_dir, **(env or {})), stdout=subprocess.DEVNULL, stderr=stderr
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx2.AsyncClient() as http:
            for _ in range(600):  # bounded: 600 x 25 ms
                if proc.returncode is not None:
                    raise AssertionError(f"box-mcp serve exited with {proc.returncode} before serving")
                try:
                    if (await http.get(base + "/healthz")).status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                await anyio.sleep(0.025)
            else:
                raise AssertionError("box-mcp serve did not start within 15 s")
        yield HttpServer(proc, base + "/mcp", port)
    finally:
        if proc.returncode is None:
            proc.terminate()
            with anyio.move_on_after(10):
                await proc.wait()
        if proc.returncode is None:
            proc.kill()
        await proc.aclose()


def rpc_message(response: httpx2.Response) -> dict[str, Any]:
    """The JSON-RPC answer of a response sent as JSON or as a server-sent event stream."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    datas = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    found = [json.loads(d) for d in datas if d]
    return next((m for m in found if "result" in m or "error" in m), {})


async def open_http_session(
    http: httpx2.AsyncClient, url: str, headers: dict[str, str] | None = None
) -> dict[str, str]:
    base = HEADERS | (headers or {})
    response = await http.post(url, content=encode(init_message()), headers=base)
    assert response.status_code == 200, response.text
    session = base | {"mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": PROTOCOL}
    await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
    return session


async def http_rpc(
    http: httpx2.AsyncClient, url: str, headers: dict[str, str], message: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(url, content=encode(message), headers=headers)
    assert response.status_code == 200, (response.status_code, response.text)
    return rpc_message(response)
