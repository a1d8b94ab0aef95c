"""The events-API follower: Box's user event stream for one identity, long-polled, as `Change`s.

    first run:  GET /events?stream_position=now         -> the position to start from (nothing older)
    then:       GET /events?stream_position=P&stream_type=changes&limit=500, until a page is empty
                OPTIONS /events                         -> the real-time server's URL (and retry_timeout)
                GET <url>&stream_position=P             -> new_change (read again) | reconnect (poll again)

The position is saved after each page, with the ids of the events just published, so a restart resumes
where the last run stopped: nothing missed, and an event Box serves again is known by its id. A page is
published and saved as one step that a stop does not cut in half. Errors back off (Retry-After when Box
gives one: the Box client honours it on 429) and after MAX_FAILURES in a row the follower stops and says
so (audit `box_change`, action `follower_stopped`); the next start resumes from the saved position.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from box_mcp.box.client import BoxClient
from box_mcp.box.errors import BoxAPIError
from box_mcp.changes import ChangeFeed
from box_mcp.errors import BoxError, BoxTransportError, BrokerError
from box_mcp.events import Events
from box_mcp.watch.extract import change_from
from box_mcp.watch.state import Position, Positions

log = logging.getLogger(__name__)

PAGE = 500  # Box's maximum page of events
MAX_FAILURES = 10  # consecutive failed requests before the follower stops
BACKOFF_BASE = 1.0  # seconds; doubled per failure in a row
BACKOFF_CAP = 120.0
MAX_PAGES = 10_000  # pages read before a long poll, whatever Box says (a stream that never ends)
LONG_POLL_MAX = 660.0  # seconds: the longest a long poll is let hang (Box's retry_timeout is 610)
_FATAL = (401, 403)  # the identity cannot read its events: retrying changes nothing

Sleep = Callable[[float], Awaitable[None]]


class Follower:
    """Follows one identity's event stream (`stream`: its name for the saved position)."""

    def __init__(
        self,
        box: BoxClient,
        stream: str,
        positions: Positions,
        feed: ChangeFeed,
        events: Events,
        *,
        sleep: Sleep = anyio.sleep,
        max_failures: int = MAX_FAILURES,
    ) -> None:
        self._box = box
        self.stream = stream
        self._positions = positions
        self.feed = feed
        self._events = events
        self._sleep = sleep
        self._max_failures = max_failures
        self.position: Position | None = None
        self._realtime: tuple[str, float] | None = None  # (url, long-poll timeout)

    async def _note(self, action: str, **detail: Any) -> None:
        await self._events.emit("box_change", detail={"action": action, "stream": self.stream, **detail})

    async def start(self) -> Position:
        """The saved position, or `now` on the very first run (saved at once)."""
        saved = await self._positions.load(self.stream)
        if saved is not None:
            self.position = saved
            await self._note("follower_resumed", stream_position=saved.stream_position)
            return saved
        page = await self._box.get("/events", params={"stream_position": "now"})
        position = Position(str(page["next_stream_position"]))
        await self._positions.save(self.stream, position)
        self.position = position
        await self._note("follower_started", stream_position=position.stream_position)
        return position

    async def read(self) -> int:
        """Publish every event past the position, page by page; returns how many were published."""
        assert self.position is not None
        published = 0
        for _ in range(MAX_PAGES):
            page = await self._box.get(
                "/events",
                params={
                    "stream_position": self.position.stream_position,
                    "stream_type": "changes",
                    "limit": PAGE,
                },
            )
            if not isinstance(page, dict) or not isinstance(page.get("entries", []), list):
                raise BoxError("GET /events answered with something other than a page of events")
            entries = page.get("entries") or []
            before = self.position.stream_position
            following = str(page.get("next_stream_position", before))
            with anyio.CancelScope(shield=True):  # publish and save as one step
                published += await self._publish(entries, following)
            if not entries or following == before:  # the end, or a stream that does not move on
                return published
        return published

    async def _publish(self, entries: list[Any], following: str) -> int:
        assert self.position is not None
        seen = set(self.position.recent)
        fresh: list[str] = []
        count = 0
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("event_id"), str):
                continue
            event_id = entry["event_id"][:128]
            if event_id in seen:
                continue
            seen.add(event_id)
            fresh.append(event_id)
            change = change_from(
                entry.get("source"), entry.get("event_type"), origin="events", delivery_id=event_id
            )
            if change is None:
                continue
            await self.feed.publish(change)
            count += 1
            await self._events.emit(
                "box_change",
                items=[{"type": change.item_type, "id": change.item_id}],
                detail={
                    "source": "events",
                    "event": change.event,
                    "delivery_id": event_id,
                    "parent_id": change.parent_id,
                    "stream": self.stream,
                },
            )
        if fresh or following != self.position.stream_position:
            self.position.remember(fresh)
            self.position.stream_position = following
            await self._positions.save(self.stream, self.position)
        return count

    async def _server(self) -> tuple[str, float]:
        if self._realtime is None:
            answer = await self._box.options("/events")
            entries = answer.get("entries") if isinstance(answer, dict) else None
            first = entries[0] if isinstance(entries, list) and entries else {}
            url = first.get("url") if isinstance(first, dict) else None
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise BoxError("OPTIONS /events named no real-time server URL")
            try:
                timeout = float(first.get("retry_timeout") or 610)
            except (TypeError, ValueError):
                timeout = 610.0
            self._realtime = (url, min(max(timeout, 1.0), LONG_POLL_MAX))
        return self._realtime

    async def wait(self) -> str:
        """One long poll: `new_change`, `reconnect`, or `timeout` (nothing said in retry_timeout)."""
        assert self.position is not None
        url, timeout = await self._server()
        with anyio.move_on_after(timeout):
            try:
                answer = await self._box.get(url, params={"stream_position": self.position.stream_position})
            except BoxTransportError:  # held past the client's deadline: as good as `reconnect`
                self._realtime = None
                return "timeout"
            message = answer.get("message") if isinstance(answer, dict) else None
            if message == "reconnect":
                self._realtime = None  # Box's advice: ask OPTIONS /events for a server again
            return str(message) if message in ("new_change", "reconnect") else "reconnect"
        return "timeout"

    async def run(self) -> None:
        """Follow until cancelled, or until MAX_FAILURES requests in a row failed."""
        failures = 0
        while True:
            try:
                if self.position is None:
                    await self.start()
                await self.read()
                await self.wait()
                failures = 0
            except (BoxError, BrokerError) as exc:
                status = exc.status if isinstance(exc, BoxAPIError) else None
                failures += 1
                self._realtime = None
                if status in _FATAL or failures >= self._max_failures:
                    await self._note("follower_stopped", failures=failures, error=str(exc)[:300])
                    log.error("events follower %s stopped after %d failures: %s", self.stream, failures, exc)
                    return
                delay = BACKOFF_BASE * 2 ** (failures - 1)
                if isinstance(exc, BoxAPIError) and exc.retry_after is not None:  # Box's word on 429
                    delay = max(delay, float(exc.retry_after))
                delay = min(delay, BACKOFF_CAP)
                log.warning("events follower %s: %s; retrying in %.0f s", self.stream, exc, delay)
                await self._note("follower_retry", failures=failures, delay_s=delay, error=str(exc)[:300])
                await self._sleep(delay)
