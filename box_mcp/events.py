"""Deployment events (sessions, tools/list, policy loads, broker refreshes) on their way to the audit log.

Policy and broker post events without importing the audit package; the audit connects one sink per
deployment. `post` is synchronous and thread-safe (the policy reloads inside sync code); posted events
are written at the next `flush`, which the gate runs before it records a call, so they precede it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("box_mcp.events")

EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
BACKLOG = 256  # events kept while no sink is connected (a deployment without audit drops the oldest)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """Who is on the other end of an MCP connection: put on every call record of that connection."""

    session_id: str | None = None
    client_name: str | None = None
    client_version: str | None = None
    transport: str | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "client_name": self.client_name,
            "client_version": self.client_version,
        }


class Events:
    """One per deployment: emitters `post`/`emit`, the audit `connect`s its sink."""

    def __init__(self, backlog: int = BACKLOG) -> None:
        self._sink: EventSink | None = None
        self._pending: deque[tuple[str, dict[str, Any]]] = deque(maxlen=backlog)

    def connect(self, sink: EventSink) -> None:
        self._sink = sink

    def post(self, kind: str, **fields: Any) -> None:
        """Queue an event from sync code (any thread); it is written at the next flush."""
        self._pending.append((kind, fields))

    async def emit(self, kind: str, **fields: Any) -> None:
        """Write an event now (after anything posted before it)."""
        self.post(kind, **fields)
        await self.flush()

    async def flush(self) -> None:
        sink = self._sink
        if sink is None:
            return
        while self._pending:
            try:
                kind, fields = self._pending.popleft()
            except IndexError:  # another task drained it meanwhile
                return
            try:
                await sink(kind, fields)
            except Exception:
                # An event that cannot be recorded must not fail the call that triggered it.
                log.exception("audit event %s could not be recorded", kind)
