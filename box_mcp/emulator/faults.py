"""Fault injection (off by default) and per-user rate limits, applied around the routes.

A fault answers before the route runs (429, 500, 503: Box did nothing), or after it ran and its change
was committed (`after500`, `after502`, `after503`: Box did the work and the answer was lost), which is
the case a client must not mistake for "nothing happened".
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.utils import formatdate

# Box's published per-user limits (requests per window, window seconds) by path class.
BOX_LIMITS: dict[str, list[tuple[int, float]]] = {
    "default": [(1000, 60.0)],
    "upload": [(240, 60.0)],
    "search": [(6, 1.0), (60, 60.0)],
    # Box meters Box AI apart from the API and publishes no figure; its own agent skill asks callers to
    # "pace AI calls at least 1-2 seconds apart" (box/box-for-ai ai-and-retrieval.md). The emulator's figure.
    "ai": [(2, 1.0), (40, 60.0)],
}


@dataclass
class FaultRule:
    """Inject failures on paths matching `pattern` (a regex searched in the path), each with a probability."""

    pattern: str = ".*"
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_503: float = 0.0
    latency_ms: float = 0.0
    retry_after: int = 1
    methods: tuple[str, ...] = ()  # empty: every method
    # Run the route (its change commits), then answer this status instead of the route's answer.
    rate_after_500: float = 0.0
    rate_after_502: float = 0.0
    rate_after_503: float = 0.0
    # Answer as Box answers a deprecated API: the route as usual plus `Deprecation: date="<this date>"`
    # (an HTTP date; Box's versioning guide). Empty: not deprecated.
    deprecation: str = ""

    def matches(self, method: str, path: str) -> bool:
        return (not self.methods or method.upper() in self.methods) and re.search(
            self.pattern, path
        ) is not None

    def pick(self, rng: random.Random) -> tuple[int, bool] | None:
        """(status, after) to inject this time, or None; `after` means: once the route has run."""
        roll = rng.random()
        for status, after, rate in (
            (429, False, self.rate_429),
            (500, False, self.rate_500),
            (503, False, self.rate_503),
            (500, True, self.rate_after_500),
            (502, True, self.rate_after_502),
            (503, True, self.rate_after_503),
        ):
            if roll < rate:
                return status, after
            roll -= rate
        return None

    @classmethod
    def parse(cls, spec: str) -> FaultRule:
        """`PATTERN:key=value,...` e.g. `/2.0/files:429=0.1,503=0.05,after503=0.05,latency=200`.

        Keys: 429, 500, 503 (answered before the route runs), after500, after502, after503 (answered
        after the route ran and committed its change), latency (ms), retry_after (s), deprecated (the
        Unix time of a `Deprecation` date the answers carry). For the CLI and env.
        """
        pattern, _, options = spec.rpartition(":") if ":" in spec else (".*", "", spec)
        rule = cls(pattern=pattern or ".*")
        for option in filter(None, options.split(",")):
            key, _, value = option.partition("=")
            key = key.strip()
            try:
                number = float(value)
            except ValueError:
                raise ValueError(f"fault option {option!r}: the value must be a number") from None
            if key in ("429", "500", "503"):
                setattr(rule, f"rate_{key}", number)
            elif key in ("after500", "after502", "after503"):
                setattr(rule, f"rate_after_{key[5:]}", number)
            elif key == "latency":
                rule.latency_ms = number
            elif key == "retry_after":
                rule.retry_after = int(number)
            elif key == "deprecated":  # the deprecation date, as Unix seconds
                rule.deprecation = formatdate(number, usegmt=True)
            else:
                raise ValueError(
                    f"unknown fault option {key!r}; use 429, 500, 503, after500, after502, after503, "
                    "latency or retry_after"
                )
        return rule


@dataclass
class RateLimiter:
    """Sliding-window counters per (user, path class); `check` answers seconds to wait, or 0."""

    limits: dict[str, list[tuple[int, float]]] = field(default_factory=lambda: dict(BOX_LIMITS))
    _hits: dict[tuple[str, str, int], deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def classify(path: str) -> str:
        if path.startswith("/2.0/search"):
            return "search"
        if path.startswith("/2.0/ai/"):
            return "ai"
        if ("/content" in path and path.startswith("/api/")) or "upload_sessions" in path:
            return "upload"
        return "default"

    def check(self, user_key: str, path: str) -> int:
        kind = self.classify(path)
        stamp = time.monotonic()
        with self._lock:
            waits = []
            for index, (count, window) in enumerate(self.limits.get(kind, [])):
                hits = self._hits.setdefault((user_key, kind, index), deque())
                while hits and hits[0] <= stamp - window:
                    hits.popleft()
                if len(hits) >= count:
                    waits.append(int(hits[0] + window - stamp) + 1)
            if waits:
                return max(waits)
            for index in range(len(self.limits.get(kind, []))):
                self._hits[(user_key, kind, index)].append(stamp)
            return 0
