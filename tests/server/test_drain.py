"""DrainingServer in process: a SIGTERM while a request is being answered lets that answer finish, shuts
idle keep-alive connections at once, refuses new connections, and returns to the caller (which then
closes the deployment) instead of re-raising the signal. The real `box-mcp serve` under SIGTERM, with its
audit read back: tests/e2e/test_graceful_shutdown.py."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator

import anyio
import httpx2
import pytest
import uvicorn
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from box_mcp.http.drain import DrainingServer

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _sse_state() -> Iterator[None]:
    """sse-starlette's shutdown flags are process-wide: leave them as the next test expects them."""
    yield
    AppStatus.should_exit = False
    AppStatus.enable_automatic_graceful_drain = True


async def test_a_request_in_flight_finishes_and_the_server_returns() -> None:
    started = anyio.Event()

    async def slow(request: Request) -> PlainTextResponse:
        started.set()
        await anyio.sleep(0.5)
        return PlainTextResponse("finished")

    app = Starlette(routes=[Route("/slow", slow, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = DrainingServer(
        uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    )
    answers: list[httpx2.Response] = []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])

            async def call() -> None:
                async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                    for _ in range(200):  # until uvicorn listens (bounded: 5 s)
                        try:
                            answers.append(await http.post("/slow"))
                            return
                        except httpx2.ConnectError:
                            await anyio.sleep(0.025)

            tg.start_soon(call)
            with anyio.fail_after(10):
                await started.wait()
            server.handle_exit(signal.SIGTERM, None)  # what the signal handler does
        # serve() returned (the task group ended) with the answer delivered, not cut
        assert [a.text for a in answers] == ["finished"]
        assert AppStatus.should_exit is True  # event streams were told to end, after the calls
        with pytest.raises(httpx2.TransportError):
            httpx2.post(f"http://127.0.0.1:{port}/slow", timeout=2)
    finally:
        sock.close()
