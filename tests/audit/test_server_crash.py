"""Issue 6's durability test on the real server: `box-mcp serve --transport http` serves concurrent
create_folder calls against a loopback emulator and is SIGKILLed at a random moment, a few times.

Every call the client saw acknowledged has its intent and outcome on disk, `audit verify` passes up to
the crash (intents without outcome are reported as incomplete), and each restarted server continues
the one chain. The client speaks raw JSON-RPC over HTTP so a dying server only costs it a socket error.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from anyio.abc import Process

from box_mcp.audit import verify
from box_mcp.emulator.testing import running_emulator
from tests.server.hostile_servers import rpc_message

ROOT = Path(__file__).resolve().parents[2]
KILLS = 3
WORKERS = 8
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
CLIENT = {"name": "durability-client", "version": "1.0"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    with running_emulator(seed="demo", rate_limits=False) as emu:
        yield emu


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_server(emulator: Any, data_dir: Path) -> tuple[Process, str]:
    token = next(u["developer_token"] for u in emulator.credentials["users"] if u["login"].startswith("ada"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_MCP_", "BOX_DEVELOPER", "BOX_JWT"))}
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env |= {"BOX_DEVELOPER_TOKEN": token, "BOX_MCP_DATA_DIR": str(data_dir), "PYTHONPATH": path}
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "box_mcp.cli",
        "serve",
        "--transport",
        "http",
        "--port",
        str(port),
        "--box-url",
        emulator.base_url,
        "--toolsets",
        "folders",
    ]
    proc = await anyio.open_process(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    async with httpx2.AsyncClient() as http:
        for _ in range(600):  # bounded: 600 x 25 ms
            if proc.returncode is not None:
                raise AssertionError(f"box-mcp serve exited with {proc.returncode} before serving")
            try:
                if (await http.get(url + "/healthz")).status_code == 200:
                    return proc, url + "/mcp"
            except httpx2.TransportError:
                pass
            await anyio.sleep(0.025)
    proc.kill()
    await proc.aclose()
    raise AssertionError("box-mcp serve did not start within 15 s")


async def open_session(http: httpx2.AsyncClient, url: str) -> dict[str, str]:
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": CLIENT},
    }
    response = await http.post(url, json=init, headers=HEADERS)
    assert response.status_code == 200, response.text
    headers = HEADERS | {"mcp-session-id": response.headers["mcp-session-id"]}
    await http.post(url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers)
    return headers


async def create_folder(http: httpx2.AsyncClient, url: str, headers: dict[str, str], name: str) -> bool:
    call = {
        "jsonrpc": "2.0",
        "id": name,
        "method": "tools/call",
        "params": {"name": "create_folder", "arguments": {"parent_folder_id": "0", "name": name}},
    }
    response = await http.post(url, json=call, headers=headers)
    result = rpc_message(response).get("result")
    return response.status_code == 200 and isinstance(result, dict) and not result.get("isError")


async def serve_until_killed(proc: Process, url: str, prefix: str, kill_after: int) -> tuple[list[str], str]:
    """Concurrent calls until `kill_after` are acknowledged, then SIGKILL; returns the acknowledged names."""
    acked: list[str] = []
    enough = anyio.Event()
    async with httpx2.AsyncClient(timeout=10) as http:
        headers = await open_session(http, url)

        async def worker(w: int) -> None:
            for n in range(10_000):
                try:
                    ok = await create_folder(http, url, headers, f"{prefix}-{w}-{n}")
                except httpx2.TransportError:
                    return  # the server died under this call: it was never acknowledged
                if ok:
                    acked.append(f"{prefix}-{w}-{n}")
                    if len(acked) >= kill_after:
                        enough.set()

        async with anyio.create_task_group() as tg:
            for w in range(WORKERS):
                tg.start_soon(worker, w)
            await enough.wait()
            proc.send_signal(signal.SIGKILL)  # calls are in flight on every worker right now
            await proc.wait()
    await proc.aclose()
    assert proc.returncode == -signal.SIGKILL
    return acked, headers["mcp-session-id"]


def logged(directory: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        lines = path.read_bytes().splitlines(keepends=True)
        out += [json.loads(line) for line in lines if line.endswith(b"\n")]  # not a torn last line
    return out


@pytest.mark.anyio
@pytest.mark.slow
async def test_acknowledged_calls_survive_sigkill_of_the_server_and_the_chain_continues(
    emulator: Any, tmp_path: Path
) -> None:
    seed = random.randrange(2**32)  # noqa: S311 - picks crash moments, not secrets
    rng = random.Random(seed)  # noqa: S311
    audit_dir = tmp_path / "audit"
    last_seq = 0
    with anyio.fail_after(60):
        for run in range(KILLS):
            where = f"seed {seed}, run {run}"
            proc, url = await start_server(emulator, tmp_path)
            acked, session_id = await serve_until_killed(proc, url, f"crash{run}", rng.randrange(3, 40))
            report = verify(audit_dir)
            assert report.ok, f"{where}: {report.first_bad}"
            assert report.last_seq > last_seq, f"{where}: the restarted server did not extend the chain"
            last_seq = report.last_seq
            records = logged(audit_dir)
            by_name: dict[str, dict[str, dict[str, Any]]] = {}
            for r in records:
                if r["kind"] in ("intent", "outcome"):
                    by_name.setdefault(r["args"]["name"], {})[r["kind"]] = r
            for name in acked:
                pair = by_name.get(name, {})
                assert "intent" in pair and "outcome" in pair, f"{where}: acknowledged {name} is not logged"
                assert pair["outcome"]["intent_id"] == pair["intent"]["id"]
                assert pair["outcome"]["outcome"]["status"] == "ok"
                assert pair["outcome"]["session_id"] == session_id
                assert pair["outcome"]["client_name"] == CLIENT["name"]
            incomplete = {i["id"] for i in report.incomplete_intents}
            assert not incomplete & {by_name[n]["intent"]["id"] for n in acked}, where
            starts = [r for r in records if r["kind"] == "session_start" and r["session_id"] == session_id]
            assert len(starts) == 1 and starts[0]["detail"]["transport"] == "http", where

        proc, url = await start_server(emulator, tmp_path)  # a last server shuts down cleanly
        async with httpx2.AsyncClient(timeout=10) as http:
            headers = await open_session(http, url)
            assert await create_folder(http, url, headers, "after-the-crashes")
            await http.delete(url, headers=headers)  # the client ends its session
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        await proc.aclose()
    final = verify(audit_dir)
    assert final.ok and final.torn_tail is None and final.last_seq > last_seq, f"seed {seed}"
    names = [r["args"]["name"] for r in logged(audit_dir) if r["kind"] == "outcome"]
    assert "after-the-crashes" in names
    ends = [r for r in logged(audit_dir) if r["kind"] == "session_end"]
    assert [r["session_id"] for r in ends] == [headers["mcp-session-id"]]  # killed sessions never ended
