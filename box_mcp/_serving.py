"""Run an ASGI app with uvicorn in the current event loop, on a socket we bound; know when it serves.

A shared leaf below every HTTP server of ours: the MCP server (`http`), the demo, the broker's sign-in
receiver and the emulator's CLI. It imports only uvicorn, h11, anyio, starlette's types and
`box_mcp.errors` (which imports nothing), so the emulator, a separate Box that imports nothing else of
box_mcp, may use it too.

Also the connection limits every HTTP server of ours runs with (`uvicorn_limits`). uvicorn (0.54, h11)
has no request-header timeout: a connection that sends nothing, or a byte a second, is held forever, and
a few hundred of them exhaust the process's descriptors, after which nobody is served and asyncio logs an
accept() traceback per attempt. So our protocol (a small H11Protocol subclass) gives each connection
HEADER_TIMEOUT_S to deliver a complete request head (from its start, and again after each response),
then that plus a 64 KiB/s allowance for its body, and caps open connections below the descriptor
limit: a connection over the cap evicts the oldest one whose request is still incomplete (a real
client sends it at once), or is refused if there is none.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from box_mcp.errors import ConfigError

START_TIMEOUT = 15.0
HEADER_TIMEOUT_S = 10.0  # to send a whole request head: slow-loris and silent connections are closed
KEEP_ALIVE_S = 5  # uvicorn closes a kept-alive connection with no new request after this long
MAX_HEADER_BYTES = 16 * 1024  # h11's buffer for a request head; a bigger head is answered 400
MIN_BODY_RATE = 64 * 1024  # bytes/s a request body must average, beyond the head's allowance
# The largest body /mcp takes: room for upload_file's 4 MiB inline cap once base64-encoded (4/3)
# inside a JSON-RPC envelope.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_CONNECTIONS = 1000
FD_RESERVE = 32  # descriptors kept for the audit log, the index, the policy file and the Box client
log = logging.getLogger("box_mcp.http")


class ListenError(ConfigError):
    """A socket cannot be bound: the port is busy, or the host is not an address of this machine."""


def connection_budget(limit: int = MAX_CONNECTIONS) -> tuple[int, int]:
    """(open inbound connections allowed, connections accepted in one burst). The cap is at most `limit`
    and half the descriptors beyond a reserve (each inbound call may need an outbound one to Box). The
    burst matters because asyncio accepts up to `backlog` connections per wake-up, and under a rush it
    can wake several times before the first accepted protocol counts itself (and evicts): an eighth of
    the spare descriptors per burst leaves room for four such bursts beyond the cap, so accept() does not
    run out of descriptors (seen with a quarter: two bursts' room was not always enough under load).
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limit, 2048
    spare = max(16, soft - FD_RESERVE)
    return max(4, min(limit, spare // 2)), max(4, min(2048, spare // 8))


def guarded_protocol(header_timeout: float, max_connections: int) -> type[H11Protocol]:
    """An H11Protocol class for one server: header deadline and connection cap (see the docstring)."""

    class Guarded(H11Protocol):
        waiting: dict[Guarded, None] = {}  # connections whose request is incomplete, oldest first
        _deadline: asyncio.TimerHandle | None = None
        _receiving: object = None  # the request cycle whose body the deadline is running for

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                # Evict whoever has not finished sending a request the longest: head first, then body.
                victim = next(iter(Guarded.waiting), None)
                if victim is None:  # every connection is busy with a complete request: refuse this one
                    log.warning("refusing a connection: %d are open, all busy", len(self.connections))
                    transport.close()
                    return
                victim._expire()
            self._await_head()

        def _wait(self, seconds: float) -> None:
            self._stop_waiting()
            Guarded.waiting[self] = None
            self._deadline = self.loop.call_later(seconds, self._expire)

        def _await_head(self) -> None:
            self._wait(header_timeout)

        def _stop_waiting(self) -> None:
            Guarded.waiting.pop(self, None)
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expire(self) -> None:
            # Only while the request is incomplete: a request being answered is never cut.
            self._stop_waiting()
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                self.transport.close()

        def handle_events(self) -> None:
            super().handle_events()
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                if self._receiving is not self.cycle:  # the head just arrived: the body gets its time
                    self._receiving = self.cycle
                    self._wait(header_timeout + _declared_length(self.headers) / MIN_BODY_RATE)
            elif state is not h11.IDLE:  # the whole request arrived; it is being answered
                self._stop_waiting()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._await_head()  # the next request's head has the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_waiting()
            super().connection_lost(exc)

    return Guarded


def _declared_length(headers: list[tuple[bytes, bytes]] | None) -> int:
    for name, value in headers or ():
        if name == b"content-length" and value.isdigit():
            return int(value)
    return MAX_BODY_BYTES  # chunked: as much time as the largest body allowed needs


def uvicorn_limits(
    *, header_timeout: float = HEADER_TIMEOUT_S, max_connections: int | None = None
) -> dict[str, Any]:
    """uvicorn.Config arguments for a server facing untrusted clients (see the module docstring)."""
    cap, burst = connection_budget()
    if max_connections is not None:
        cap = max_connections
    return {
        "http": guarded_protocol(header_timeout, cap),
        "backlog": burst,  # also the listen queue's length
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        # uvicorn answers 503 once this many connections or in-flight requests exist. The cap above
        # keeps connections in bounds; the margin covers evicted connections whose close is pending.
        "limit_concurrency": cap + burst,
    }


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
    """A TCP socket bound to `host:port` (IPv4 or IPv6 as the host says); a clear ListenError if not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise ListenError(
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
            raise ListenError(
                f"port {port} on {host} is busy ({exc.strerror}); pick another, or 0 for any"
            ) from None
        raise ListenError(f"cannot listen on {host} port {port} ({exc.strerror})") from None
    # Listening already: a client that read the announced URL before the server loop took the socket
    # waits in the backlog instead of being refused (uvicorn sets its own backlog when it starts).
    sock.listen(128)
    return sock


@dataclass
class Served:
    url: str  # http://host:port
    port: int


@asynccontextmanager
async def serving(app: ASGIApp, sock: socket.socket, **limits: Any) -> AsyncIterator[Served]:
    """Serve `app` on `sock` until the block ends; the socket is closed afterwards.
    `limits`: `uvicorn_limits` arguments (header_timeout, max_connections)."""
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="on", access_log=False, **uvicorn_limits(**limits)
    )
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
