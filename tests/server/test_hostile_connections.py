"""Issue 9: silent and slow TCP connections cannot lock callers out of the HTTP server.

uvicorn has no request-header timeout, so connections that send nothing used to hold descriptors for
good; once they ran out, a keyed caller got no answer and the log filled with accept() tracebacks.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp._serving import bind, serving
from box_mcp.config import Settings
from box_mcp.http.app import create_http_app
from box_mcp.server import build_server
from tests.server.hostile_servers import ccg_env, http_rpc, http_server, open_http_session

pytestmark = pytest.mark.anyio

NOFILE = 128  # the server's descriptor limit: (128 - 32) // 2 = 48 inbound connections at most
CAP = 48
SILENT = 150  # more than the server has descriptors for
KEY = "bmcp_hostile_connections_key"


def keyed_policy(tmp_path: Path) -> Path:
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        f"agents:\n  bot: {{keys: ['sha256:{digest}']}}\n"
        "rules:\n  - {id: read, effect: permit, agents: [bot], access: read}\n"
    )
    return policy


@contextmanager
def silent_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setblocking(False)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError as exc:
        return exc.errno in (errno.ECONNRESET, errno.EPIPE)


async def closed_indices(socks: list[socket.socket], expected: int) -> list[int]:
    """The sockets the server closed, once `expected` of them are (bounded poll: 200 x 25 ms)."""
    closed: list[int] = []
    for _ in range(200):
        closed = [i for i, s in enumerate(socks) if closed_by_server(s)]
        if len(closed) >= expected:
            break
        await anyio.sleep(0.025)
    return closed


@pytest.mark.slow
async def test_silent_connections_cannot_lock_a_keyed_caller_out_of_a_server_short_of_descriptors(
    emulator: Any,
    tmp_path: Path,
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        async with http_server(
            emulator,
            tmp_path,
            "--policy",
            str(keyed_policy(tmp_path)),
            stderr=stderr,
            nofile=NOFILE,
            env=ccg_env(emulator),
        ) as server:
            with silent_connections(server.port, SILENT) as socks:
                # Each connection over the cap evicts the oldest one still waiting for its request head.
                assert await closed_indices(socks, SILENT - CAP) == list(range(SILENT - CAP))
                with anyio.fail_after(10):
                    async with httpx2.AsyncClient(timeout=10) as http:
                        headers = await open_http_session(
                            http, server.url, {"Authorization": f"Bearer {KEY}"}
                        )
                        listed = await http_rpc(
                            http, server.url, headers, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
                        )
                assert "who_am_i" in {t["name"] for t in listed["result"]["tools"]}
                # The keyed caller's one connection evicted one more silent one.
                assert await closed_indices(socks, SILENT - CAP + 1) == list(range(SILENT - CAP + 1))
    log = stderr_path.read_text()
    assert "accept" not in log and "Traceback" not in log, log


async def test_a_connection_that_never_completes_its_request_head_or_body_is_closed_at_its_deadline(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from box_mcp.box.client import BoxClient, StaticToken

    box = BoxClient(token_source=StaticToken("unused"), base_url="http://127.0.0.1:9")
    server = build_server(Settings.load(env={}), box_client=box)
    sock = bind(0)
    port = sock.getsockname()[1]
    app = create_http_app(server, host="127.0.0.1", port=port)
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        "Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n"
    ).encode()
    async with serving(app, sock, header_timeout=0.5) as served:
        with silent_connections(served.port, 3) as (silent, trickling, slow_body):
            trickling.send(b"GET /healthz HTTP/1.1\r\n")
            slow_body.send(head)
            with anyio.fail_after(10):
                for byte in b"Host: 127.0.0.1\r\nX-Slow: " + b"a" * 200:  # one byte at a time, never ending
                    if closed_by_server(trickling) and closed_by_server(slow_body):
                        break
                    for sock_ in (trickling, slow_body):
                        with contextlib.suppress(OSError):  # the server may close it any moment
                            sock_.send(bytes([byte]))
                    await anyio.sleep(0.02)
                assert await closed_indices([silent, trickling, slow_body], 3) == [0, 1, 2]
        async with httpx2.AsyncClient() as http:
            response = await http.get(served.url + "/healthz")
            second = await http.get(served.url + "/healthz")  # the same kept-alive connection: new deadline
    await box.aclose()
    assert (response.status_code, second.status_code) == (200, 200)
    assert not [r for r in caplog.records if r.exc_info], "a cut-off request logged a traceback"
