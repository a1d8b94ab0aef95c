"""Per-agent rate limits (calls, writes and Box AI calls per minute) from the policy, as sliding windows.

The gate asks `Limiter.check(agent, limits, is_write, is_ai)` before deciding a call (`is_ai`: a tool of the
`ai` toolset, counted against `ai_calls_per_minute` too); a refused call is not
counted, so an agent that backs off gets its budget back as the window slides. `RateLimiter` counts in
this process's memory (the embedded default); `box_mcp.state.limits.PostgresRateLimiter` counts in the
deployment's database, so every replica on it shares one budget. Both answer in the same sentences.

`check` is async: a shared counter is a database round trip, and the gate calls it on the event loop.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Literal, Protocol

from box_mcp.policy.model import RateLimits

WINDOW = 60.0

Budget = Literal["calls", "writes", "AI calls"]


class Limiter(Protocol):
    async def check(self, agent: str, limits: RateLimits, is_write: bool, is_ai: bool = False) -> str | None:
        """None if the call may go ahead (and it is counted); else a sentence saying when to retry."""
        ...


class RateLimiter:
    """Sliding one-minute windows per agent in this process; memory is bounded by each agent's limits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._writes: dict[str, deque[float]] = {}
        self._ai: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    async def check(self, agent: str, limits: RateLimits, is_write: bool, is_ai: bool = False) -> str | None:
        now = self._clock()
        counts_write = is_write and limits.writes_per_minute is not None
        counts_ai = is_ai and limits.ai_calls_per_minute is not None
        with self._lock:
            calls = _window(self._calls, agent, now)
            writes = _window(self._writes, agent, now)
            ai = _window(self._ai, agent, now)
            if limits.calls_per_minute is not None and len(calls) >= limits.calls_per_minute:
                return refusal(agent, "calls", limits.calls_per_minute, calls[0] if calls else None, now)
            if counts_write and len(writes) >= (limit := limits.writes_per_minute or 0):
                return refusal(agent, "writes", limit, writes[0] if writes else None, now)
            if counts_ai and len(ai) >= (limit := limits.ai_calls_per_minute or 0):
                return refusal(agent, "AI calls", limit, ai[0] if ai else None, now)
            if limits.calls_per_minute is not None:
                calls.append(now)
            if counts_write:
                writes.append(now)
            if counts_ai:
                ai.append(now)
            return None

    def usage(self, agent: str) -> tuple[int, int]:
        """(calls, writes) counted for `agent` in the last minute (what the console shows)."""
        now = self._clock()
        with self._lock:
            return len(_window(self._calls, agent, now)), len(_window(self._writes, agent, now))


def _window(store: dict[str, deque[float]], agent: str, now: float) -> deque[float]:
    q = store.setdefault(agent, deque())
    while q and q[0] <= now - WINDOW:
        q.popleft()
    return q


def limited(limits: RateLimits, is_write: bool, is_ai: bool = False) -> bool:
    """Whether this call meets any limit at all (else there is nothing to count)."""
    return (
        limits.calls_per_minute is not None
        or (is_write and limits.writes_per_minute is not None)
        or (is_ai and limits.ai_calls_per_minute is not None)
    )


def refusal(agent: str, what: Budget, limit: int, oldest: float | None, now: float) -> str:
    """The sentence a refused call gets (from either limiter): when the oldest call in the window leaves
    it, to the second."""
    if limit == 0 or oldest is None:
        return f"{agent} may make no {what} (its limit is 0 per minute)."
    wait = max(1, math.ceil(oldest + WINDOW - now))
    return f"{agent} reached its limit of {limit} {what} per minute; retry in {wait} s."
