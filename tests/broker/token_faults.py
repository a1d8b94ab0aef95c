"""Test helpers for a busy or failing token service: a scripted emulator fault and a retry policy on a
fake clock whose sleeps return at once (so back-off and Retry-After cost no wall time)."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from box_mcp.box.retry import RetryPolicy
from box_mcp.broker.tokens import token_retry_policy
from box_mcp.emulator.faults import FaultRule


@dataclass
class Scripted(FaultRule):
    """An emulator fault answering from a script, one entry per matching request, then never again:
    `Scripted("/oauth2/token", script=[(429, False), (429, False)])` is "429 twice, then the route".
    `(503, True)` runs the route first (its change commits) and then answers 503: Box's answer lost."""

    script: list[tuple[int, bool]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def pick(self, rng: random.Random) -> tuple[int, bool] | None:
        with self._lock:  # the emulator may run in a server thread
            return self.script.pop(0) if self.script else None


@dataclass
class FakeSleeps:
    """A clock shared with the broker (its `now`), moved only by the retry policy's sleeps."""

    clock: Any  # tests/broker/conftest.FakeClock: a callable with a mutable `now`
    sleeps: list[float] = field(default_factory=list)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.now += seconds

    def policy(self, **overrides: Any) -> RetryPolicy:
        """The token endpoint's default policy (attempts, deadline, back-off) on this clock."""
        rng = random.Random(7)  # noqa: S311 (repeatable jitter)
        return replace(token_retry_policy(), sleep=self.sleep, clock=self.clock, rng=rng, **overrides)
