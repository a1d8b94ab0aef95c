"""What both rate limiters share (in process: `box_mcp.policy.limits`; on PostgreSQL: `state.limits`):
the one-minute window and the sentences a refused call gets, so an agent reads the same either way."""

from __future__ import annotations

import math
from typing import Literal, Protocol

WINDOW = 60.0

Budget = Literal["calls", "writes"]


class Limits(Protocol):
    """An agent's limits as the policy states them (`policy.model.RateLimits`); None: no limit."""

    @property
    def calls_per_minute(self) -> int | None: ...

    @property
    def writes_per_minute(self) -> int | None: ...


def limited(limits: Limits, is_write: bool) -> bool:
    """Whether this call meets any limit at all (else there is nothing to count)."""
    return limits.calls_per_minute is not None or (is_write and limits.writes_per_minute is not None)


def refusal(agent: str, what: Budget, limit: int, oldest: float | None, now: float) -> str:
    """The sentence a refused call gets: when the oldest call in the window leaves it, to the second."""
    if limit == 0 or oldest is None:
        return f"{agent} may make no {what} (its limit is 0 per minute)."
    wait = max(1, math.ceil(oldest + WINDOW - now))
    return f"{agent} reached its limit of {limit} {what} per minute; retry in {wait} s."
