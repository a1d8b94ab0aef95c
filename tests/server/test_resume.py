"""A dropped stream resumes: a real `box-mcp serve --transport http`, raw HTTP as a 2025-11-25 client
speaks it. A tool call's SSE stream is cut after its priming event; a GET with Last-Event-ID then
replays everything the call sent after it (progress, strictly increasing, and the result). The event
store is partitioned by session: another session presenting that event id replays nothing, and an
unknown id is an empty stream, not the HTTP 500 it was before there was an event store."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp_types import JSONRPCNotification, JSONRPCResponse

from box_mcp.http.resume import _SLOT, SessionEventStore
from tests.server.test_transport_tools import serve_http

pytestmark = pytest.mark.anyio

VERSION = "2025-11-25"
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def _events(response: httpx2.Response) -> AsyncIterator[dict[str, Any]]:
    """SSE events of `response` as dicts (id, data, retry), parsed as they arrive."""
    event: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if line == "":
            if event:
                yield event
            event = {}
            continue
        name, _, value = line.partition(":")
        event[name] = value[1:] if value.startswith(" ") else value


async def _session(http: httpx2.AsyncClient, url: str) -> dict[str, str]:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": VERSION,
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    opened = await http.post(url, json=init, headers=ACCEPT)
    assert opened.status_code == 200, opened.text
    headers = ACCEPT | {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": VERSION}
    done = await http.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    assert done.status_code == 202
    return headers


async def _replay(
    http: httpx2.AsyncClient, url: str, headers: dict[str, str], last: str
) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    replay = headers | {"Accept": "text/event-stream", "Last-Event-ID": last}
    with anyio.move_on_after(3):  # the replayed stream stays open for what comes next: read, then leave
        async with http.stream("GET", url, headers=replay) as response:
            assert response.status_code == 200, await response.aread()
            async for event in _events(response):
                got.append(event)
                if event.get("data") and "result" in json.loads(event["data"]):
                    break
    return got


async def _names_in_root(http: httpx2.AsyncClient, emulator: Any) -> set[str]:
    auth = {"Authorization": f"Bearer {emulator.token('ada')}"}
    listing = await http.get(f"{emulator.base_url}/2.0/folders/0/items?limit=1000", headers=auth)
    return {entry["name"] for entry in listing.json()["entries"]}


async def test_a_cut_tool_call_stream_resumes_with_last_event_id_and_only_in_its_own_session(
    emulator: Any, tmp_path: Path
) -> None:
    content = base64.b64encode(b"x" * (1536 * 1024)).decode()  # 1.5 MiB: six progress steps of 256 KiB
    call = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": "upload_file",
            "arguments": {"parent_folder_id": "0", "name": "resumed.bin", "content_base64": content},
            "_meta": {"progressToken": "up"},
        },
    }
    async with serve_http(emulator, tmp_path) as url, httpx2.AsyncClient(timeout=30) as http:
        headers = await _session(http, url)
        async with http.stream("POST", url, json=call, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            priming = await anext(_events(response))  # the priming event: an id, no data, the retry hint
        assert priming.get("id") and priming.get("data", "") == "" and priming.get("retry") == "1000"

        for _ in range(400):  # the call goes on without its stream; wait (20 s at most) until Box has it
            if "resumed.bin" in await _names_in_root(http, emulator):
                break
            await anyio.sleep(0.05)
        else:
            raise AssertionError("the upload never reached Box")

        stranger = await _session(http, url)
        assert await _replay(http, url, stranger, priming["id"]) == []  # another session's id: nothing
        assert await _replay(http, url, headers, "no-such-event") == []  # unknown: empty, not a 500

        replayed = await _replay(http, url, headers, priming["id"])
        messages = [json.loads(e["data"]) for e in replayed if e.get("data")]
        assert all(e.get("id") for e in replayed)
        progress = [m["params"]["progress"] for m in messages if m.get("method") == "notifications/progress"]
        assert len(progress) >= 2 and progress == sorted(set(progress)), progress  # strictly increasing
        (result,) = [m for m in messages if m.get("id") == 7]
        assert result["result"]["isError"] is False, result
        assert "resumed.bin" in json.dumps(result["result"]["structuredContent"])


async def test_the_event_store_is_bounded_by_count_sessions_and_requests_that_never_became_sessions() -> None:
    store = SessionEventStore(per_stream=3, streams=2, max_slots=2)
    note = JSONRPCNotification(jsonrpc="2.0", method="notifications/message", params={"n": 1})
    slots = []
    for session in ("a", "b", "c"):
        slot = store.slot_for(None)
        store.register(session, slot)
        slots.append(slot)
        token = _SLOT.set(slot)
        try:
            ids = [await store.store_event(stream, note) for stream in ("1", "2", "3") for _ in range(5)]
        finally:
            _SLOT.reset(token)
        assert len(set(ids)) == 15
    sessions, events = store.sizes
    assert sessions == 2  # "a" was the least recently used: gone, with its events
    assert events == 2 * 2 * 3  # two sessions x their two latest streams x three events each
    assert store.slot_for("a") is not slots[0] and store.slot_for("c") is slots[2]

    stateless = store.slot_for(None)  # a request that never became a session
    token = _SLOT.set(stateless)
    try:
        await store.store_event("9", note)
    finally:
        _SLOT.reset(token)
    store.ended(stateless)
    assert store.sizes == (2, 12)


async def test_payloads_beyond_the_byte_budget_go_oldest_first_and_are_not_replayed() -> None:
    store = SessionEventStore(max_bytes=2_500_000)
    slot = store.slot_for(None)
    store.register("s", slot)
    big = {"content": [{"type": "text", "text": "x" * 1_000_000}], "isError": False}
    token = _SLOT.set(slot)
    try:
        first = await store.store_event("1", None)  # the stream's priming event
        ids = [
            await store.store_event("1", JSONRPCResponse(jsonrpc="2.0", id=n, result=big)) for n in range(3)
        ]
        assert store.held_bytes <= 2_500_000
        replayed: list[Any] = []

        async def collect(event: Any) -> None:
            replayed.append(event)

        assert await store.replay_events_after(first, collect) == "1"
    finally:
        _SLOT.reset(token)
    assert [e.event_id for e in replayed] == ids[1:]  # the oldest payload was dropped for space
