"""The receiver's own limits, in process (the signed path through a real server is test_webhooks_e2e):
an oversized body, a missing delivery id, a payload that is not JSON, and a full queue answering 503
(Box retries) with the claim forgotten, so the retry is taken: nothing is dropped silently."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx2
import pytest
from starlette.applications import Starlette

from box_mcp.changes import Change, ChangeFeed
from box_mcp.events import Events
from box_mcp.watch.receiver import PATH, WebhookReceiver
from box_mcp.watch.signature import sign

pytestmark = pytest.mark.anyio
KEY = b"the-primary-key"


def _delivery(delivery_id: str, file_id: str, body: bytes | None = None) -> tuple[bytes, dict[str, str]]:
    payload = {
        "type": "webhook_event",
        "id": f"event-{delivery_id}",
        "trigger": "FILE.UPLOADED",
        "webhook": {"type": "webhook", "id": "77"},
        "source": {"type": "file", "id": file_id, "name": "ignored", "parent": {"type": "folder", "id": "5"}},
    }
    content = body if body is not None else json.dumps(payload).encode()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return content, {
        "BOX-DELIVERY-ID": delivery_id,
        "BOX-DELIVERY-TIMESTAMP": stamp,
        "BOX-SIGNATURE-PRIMARY": sign(KEY, content, stamp),
    }


class Recorded:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, kind: str, fields: dict[str, Any]) -> None:
        self.records.append((kind, fields))

    def actions(self) -> list[tuple[str, str | None]]:
        return [(f["detail"]["action"], f["detail"].get("reason")) for k, f in self.records if k == "webhook"]


@pytest.fixture
async def served() -> AsyncIterator[tuple[httpx2.AsyncClient, WebhookReceiver, Recorded, anyio.Event]]:
    events, audit = Events(), Recorded()
    events.connect(audit)
    feed = ChangeFeed()
    release = anyio.Event()

    async def slow(change: Change) -> None:  # a consumer that holds the worker until told
        await release.wait()

    feed.subscribe(slow)
    receiver = WebhookReceiver([KEY], feed, events, queue=1, max_body=4096)
    app = Starlette(routes=receiver.routes())
    async with receiver.run():
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://box-mcp.test") as http:
            yield http, receiver, audit, release
            release.set()


async def test_a_full_queue_answers_503_and_the_retry_of_that_delivery_is_taken(
    served: tuple[httpx2.AsyncClient, WebhookReceiver, Recorded, anyio.Event],
) -> None:
    http, receiver, audit, release = served
    published: list[Change] = []
    drained, done = anyio.Event(), anyio.Event()

    async def keep(change: Change) -> None:
        published.append(change)
        if len(published) == 2:
            drained.set()
        if len(published) == 3:
            done.set()

    receiver.feed.subscribe(keep)
    answers = []
    for n in range(3):  # one in the worker (held), one queued, the third finds the queue full
        body, headers = _delivery(f"d{n}", str(100 + n))
        answers.append((await http.post(PATH, content=body, headers=headers)).status_code)
        await anyio.sleep(0.05)
    assert answers == [200, 200, 503]
    release.set()
    with anyio.fail_after(5):
        await drained.wait()
    body, headers = _delivery("d2", "102")  # Box's retry of the refused one
    assert (await http.post(PATH, content=body, headers=headers)).status_code == 200
    with anyio.fail_after(5):
        await done.wait()
    assert [c.item_id for c in published] == ["100", "101", "102"]
    assert published[0] == Change("file", "100", "FILE.UPLOADED", "webhook", "d0", "5")
    assert audit.actions() == [
        ("accepted", None),
        ("accepted", None),
        ("overloaded", None),
        ("accepted", None),
    ]


async def test_oversized_unsigned_and_malformed_deliveries_are_refused(
    served: tuple[httpx2.AsyncClient, WebhookReceiver, Recorded, anyio.Event],
) -> None:
    http, _, audit, _ = served
    big, headers = _delivery("big", "1", body=b"{" + b" " * 5000 + b"}")
    assert (await http.post(PATH, content=big, headers=headers)).status_code == 413
    body, headers = _delivery("no-id", "1")
    del headers["BOX-DELIVERY-ID"]
    assert (await http.post(PATH, content=body, headers=headers)).status_code == 400
    body, headers = _delivery("not-json", "1", body=b"not json")
    assert (await http.post(PATH, content=body, headers=headers)).status_code == 400
    body, headers = _delivery("unsigned", "1")
    del headers["BOX-SIGNATURE-PRIMARY"]
    assert (await http.post(PATH, content=body, headers=headers)).status_code == 403
    assert audit.actions() == [
        ("refused", "too_large"),
        ("refused", "no_delivery_id"),
        ("refused", "bad_payload"),
        ("refused", "no_signature"),
    ]


def test_the_receiver_never_shows_its_keys() -> None:
    receiver = WebhookReceiver([KEY], ChangeFeed(), Events())
    assert KEY.decode() not in repr(receiver) and KEY.decode() not in str(vars(receiver).get("feed"))
