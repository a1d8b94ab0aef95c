"""Between the SDK's stdio transport and the server: answer what the SDK leaves unanswered.

A line that is not JSON gets JSON-RPC -32700 (parse error, id null) and one that is JSON but no JSON-RPC
message gets -32600, as JSON-RPC 2.0 says; the SDK dropped both silently, so a client waited for good.
A request reusing the id of one still in flight gets -32600 naming the id (ids compare as the SDK
correlates them: 7 and "7" are one id). Every other message passes through unchanged, in order.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from mcp.shared.dispatcher import coerce_request_id
from mcp.shared.message import SessionMessage
from mcp_types import ErrorData, JSONRPCError, JSONRPCNotification, JSONRPCRequest, JSONRPCResponse
from pydantic import ValidationError

log = logging.getLogger("box_mcp.stdio")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
CANCELLED = "notifications/cancelled"


def shown_id(request_id: str | int) -> str:
    """The id as JSON (7, "abc"), cut short: it came from the client."""
    text = json.dumps(request_id)
    return text if len(text) <= 66 else text[:64] + '..."'


def _refusal(exc: Exception) -> ErrorData:
    if isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors()):
        return ErrorData(code=PARSE_ERROR, message="Parse error: the line is not valid JSON; send one "
                                                   "JSON-RPC 2.0 message per line")
    return ErrorData(code=INVALID_REQUEST, message="Invalid request: the line is JSON but not a JSON-RPC 2.0 "
                                                   "message (jsonrpc \"2.0\", a method or a result, an id)")


class StdioGuard:
    """`await guard.run(serve)`: `serve(read, write)` runs the server on the guarded streams."""

    def __init__(self, read: ObjectReceiveStream[SessionMessage | Exception],
                 write: ObjectSendStream[SessionMessage]) -> None:
        self._read = read
        self._write = write
        self._in_flight: set[Any] = set()

    async def run(self, serve: Any) -> None:
        to_server, server_reads = anyio.create_memory_object_stream[SessionMessage | Exception](0)
        server_writes, from_server = anyio.create_memory_object_stream[SessionMessage](0)
        # Closing the transport's write side at the end lets its stdout writer finish (as the server would).
        async with self._write, anyio.create_task_group() as tg:
            reading = anyio.CancelScope()
            tg.start_soon(self._pump_in, to_server, reading)
            tg.start_soon(self._pump_out, from_server)
            try:
                await serve(server_reads, server_writes)
            finally:
                reading.cancel()  # the server is done: stop reading stdin
                # Unbuffered: every answer the server wrote has been taken by _pump_out already.
                await server_writes.aclose()

    async def _pump_in(self, to_server: ObjectSendStream[SessionMessage | Exception],
                       scope: anyio.CancelScope) -> None:
        with scope:
            async with to_server:
                async for item in self._read:
                    if isinstance(item, Exception):
                        await self._answer(None, _refusal(item))
                        continue
                    message = item.message
                    if isinstance(message, JSONRPCRequest):
                        key = coerce_request_id(message.id)
                        if key in self._in_flight:
                            await self._answer(message.id, ErrorData(
                                code=INVALID_REQUEST,
                                message=f"Invalid request: id {shown_id(message.id)} is already in use by "
                                        "a request still in progress; give each request its own id"))
                            continue
                        self._in_flight.add(key)
                    elif isinstance(message, JSONRPCNotification) and message.method == CANCELLED:
                        # A cancelled request is never answered (MCP): its id is free again.
                        request_id = (message.params or {}).get("requestId")
                        if isinstance(request_id, str | int) and not isinstance(request_id, bool):
                            self._in_flight.discard(coerce_request_id(request_id))
                    await to_server.send(item)

    async def _pump_out(self, from_server: ObjectReceiveStream[SessionMessage]) -> None:
        async with from_server:
            async for item in from_server:
                message = item.message
                if isinstance(message, JSONRPCResponse | JSONRPCError) and message.id is not None:
                    self._in_flight.discard(coerce_request_id(message.id))
                await self._write.send(item)

    async def _answer(self, request_id: Any, error: ErrorData) -> None:
        log.debug("refused a stdio message: %s", error.message)
        await self._write.send(SessionMessage(JSONRPCError(jsonrpc="2.0", id=request_id, error=error)))
