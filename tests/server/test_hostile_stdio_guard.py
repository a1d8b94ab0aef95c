"""The stdio guard on its own, between in-memory streams standing in for the SDK's stdio transport.

The transport hands the server a parsed message or the exception parsing raised, one per line; the
guard answers the garbage and the reused ids on the transport's write side and returns the rest, in
order. The real-process tests are in test_hostile_requests.py.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCResponse, jsonrpc_message_adapter

from box_mcp.stdio_guard import GuardedRead, GuardedWrite, guard_streams, shown_id

pytestmark = pytest.mark.anyio


class Wire:
    """The transport's two streams, with the guard in front of them."""

    def __init__(self) -> None:
        self.lines: MemoryObjectSendStream[SessionMessage | Exception]
        inbound: MemoryObjectReceiveStream[SessionMessage | Exception]
        self.lines, inbound = anyio.create_memory_object_stream[SessionMessage | Exception](100)
        outbound: MemoryObjectSendStream[SessionMessage]
        outbound, self.stdout = anyio.create_memory_object_stream[SessionMessage](100)
        self.read: GuardedRead
        self.write: GuardedWrite
        self.read, self.write = guard_streams(inbound, outbound)

    async def __aenter__(self) -> Wire:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.lines.aclose()
        await self.stdout.aclose()
        await self.read.aclose()
        await self.write.aclose()

    async def line(self, text: str | dict[str, Any]) -> None:
        """What the SDK's stdin reader does with one line."""
        raw = text if isinstance(text, str) else json.dumps(text)
        try:
            item: SessionMessage | Exception = SessionMessage(
                jsonrpc_message_adapter.validate_json(raw, by_name=False)
            )
        except Exception as exc:
            item = exc
        await self.lines.send(item)

    def written(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            try:
                item = self.stdout.receive_nowait()
            except anyio.WouldBlock:
                return out
            out.append(item.message.model_dump(by_alias=True, exclude_unset=True))

    async def served(self) -> dict[str, Any]:
        with anyio.fail_after(5):
            item = await self.read.receive()
        return item.message.model_dump(by_alias=True, exclude_unset=True)


def call(request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/list"}


def cancel(request_id: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": request_id}}


def refused(request_id: Any) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "error": {
            "code": -32600,
            "message": (
                f"Invalid request: id {shown_id(request_id)} is already in use by a request still in "
                "progress; give each request its own id"
            ),
        },
    }


async def answer(wire: Wire, request_id: Any) -> None:
    await wire.write.send(SessionMessage(JSONRPCResponse(jsonrpc="2.0", id=request_id, result={})))


async def test_garbage_is_answered_with_id_null_and_the_good_lines_reach_the_server_in_order() -> None:
    async with Wire() as wire:
        for line in ("garbage {", '{"hello": 1}', json.dumps(call(1)), "[1, 2", "42", json.dumps(call(2))):
            await wire.line(line)
        assert (await wire.served())["id"] == 1
        assert (await wire.served())["id"] == 2
        assert [(m["id"], m["error"]["code"]) for m in wire.written()] == [
            (None, -32700),
            (None, -32600),
            (None, -32700),
            (None, -32600),
        ]


async def test_an_id_in_flight_is_refused_by_number_or_string_until_it_is_answered() -> None:
    async with Wire() as wire:
        for message in (call(7), call(7), call("7"), call(8)):
            await wire.line(message)
        assert (await wire.served())["id"] == 7
        assert (await wire.served())["id"] == 8  # the reused ones never reach the server
        assert wire.written() == [refused(7), refused("7")]
        await answer(wire, 7)
        await wire.line(call("7"))
        assert (await wire.served())["id"] == "7"
        assert wire.written() == [{"jsonrpc": "2.0", "id": 7, "result": {}}]  # the answer went on unchanged


async def test_an_error_answer_or_a_cancellation_frees_the_id_and_the_cancellation_is_passed_on() -> None:
    async with Wire() as wire:
        for message in (call(1), call(2), cancel(2), cancel(True), call(1), call(2)):
            await wire.line(message)
        assert [(await wire.served()).get("id") for _ in range(4)] == [1, 2, None, None]
        assert (await wire.served())["id"] == 2  # 2 was cancelled: free again; true is no id, 1 stays taken
        assert wire.written() == [refused(1)]
        await wire.write.send(
            SessionMessage(
                JSONRPCError.model_validate(
                    {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "x"}}
                )
            )
        )
        await wire.line(call(1))
        assert (await wire.served())["id"] == 1
        await wire.line(call(2))  # the second 2 is still in flight
        await wire.line(call(3))
        assert (await wire.served())["id"] == 3
        assert wire.written() == [
            {"jsonrpc": "2.0", "id": 1, "error": {"code": -32603, "message": "x"}},
            refused(2),
        ]


async def test_the_end_of_input_ends_iteration_and_closing_closes_the_transport_streams() -> None:
    async with Wire() as wire:
        await wire.line(call(1))
        await wire.lines.aclose()
        with anyio.fail_after(5):
            assert [item.message.id async for item in wire.read] == [1]  # type: ignore[union-attr]
        async with wire.read, wire.write:
            pass  # closing the guarded streams closes the transport's
        with pytest.raises(anyio.ClosedResourceError):
            await wire.read.receive()
        with pytest.raises(anyio.ClosedResourceError):
            await answer(wire, 1)
