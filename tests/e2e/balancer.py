"""A plain round-robin TCP balancer for tests and benchmarks: no sticky sessions, no HTTP awareness.

Each accepted connection goes to the next backend in turn (a backend that refuses the connection is
skipped for the next one, as a balancer's passive health check would); bytes are spliced both ways as
they come, so SSE streams through unbuffered. A client that opens one connection per request
(`httpx2.Limits(max_keepalive_connections=0)`) therefore alternates replicas on every request.

    async with Balancer([("127.0.0.1", 8001), ("127.0.0.1", 8002)]) as lb:
        url = f"http://127.0.0.1:{lb.port}/mcp"
        ...
        lb.routed  # backend index of each connection, in accept order
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType

CONNECT_TIMEOUT = 2.0
CHUNK = 64 * 1024


class Balancer:
    def __init__(self, backends: Sequence[tuple[str, int]], *, host: str = "127.0.0.1") -> None:
        if not backends:
            raise ValueError("a balancer needs at least one backend")
        self.backends = list(backends)
        self.host = host
        self.port = 0
        self.routed: list[int] = []  # which backend each accepted connection went to (-1: none answered)
        self._next = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Balancer:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _connect(self) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter] | None:
        start = self._next
        self._next = (start + 1) % len(self.backends)
        for offset in range(len(self.backends)):  # bounded: each backend tried once per connection
            index = (start + offset) % len(self.backends)
            host, port = self.backends[index]
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            return index, reader, writer
        return None

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):  # closing the balancer cancels every splice
            await self._splice(client_reader, client_writer)

    async def _splice(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            upstream = await self._connect()
            if upstream is None:
                self.routed.append(-1)
                return
            index, reader, writer = upstream
            self.routed.append(index)
            try:
                await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))
            finally:
                writer.close()
        finally:
            client_writer.close()
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream; then half-close the other side (so each direction ends on its own)."""
    try:
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()
