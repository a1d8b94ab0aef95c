"""An opt-in record of the requests the emulator received (method, path, and the few headers that change
what Box does without changing the request: `box-notifications`, `as-user`), for benchmarks that count
them and for tests that check a client sent those headers."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_KEPT = 100_000  # bounded: a long-running emulator with counting on must not grow without end
NOTED_HEADERS = ("box-notifications", "as-user")  # kept per request; never a credential


@dataclass
class RequestLog:
    """Requests in arrival order; `mark()` then `since(mark)` gives those of one step (e.g. one tool call)."""

    total: int = 0
    entries: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_KEPT))
    # the NOTED_HEADERS each request carried, parallel to `entries`
    headers: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_KEPT))

    def record(self, method: str, path: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self.entries.append((method, path))
        noted = {}
        for key, value in headers:
            name = key.decode("latin-1").lower()
            if name in NOTED_HEADERS:
                noted[name] = value.decode("latin-1")[:100]
        self.headers.append(noted)
        self.total += 1

    def mark(self) -> int:
        return self.total

    def since(self, mark: int) -> list[tuple[str, str]]:
        """The requests received after `mark` (raises if more arrived since than are kept)."""
        return [(m, p) for m, p, _ in self.detailed_since(mark)]

    def detailed_since(self, mark: int) -> list[tuple[str, str, dict[str, str]]]:
        """As `since`, each request with the noted headers it carried (lower-case names)."""
        count = self.total - mark
        if count > len(self.entries):
            raise ValueError(f"{count} requests since the mark, only {len(self.entries)} kept")
        if not count:
            return []
        start = len(self.entries) - count
        pairs = list(self.entries)[start:]
        noted = list(self.headers)[start:]
        return [(m, p, dict(h)) for (m, p), h in zip(pairs, noted, strict=True)]
