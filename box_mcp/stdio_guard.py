"""In the SDK's stdio read path: answer what the SDK leaves unanswered.

A line that is not JSON gets JSON-RPC -32700 (parse error, id null) and one that is JSON but no JSON-RPC
message gets -32600, as JSON-RPC 2.0 says; the SDK dropped both silently, so a client waited for good.
A request reusing the id of one still in flight gets -32600 naming the id (ids compare as the SDK
correlates them: 7 and "7" are one id). Every other message passes through unchanged, in order.

`guard_streams(read, write)` wraps the transport's two streams in place of them, with no task or
memory stream of its own: the server's `receive()` reads the transport's stream itself, and the guard
answers a refused line there and then, on the transport's write stream, before reading the next one.
The write side only notes which request ids have been answered before handing the message on.
"""

from __future__ import annotations

import json
import logging
from types import TracebackType
from typing import Any, Protocol, Self

import anyio
from mcp.shared.dispatcher import coerce_request_id
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from pydantic import ValidationError

log = logging.getLogger("box_mcp.stdio")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
CANCELLED = "notifications/cancelled"


class Source(Protocol):
    """What the guard needs of the transport's read stream (the SDK's protocol for it is private)."""

    async def receive(self) -> SessionMessage | Exception: ...
    async def aclose(self) -> None: ...


class Sink(Protocol):
    """What the guard needs of the transport's write stream."""

    async def send(self, item: SessionMessage, /) -> None: ...
    async def aclose(self) -> None: ...


def shown_id(request_id: str | int) -> str:
    """The id as JSON (7, "abc"), cut short: it came from the client."""
    text = json.dumps(request_id)
    return text if len(text) <= 66 else text[:64] + '..."'


def _refusal(exc: Exception) -> ErrorData:
    if isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors()):
        return ErrorData(
            code=PARSE_ERROR,
            message="Parse error: the line is not valid JSON; send one JSON-RPC 2.0 message per line",
        )
    return ErrorData(
        code=INVALID_REQUEST,
        message="Invalid request: the line is JSON but not a JSON-RPC 2.0 "
        'message (jsonrpc "2.0", a method or a result, an id)',
    )


def _duplicate(request_id: str | int) -> ErrorData:
    return ErrorData(
        code=INVALID_REQUEST,
        message=f"Invalid request: id {shown_id(request_id)} is already in use by a request "
        "still in progress; give each request its own id",
    )


class GuardedRead:
    """The transport's read stream as the server sees it: refused lines are answered, never returned.

    It has no `last_context` on purpose: the SDK then relays each message in its own context, as it did
    when a pump task stood here (the transport's reader task carries a different one).
    """

    __slots__ = ("_in_flight", "_read", "_write")

    def __init__(self, read: Source, write: Sink, in_flight: set[Any]) -> None:
        self._read = read
        self._write = write
        self._in_flight = in_flight

    async def receive(self) -> SessionMessage:
        while True:
            item = await self._read.receive()
            if isinstance(item, Exception):
                await self._answer(None, _refusal(item))
                continue
            message = item.message
            if isinstance(message, JSONRPCRequest):
                key = coerce_request_id(message.id)
                if key in self._in_flight:
                    await self._answer(message.id, _duplicate(message.id))
                    continue
                self._in_flight.add(key)
            elif isinstance(message, JSONRPCNotification) and message.method == CANCELLED:
                # A cancelled request is never answered (MCP): its id is free again.
                request_id = (message.params or {}).get("requestId")
                if isinstance(request_id, str | int) and not isinstance(request_id, bool):
                    self._in_flight.discard(coerce_request_id(request_id))
            return item

    async def _answer(self, request_id: Any, error: ErrorData) -> None:
        log.debug("refused a stdio message: %s", error.message)
        await self._write.send(SessionMessage(JSONRPCError(jsonrpc="2.0", id=request_id, error=error)))

    async def aclose(self) -> None:
        await self._read.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class GuardedWrite:
    """The transport's write stream as the server sees it: an answer frees its request id."""

    __slots__ = ("_in_flight", "_write")

    def __init__(self, write: Sink, in_flight: set[Any]) -> None:
        self._write = write
        self._in_flight = in_flight

    async def send(self, item: SessionMessage, /) -> None:
        message = item.message
        if isinstance(message, JSONRPCResponse | JSONRPCError) and message.id is not None:
            self._in_flight.discard(coerce_request_id(message.id))
        await self._write.send(item)

    async def aclose(self) -> None:
        await self._write.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


def guard_streams(
    read: Source,
    write: Sink,
) -> tuple[GuardedRead, GuardedWrite]:
    """The transport's streams, guarded; hand these to the server in their place."""
    in_flight: set[Any] = set()
    return GuardedRead(read, write, in_flight), GuardedWrite(write, in_flight)
