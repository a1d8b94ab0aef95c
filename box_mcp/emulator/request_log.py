"""An opt-in record of the requests the emulator received (method, path), for benchmarks that count them."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_KEPT = 100_000  # bounded: a long-running emulator with counting on must not grow without end


@dataclass
class RequestLog:
    """Requests in arrival order; `mark()` then `since(mark)` gives those of one step (e.g. one tool call)."""

    total: int = 0
    entries: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=MAX_KEPT))

    def record(self, method: str, path: str) -> None:
        self.entries.append((method, path))
        self.total += 1

    def mark(self) -> int:
        return self.total

    def since(self, mark: int) -> list[tuple[str, str]]:
        """The requests received after `mark` (raises if more arrived since than are kept)."""
        count = self.total - mark
        if count > len(self.entries):
            raise ValueError(f"{count} requests since the mark, only {len(self.entries)} kept")
        return list(self.entries)[len(self.entries) - count :] if count else []
