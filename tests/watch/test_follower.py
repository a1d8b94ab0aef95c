"""The events follower against the emulator's events API and real-time server, in process: what it
publishes, that an event id it saved is never published again (the restart boundary), back-off that
honours Box's Retry-After on 429, and that it stops (and says so) after MAX_FAILURES in a row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import pytest

from box_mcp.box.client import BoxClient
from box_mcp.box.tokens import StaticToken
from box_mcp.changes import Change, ChangeFeed
from box_mcp.emulator.faults import FaultRule
from box_mcp.emulator.testing import RunningEmulator
from box_mcp.events import Events
from box_mcp.watch.follower import Follower
from box_mcp.watch.state import FilePositions

pytestmark = pytest.mark.anyio


class Heard:
    def __init__(self, feed: ChangeFeed) -> None:
        self.changes: list[Change] = []
        self._arrived = anyio.Event()
        feed.subscribe(self._hear)

    async def _hear(self, change: Change) -> None:
        self.changes.append(change)
        self._arrived.set()

    async def wait(self) -> None:
        with anyio.fail_after(15):
            await self._arrived.wait()
        self._arrived = anyio.Event()


class Notes:
    def __init__(self, events: Events) -> None:
        self.records: list[dict[str, Any]] = []
        events.connect(self._sink)

    async def _sink(self, kind: str, fields: dict[str, Any]) -> None:
        self.records.append(fields["detail"])

    def actions(self) -> list[str]:
        return [d["action"] for d in self.records if "action" in d]


@pytest.fixture
async def box(emulator: RunningEmulator) -> AsyncIterator[BoxClient]:
    client = BoxClient(
        token_source=StaticToken(emulator.token("ada")), base_url=emulator.base_url, max_attempts=1
    )
    async with client:
        yield client


async def _upload(emulator: RunningEmulator, name: str) -> str:
    folder = emulator.credentials["folders"]["Engineering"]
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {emulator.token('ada')}"}) as http:
        answer = await http.post(
            f"{emulator.base_url}/api/2.0/files/content",
            files={
                "attributes": (None, f'{{"name": "{name}", "parent": {{"id": "{folder}"}}}}'),
                "file": (name, b"x"),
            },
        )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["entries"][0]["id"])


async def test_it_long_polls_and_publishes_each_change_once_even_when_box_serves_it_again(
    emulator: RunningEmulator, box: BoxClient, tmp_path: Path
) -> None:
    feed, events = ChangeFeed(), Events()
    heard = Heard(feed)
    positions = FilePositions(tmp_path)
    follower = Follower(box, "ada", positions, feed, events)
    start = await follower.start()
    async with anyio.create_task_group() as group:
        group.start_soon(follower.run)
        file_id = await _upload(emulator, "watched.txt")
        await heard.wait()
        group.cancel_scope.cancel()
    folder = emulator.credentials["folders"]["Engineering"]
    assert heard.changes[0] == Change(
        "file", file_id, "ITEM_UPLOAD", "events", heard.changes[0].delivery_id, folder
    )
    saved = await positions.load("ada")
    assert saved is not None and heard.changes[0].delivery_id in saved.recent
    # A restart that finds the stream a step behind (Box may serve events again near a position):
    saved.stream_position = start.stream_position
    await positions.save("ada", saved)
    again = Follower(box, "ada", positions, feed, events)
    await again.start()
    assert await again.read() == 0 and len(heard.changes) == 1


async def test_429_backs_off_for_at_least_retry_after_then_it_recovers(
    emulator: RunningEmulator, box: BoxClient, tmp_path: Path
) -> None:
    feed, events = ChangeFeed(), Events()
    heard, notes = Heard(feed), Notes(events)
    slept: list[float] = []
    rule = FaultRule(pattern=r"^/2\.0/events$", rate_429=1.0, methods=("GET",), retry_after=7)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            emulator.emulator.faults.remove(rule)  # Box recovers
        await anyio.lowlevel.checkpoint()

    follower = Follower(box, "ada", FilePositions(tmp_path), feed, events, sleep=sleep)
    await follower.start()
    file_id = await _upload(emulator, "later.txt")
    emulator.emulator.faults.append(rule)
    async with anyio.create_task_group() as group:
        group.start_soon(follower.run)
        await heard.wait()
        group.cancel_scope.cancel()
    assert slept == [7.0, 7.0]  # Box's Retry-After over the 1 s and 2 s of the back-off
    assert [c.item_id for c in heard.changes] == [file_id]
    assert notes.actions() == ["follower_started", "follower_retry", "follower_retry"]


async def test_it_stops_after_max_failures_in_a_row_and_says_so(
    emulator: RunningEmulator, box: BoxClient, tmp_path: Path
) -> None:
    events = Events()
    notes = Notes(events)
    emulator.emulator.faults.append(FaultRule(pattern=r"^/2\.0/events", rate_500=1.0))
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    follower = Follower(
        box, "ada", FilePositions(tmp_path), ChangeFeed(), events, sleep=sleep, max_failures=4
    )
    with anyio.fail_after(15):
        await follower.run()
    assert slept == [1.0, 2.0, 4.0]
    assert notes.actions() == ["follower_retry"] * 3 + ["follower_stopped"]
    assert notes.records[-1]["failures"] == 4
