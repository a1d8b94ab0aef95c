"""The `first_destructive_in_session` fact: a call to a destructive tool (its `destructiveHint`) while no
destructive call has yet succeeded in the caller's session.

A session is the MCP session the call came on (`Call.session.session_id`: a handshake-era HTTP session,
or a stdio process), together with the agent and the signed-in person. A call with no session id (a
stateless 2026-07-28 HTTP request) is keyed by agent, person and client instead: the person's OAuth
client id when one signed in (verified), else the client name the client gave. A client that changes its
name only gets asked more often, never less.

Only `succeeded` marks a session: the gate calls it after a call's handler finished, so a call that was
denied, declined or failed at Box does not count. The memory is in this process, bounded
(`max_sessions`, least recently used first) and forgets a session `idle` seconds after its last
destructive call; a forgotten session asks again (fails safe). Handshake-era sessions are pinned to one
replica (box_mcp/http/forward.py), so with several replicas this is exact for them; a stateless caller
whose requests land on several replicas is asked once on each replica it reaches.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from box_mcp.seams import Call

IDLE = 3600.0
MAX_SESSIONS = 10_000

Key = tuple[str, str, str, str]


def session_key(call: Call) -> Key:
    """Whose session a call belongs to (see the module's docstring)."""
    person = call.person
    who = person.box_user_id if person is not None else ""
    session = call.session
    if session is not None and session.session_id:
        return ("session", call.agent, who, session.session_id)
    if person is not None:
        client = person.client_id
    else:
        client = (session.client_name or "") if session is not None else ""
    return ("client", call.agent, who, client)


class DestructiveMemory:
    """Which sessions have had a destructive call succeed (in this process)."""

    def __init__(
        self,
        *,
        idle: float = IDLE,
        max_sessions: int = MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._idle = idle
        self._max = max_sessions
        self._clock = clock
        self._last: OrderedDict[Key, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last)

    def first(self, call: Call) -> bool:
        """Whether this call is to a destructive tool and none has succeeded yet in its session."""
        if not call.tool.hints.destructive:
            return False
        key = session_key(call)
        at = self._last.get(key)
        if at is None:
            return True
        if self._clock() - at >= self._idle:
            del self._last[key]
            return True
        return False

    def succeeded(self, call: Call) -> None:
        """A call ran to completion: if it was destructive, its session has had its first."""
        if not call.tool.hints.destructive:
            return
        key = session_key(call)
        self._last[key] = self._clock()
        self._last.move_to_end(key)
        while len(self._last) > self._max:
            self._last.popitem(last=False)
