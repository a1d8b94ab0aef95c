"""Run an ASGI app with uvicorn in the current event loop, on a socket we bound; know when it serves."""

from __future__ import annotations

import errno
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import anyio
import uvicorn
from starlette.types import ASGIApp

from box_mcp.errors import ConfigError

START_TIMEOUT = 15.0


class _Server(uvicorn.Server):
    """uvicorn that signals readiness with an event and leaves Ctrl-C to its owner (several share a loop)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = anyio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to `host:port` (IPv4 or IPv6 as the host says); a clear ConfigError if not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ConfigError(
            f"cannot listen on {host!r} ({exc.strerror}); give an address such as 127.0.0.1"
        ) from None
    # The protocol must say TCP: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose proto is
    # IPPROTO_TCP, and with Nagle on every keep-alive response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is busy ({exc.strerror}); pick another, or 0 for any"
            ) from None
        raise ConfigError(f"cannot listen on {host} port {port} ({exc.strerror})") from None
    return sock


@dataclass
class Served:
    url: str  # http://host:port
    port: int


@asynccontextmanager
async def serving(app: ASGIApp, sock: socket.socket) -> AsyncIterator[Served]:
    """Serve `app` on `sock` until the block ends; the socket is closed afterwards."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = _Server(config)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            try:
                with anyio.fail_after(START_TIMEOUT):
                    await server.ready.wait()
                yield Served(url=f"http://{host}:{port}", port=port)
            finally:
                server.should_exit = True
    finally:
        sock.close()
