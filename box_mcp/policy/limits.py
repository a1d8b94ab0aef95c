"""Per-agent rate limits (calls per minute, writes per minute) from the policy, as sliding windows.

The gate asks `RateLimiter.check(agent, limits, is_write)` before deciding a call; a refused call is not
counted, so an agent that backs off gets its budget back as the window slides.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from box_mcp.policy.model import RateLimits

WINDOW = 60.0


class RateLimiter:
    """Sliding one-minute windows per agent; memory is bounded by each agent's own limits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._calls: dict[str, deque[float]] = {}
        self._writes: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, agent: str, limits: RateLimits, is_write: bool) -> str | None:
        """None if the call may go ahead (and it is counted); else a sentence saying when to retry."""
        now = self._clock()
        with self._lock:
            calls = _window(self._calls, agent, now)
            writes = _window(self._writes, agent, now)
            if limits.calls_per_minute is not None and len(calls) >= limits.calls_per_minute:
                return _refusal(agent, "calls", limits.calls_per_minute, calls, now)
            if is_write and limits.writes_per_minute is not None and len(writes) >= limits.writes_per_minute:
                return _refusal(agent, "writes", limits.writes_per_minute, writes, now)
            if limits.calls_per_minute is not None:
                calls.append(now)
            if is_write and limits.writes_per_minute is not None:
                writes.append(now)
            return None


def _window(store: dict[str, deque[float]], agent: str, now: float) -> deque[float]:
    q = store.setdefault(agent, deque())
    while q and q[0] <= now - WINDOW:
        q.popleft()
    return q


def _refusal(agent: str, what: str, limit: int, q: deque[float], now: float) -> str:
    if limit == 0:
        return f"{agent} may make no {what} (its limit is 0 per minute)."
    wait = max(1, math.ceil(q[0] + WINDOW - now))
    return f"{agent} reached its limit of {limit} {what} per minute; retry in {wait} s."
