"""When and how long the client waits between attempts: full-jitter back-off within a per-call deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

Sleep = Callable[[float], Awaitable[Any]]


@dataclass
class RetryPolicy:
    """Shared by a client and its bound views. `sleep` and `clock` are injectable so tests never wait."""

    max_attempts: int = 5
    deadline: float = 60.0
    sleep: Sleep = anyio.sleep
    clock: Callable[[], float] = time.monotonic
    backoff_base: float = 0.5
    backoff_cap: float = 16.0
    rng: random.Random = field(default_factory=random.SystemRandom)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline <= 0:
            raise ValueError("deadline must be a positive number of seconds")

    def deadline_from_now(self) -> float:
        return self.clock() + self.deadline

    def remaining(self, deadline_at: float) -> float:
        return max(0.0, deadline_at - self.clock())

    def backoff(self, attempt: int) -> float:
        # Full jitter (AWS architecture blog): uniform over [0, min(cap, base * 2^(n-1))].
        return self.rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Box's Retry-After when it gave one (it knows best), else back-off."""
        return retry_after if retry_after is not None else self.backoff(attempt)

    async def wait(self, delay: float, deadline_at: float) -> bool:
        """Sleep `delay` unless that would pass the deadline; False means: give up now."""
        if self.clock() + delay > deadline_at:
            return False
        await self.sleep(delay)
        return True

    async def pause(self, retry_after: float | None, *, default: float = 1.0, cap: float = 60.0) -> None:
        """Wait while Box prepares something (202 + Retry-After), within sane bounds."""
        await self.sleep(min(retry_after if retry_after is not None else default, cap))
