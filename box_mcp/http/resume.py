"""Resumable streams (streamable HTTP, legacy era): the SDK's `EventStore`, one partition per MCP session.

With an event store the SDK numbers every SSE event, sends a priming event (with `retry`) when a
stream opens, and answers `GET /mcp` with `Last-Event-ID` by replaying what that stream sent after the
given event (without one, that GET was an HTTP 500). The SDK hands the store only a stream id, and its
stream ids are the client's JSON-RPC request ids (or `_GET_stream`), the same in every session: a store
keyed by them alone would mix two sessions' streams, and replay one session's messages to another.

So each request runs with its session's `_Slot` in a context variable (`SessionSlots`, the ASGI layer
just outside the SDK's app): a request naming a session gets that session's slot; a request without
one (initialize) gets a new slot, registered under the session id the SDK answers with. The tasks the
SDK starts for a new session inherit the initialize request's context, so everything a session sends
is stored in its one slot. Event ids are random (128 bits), and a replay is answered only when the
event asked for lies in the slot of the session asking: a leaked id of another session replays nothing.

Bounded: events live `ttl` seconds, a stream keeps its last `per_stream` events, a slot its most recent
`streams` streams, the store at most `max_slots` sessions (least recently used out first) and about
`max_bytes` of payload in all (oldest out first; a tool result's size is estimated from its content
blocks' text and data, so the estimate costs no serialization). A request that never became a session
(a stateless exchange of the 2026-07-28 era) drops its slot when it ends.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict, deque
from contextvars import ContextVar
from dataclasses import dataclass, field

from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp_types import JSONRPCMessage
from starlette.types import ASGIApp, Message, Receive, Scope, Send

RETRY_MS = 1000  # what the priming event tells a client to wait before it reconnects a closed stream
_SESSION_HEADER = b"mcp-session-id"


@dataclass(eq=False)
class _Event:
    id: EventId
    message: JSONRPCMessage | None  # None: a priming event, or a payload evicted for space
    at: float
    size: int = 0


_OVERHEAD = 256  # bytes an event is counted at beyond its content blocks


def _size(message: JSONRPCMessage | None) -> int:
    """About how many bytes `message` holds: its content blocks' text and data (a tool result's bulk)."""
    if message is None:
        return 0
    result = getattr(message, "result", None)
    content = result.get("content") if isinstance(result, dict) else None
    size = _OVERHEAD
    if isinstance(content, list):
        for block in content[:1000]:
            if isinstance(block, dict):
                for key in ("text", "data", "blob"):
                    value = block.get(key)
                    if isinstance(value, str):
                        size += len(value)
                inner = block.get("resource")
                if isinstance(inner, dict):
                    for key in ("text", "blob"):
                        value = inner.get(key)
                        if isinstance(value, str):
                            size += len(value)
        structured = result.get("structuredContent") if isinstance(result, dict) else None
        if structured is not None:  # mostly mirrors the text block: counted once more at the same size
            size *= 2
    return size


@dataclass(eq=False)
class _Slot:
    """One MCP session's streams (or one request's, until the SDK names its session)."""

    session_id: str | None = None
    streams: OrderedDict[StreamId, deque[_Event]] = field(default_factory=OrderedDict)
    used: float = field(default_factory=time.monotonic)


_SLOT: ContextVar[_Slot | None] = ContextVar("box_mcp_resume_slot", default=None)


class SessionEventStore(EventStore):
    """The SDK's event store, partitioned by MCP session (see the module's docstring)."""

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        per_stream: int = 100,
        streams: int = 16,
        max_slots: int = 1000,
        max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.ttl, self.per_stream, self.streams, self.max_slots = ttl, per_stream, streams, max_slots
        self.max_bytes = max_bytes
        self._slots: OrderedDict[str, _Slot] = OrderedDict()  # session id -> slot, least recently used first
        self._index: dict[EventId, tuple[_Slot, StreamId]] = {}
        self._held: deque[_Event] = deque()  # events holding a payload, oldest first
        self._bytes = 0

    # --- the SDK's interface ---------------------------------------------------------------------

    async def store_event(self, stream_id: StreamId, message: JSONRPCMessage | None) -> EventId:
        slot = _SLOT.get()
        event_id = secrets.token_urlsafe(16)
        if slot is None:  # outside any request of ours (not expected): numbered, but kept nowhere
            return event_id
        now = time.monotonic()
        slot.used = now
        events = slot.streams.get(stream_id)
        if events is None:
            events = slot.streams[stream_id] = deque()
            while len(slot.streams) > self.streams:
                _, dropped = slot.streams.popitem(last=False)
                self._forget(dropped)
        else:
            slot.streams.move_to_end(stream_id)
        event = _Event(event_id, message, now, _size(message))
        events.append(event)
        self._index[event_id] = (slot, stream_id)
        if event.size:
            self._held.append(event)
            self._bytes += event.size
        while len(events) > self.per_stream or (events and now - events[0].at > self.ttl):
            self._release(events.popleft())
        while self._held and (self._bytes > self.max_bytes or not self._held[0].size):
            oldest = self._held.popleft()  # oldest payloads out first (and entries already released)
            self._bytes -= oldest.size
            oldest.message, oldest.size = None, 0
        return event_id

    async def replay_events_after(
        self, last_event_id: EventId, send_callback: EventCallback
    ) -> StreamId | None:
        found = self._index.get(last_event_id)
        asking = _SLOT.get()
        if found is None or asking is None or found[0] is not asking:
            return None  # unknown, expired, or another session's event: nothing to replay
        slot, stream_id = found
        now = time.monotonic()
        after = False
        for event in list(slot.streams.get(stream_id, ())):
            if after and event.message is not None and now - event.at <= self.ttl:
                await send_callback(EventMessage(event.message, event.id))
            after = after or event.id == last_event_id
        return stream_id

    # --- sessions --------------------------------------------------------------------------------

    def slot_for(self, session_id: str | None) -> _Slot:
        """The slot of the session a request names (a new, unregistered one for none or an unknown id)."""
        if session_id is not None:
            slot = self._slots.get(session_id)
            if slot is not None:
                self._slots.move_to_end(session_id)
                return slot
        return _Slot()

    def register(self, session_id: str, slot: _Slot) -> None:
        """`slot` belongs to the session the SDK just created as `session_id`."""
        slot.session_id = session_id
        self._slots[session_id] = slot
        self._slots.move_to_end(session_id)
        now = time.monotonic()
        while self._slots:
            oldest_id, oldest = next(iter(self._slots.items()))
            if len(self._slots) <= self.max_slots and now - oldest.used <= self.ttl:
                break
            del self._slots[oldest_id]
            self._drop(oldest)

    def ended(self, slot: _Slot) -> None:
        """A request's slot that never became a session's: its events can never be asked for."""
        if slot.session_id is None:
            self._drop(slot)

    def _drop(self, slot: _Slot) -> None:
        for events in slot.streams.values():
            self._forget(events)
        slot.streams.clear()

    def _forget(self, events: deque[_Event]) -> None:
        for event in events:
            self._release(event)

    def _release(self, event: _Event) -> None:
        self._index.pop(event.id, None)
        if event.size:  # still counted in _held: its bytes go now, its entry when it reaches the front
            self._bytes -= event.size
            event.message, event.size = None, 0

    @property
    def sizes(self) -> tuple[int, int]:
        """(sessions, events) held: for tests and the bench."""
        return len(self._slots), len(self._index)

    @property
    def held_bytes(self) -> int:
        return self._bytes


class SessionSlots:
    """ASGI layer just outside the SDK's /mcp app: runs each request with its session's slot current."""

    def __init__(self, app: ASGIApp, store: SessionEventStore) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        named = next((v for k, v in scope["headers"] if k == _SESSION_HEADER), None)
        slot = self.store.slot_for(named.decode("latin-1") if named is not None else None)
        token = _SLOT.set(slot)
        outer = send
        if slot.session_id is None:

            async def send(message: Message) -> None:  # learn the session id the SDK answers with
                if message["type"] == "http.response.start" and slot.session_id is None:
                    minted = next(
                        (v for k, v in message.get("headers", ()) if k.lower() == _SESSION_HEADER), None
                    )
                    if minted is not None:
                        self.store.register(minted.decode("latin-1"), slot)
                await outer(message)

        try:
            await self.app(scope, receive, send)
        finally:
            _SLOT.reset(token)
            self.store.ended(slot)


__all__ = ["RETRY_MS", "SessionEventStore", "SessionSlots"]
