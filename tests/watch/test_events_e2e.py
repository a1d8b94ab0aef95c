"""The events follower in a real `box-mcp serve --watch events` over stdio (an IDE's set-up: Box cannot
reach it): it starts from `now`, publishes what changes, and a restart resumes from the saved position:
exactly the changes made while it was down arrive, and nothing it had published arrives again."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp.emulator.testing import RunningEmulator
from tests.server.hostile_servers import audit_records, stdio_peer
from tests.state_mode import ON_POSTGRES

pytestmark = pytest.mark.anyio
WAIT = 20.0


def _changes(data: Path) -> list[dict[str, Any]]:
    return [r for r in audit_records(data) if r["kind"] == "box_change"]


async def _until(data: Path, found: Any) -> list[dict[str, Any]]:
    """The box_change records once `found(records)` holds (bounded wait)."""
    records: list[dict[str, Any]] = []
    for _ in range(int(WAIT / 0.05)):
        records = _changes(data)
        if found(records):
            return records
        await anyio.sleep(0.05)
    raise AssertionError(f"not seen within {WAIT} s; box_change records: {records}")


def _published(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [
        (r["items"][0]["id"], r["detail"]["event"]) for r in records if r["detail"].get("source") == "events"
    ]


def _step(records: list[dict[str, Any]], action: str) -> bool:
    return any(r["detail"].get("action") == action for r in records)


async def _upload(http: httpx2.AsyncClient, box: RunningEmulator, name: str) -> str:
    folder = box.credentials["folders"]["Engineering"]
    answer = await http.post(
        f"{box.base_url}/api/2.0/files/content",
        files={
            "attributes": (None, f'{{"name": "{name}", "parent": {{"id": "{folder}"}}}}'),
            "file": (name, b"data"),
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["entries"][0]["id"])


async def test_a_restarted_follower_gets_exactly_the_changes_it_missed(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    headers = {"Authorization": f"Bearer {emulator.token('ada')}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        before = await _upload(http, emulator, "before.txt")  # made before the first start: never published
        async with stdio_peer(emulator, data, "--watch", "events"):
            await _until(data, lambda rs: _step(rs, "follower_started"))
            first = await _upload(http, emulator, "first.txt")
            await _until(data, lambda rs: (first, "ITEM_UPLOAD") in _published(rs))
        # stopped in the middle of a long poll; changes go on without it
        missed = [await _upload(http, emulator, f"missed-{i}.txt") for i in range(3)]
        if not ON_POSTGRES:  # on PostgreSQL state the position is a row (tests/state/test_pg_watch.py)
            position = data / "watch" / "events-developer_token.json"
            assert stat.S_IMODE(os.stat(position).st_mode) == 0o600
        async with stdio_peer(emulator, data, "--watch", "events"):
            records = await _until(data, lambda rs: all((m, "ITEM_UPLOAD") in _published(rs) for m in missed))
            assert _step(records, "follower_resumed")
            last = await _upload(http, emulator, "last.txt")
            records = await _until(data, lambda rs: (last, "ITEM_UPLOAD") in _published(rs))
    uploads = [item for item, event in _published(records) if event == "ITEM_UPLOAD"]
    assert uploads == [first, *missed, last]  # in order, each once, nothing from before the first start
    assert before not in uploads
    event_ids = [r["detail"]["delivery_id"] for r in records if r["detail"].get("source") == "events"]
    assert len(event_ids) == len(set(event_ids))
    assert sum(_step([r], "follower_started") for r in records) == 1
