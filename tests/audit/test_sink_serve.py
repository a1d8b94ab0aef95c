"""The audit sink through the door users use: a real `box-mcp serve --transport http` streaming its audit
records to a loopback HTTP receiver that refuses its first deliveries, then is down while the server
makes records and is restarted; every record the log holds reaches the receiver at least once, and
de-duplicated by hash exactly once. Runs on the file log and, with STATE=postgresql, on PostgreSQL."""

from __future__ import annotations

import http.server
import json
import os
import re
import socket
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from box_mcp.audit import query
from tests.state_mode import ON_POSTGRES, database_records, state_env

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


class Receiver:
    """An HTTP ingest endpoint on a fixed loopback port; refuses its first `refuse` posts with 503."""

    def __init__(self, port: int, refuse: int, into: list[dict[str, Any]]) -> None:
        self.refused = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.refused < refuse:
                    receiver.refused += 1
                    self.send_response(503)
                else:
                    into.extend(json.loads(line) for line in body.splitlines())
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def serve(emulator: Any, env: dict[str, str]) -> AsyncIterator[str]:
    argv = [sys.executable, "-m", "box_mcp.cli", "serve", "--transport", "http", "--port", "0"]
    argv += ["--box-url", emulator.base_url]
    async with await anyio.open_process(argv, env=env) as proc:
        try:
            assert proc.stderr is not None
            seen = b""
            with anyio.fail_after(30):
                while (found := re.search(rb"http://127\.0\.0\.1:(\d+)/mcp", seen)) is None:
                    seen += await proc.stderr.receive()
            assert b"audit sink:   http://127.0.0.1:" in seen and b"sink-secret-pw" not in seen, seen
            yield found.group(0).decode()
        finally:
            proc.terminate()
            with anyio.fail_after(30):
                await proc.wait()


async def _calls(url: str, file_id: str, n: int) -> None:
    async with httpx2.AsyncClient() as http, Client(streamable_http_client(url, http_client=http)) as client:
        for _ in range(n):
            result = await client.call_tool("get_file_details", {"file_id": file_id})
            assert not result.is_error, result.content


def _logged(data: Path) -> list[dict[str, Any]]:
    if ON_POSTGRES:
        records = database_records()
        assert records is not None
        return records
    return list(query(data / "audit"))


async def _until(condition: Any, seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await anyio.sleep(0.05)
    raise AssertionError("the sink did not deliver in time")


async def test_every_record_arrives_at_least_once_through_refusals_an_outage_and_a_restart(
    emulator: Any, tmp_path: Path
) -> None:
    port = _free_port()
    data = tmp_path / "data"
    arrived: list[dict[str, Any]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_", "XDG_"))}
    env |= {
        "BOX_DEVELOPER_TOKEN": emulator.token("ada"),
        "BOX_MCP_DATA_DIR": str(data),
        "HOME": str(tmp_path),
        "BOX_MCP_AUDIT_SINK": f"http://ingest:sink-secret-pw@127.0.0.1:{port}/ingest",
        **state_env(),
    }
    file_id = emulator.credentials["files"]["Engineering/README.md"]
    receiver = Receiver(port, refuse=3, into=arrived)
    try:
        async with serve(emulator, env) as url:
            await _calls(url, file_id, 3)
            await _until(lambda: len({r["hash"] for r in arrived}) >= 3)
            assert receiver.refused == 3
            receiver.close()  # the receiver goes down while calls go on
            await _calls(url, file_id, 3)
        # the first server has stopped; the second starts with the receiver still down
        async with serve(emulator, env) as url:
            await _calls(url, file_id, 2)
            await anyio.sleep(1.0)
            receiver = Receiver(port, refuse=1, into=arrived)  # back, refusing once more
            await _calls(url, file_id, 1)
            logged = _logged(data)
            assert sum(1 for r in logged if r.get("tool") == "get_file_details") == 9
            want = {r["hash"] for r in logged}
            await _until(lambda: want <= {r["hash"] for r in arrived})
    finally:
        receiver.close()
    by_hash = {r["hash"]: r for r in arrived}
    logged_by_hash = {r["hash"]: r for r in logged}
    for digest, record in logged_by_hash.items():  # at least once, and as logged
        assert by_hash[digest] == record
    assert len(arrived) >= len(by_hash)  # duplicates are allowed ...
    assert set(by_hash) >= set(logged_by_hash)  # ... losses are not
    seqs = sorted(r["seq"] for r in by_hash.values())
    assert seqs == list(range(1, len(seqs) + 1))  # nothing skipped along the chain
    if not ON_POSTGRES:
        cursors = list(data.glob("audit-sink-*.cursor"))
        assert len(cursors) == 1 and json.loads(cursors[0].read_text())["seq"] >= max(
            r["seq"] for r in logged
        )
        assert "sink-secret-pw" not in cursors[0].read_text()


async def test_a_deployment_with_a_sink_sends_its_records_and_the_rest_when_it_closes(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process: the deployment starts the follower with the serving task and drains it on close."""
    from box_mcp.config import Settings
    from box_mcp.deployment import open_deployment

    for name in [k for k in os.environ if k.startswith("BOX_")]:
        monkeypatch.delenv(name)
    for name, value in state_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BOX_DEVELOPER_TOKEN", emulator.token("ada"))
    port = _free_port()
    arrived: list[dict[str, Any]] = []
    receiver = Receiver(port, refuse=0, into=arrived)
    file_id = emulator.credentials["files"]["Engineering/README.md"]
    settings = Settings.load(
        box_url=emulator.base_url, data_dir=tmp_path / "data", audit_sink=f"http://127.0.0.1:{port}/in"
    )
    try:
        async with open_deployment(settings, transport="stdio") as deployment:
            async with Client(deployment.server) as client:
                result = await client.call_tool("get_file_details", {"file_id": file_id})
                assert not result.is_error
            await _until(lambda: any(r.get("tool") == "get_file_details" for r in arrived))
    finally:
        receiver.close()
    assert [r["seq"] for r in arrived] == list(range(1, len(arrived) + 1))


async def test_a_bad_sink_url_stops_the_deployment_before_it_serves(tmp_path: Path) -> None:
    from box_mcp.config import Settings
    from box_mcp.deployment import open_deployment
    from box_mcp.errors import ConfigError

    settings = Settings.load(
        env={"BOX_DEVELOPER_TOKEN": "t"}, data_dir=tmp_path, audit_sink="ftp://user:pw-xyz@example.com/"
    )
    with pytest.raises(ConfigError, match="BOX_MCP_AUDIT_SINK") as caught:
        async with open_deployment(settings, transport="stdio"):
            pass
    assert "pw-xyz" not in str(caught.value)
