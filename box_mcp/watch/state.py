"""What the watchers remember: delivery ids already accepted (Box retries a delivery it did not hear a
2xx for, with the same BOX-DELIVERY-ID) and the events follower's stream position.

In memory and in the data dir on one machine; in PostgreSQL (box_mcp.state.watch) when the deployment has
a database, so replicas agree on what was already accepted and a restart on any of them resumes.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

SEEN_MEMORY = 10_000  # delivery ids kept in memory (Box gives up on a delivery after 10 retries)
RECENT_EVENTS = 1_000  # event ids kept beside the stream position (Box may repeat events near it)
_STREAM = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")


class Seen(Protocol):
    async def claim(self, delivery_id: str) -> bool:
        """True the first time `delivery_id` is claimed; False for a delivery already accepted."""
        ...

    async def release(self, delivery_id: str) -> None:
        """Forget a claim whose delivery was then not taken (the queue was full): Box's retry is new."""
        ...


class MemorySeen:
    """The last SEEN_MEMORY delivery ids, oldest forgotten first."""

    def __init__(self, size: int = SEEN_MEMORY) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    async def claim(self, delivery_id: str) -> bool:
        if delivery_id in self._ids:
            self._ids.move_to_end(delivery_id)
            return False
        self._ids[delivery_id] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return True

    async def release(self, delivery_id: str) -> None:
        self._ids.pop(delivery_id, None)


@dataclass
class Position:
    """Where the follower is in one event stream, and the ids of the events it published last (an event
    Box serves again after a restart is known by its id and not published twice)."""

    stream_position: str
    recent: list[str] = field(default_factory=list)

    def remember(self, event_ids: list[str]) -> None:
        self.recent = [*self.recent, *event_ids][-RECENT_EVENTS:]

    def to_json(self) -> str:
        return json.dumps({"stream_position": self.stream_position, "recent": self.recent})

    @classmethod
    def from_json(cls, text: str) -> Position | None:
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("stream_position"), str | int):
            return None
        recent = data.get("recent")
        ids = [str(i) for i in recent if isinstance(i, str)] if isinstance(recent, list) else []
        return cls(str(data["stream_position"]), ids[-RECENT_EVENTS:])


class Positions(Protocol):
    async def load(self, stream: str) -> Position | None: ...

    async def save(self, stream: str, position: Position) -> None: ...


def check_stream(stream: str) -> str:
    if not _STREAM.fullmatch(stream):
        raise ValueError(f"a stream name is 1-128 letters, digits and _.:@-, not {stream[:40]!r}")
    return stream


class FilePositions:
    """One 0600 JSON file per stream in DATA_DIR/watch, replaced atomically (a crash keeps the old one)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, stream: str) -> Path:
        return self.directory / f"events-{check_stream(stream).replace(':', '_')}.json"

    async def load(self, stream: str) -> Position | None:
        try:
            return Position.from_json(self.path(stream).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    async def save(self, stream: str, position: Position) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(stream)
        temp = target.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(position.to_json())
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, target)
