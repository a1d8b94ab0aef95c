"""The event stream through the official SDK: positions, `now`, limits and stream types."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx2
import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.events import GetEventsEventType, GetEventsStreamType
from box_sdk_gen.managers.folders import CreateFolderParent
from box_sdk_gen.managers.uploads import UploadFileAttributes, UploadFileAttributesParentField

from box_mcp.emulator.routes import events as events_routes
from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def test_now_then_changes_arrive_after_that_position(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    start = ada.events.get_events(stream_position="now")
    assert start.entries == [] and start.next_stream_position is not None
    folder = ada.folders.create_folder("Events demo", CreateFolderParent(id="0"))
    ada.uploads.upload_file(
        UploadFileAttributes(name="e.txt", parent=UploadFileAttributesParentField(id=folder.id)),
        io.BytesIO(b"x"),
    )
    page = ada.events.get_events(stream_position=str(start.next_stream_position))
    kinds = [e.event_type.value for e in page.entries or []]
    assert kinds[:2] == ["ITEM_CREATE", "ITEM_UPLOAD"]
    assert page.chunk_size == len(page.entries or [])
    after = ada.events.get_events(stream_position=str(page.next_stream_position))
    assert after.entries == []


def test_limit_pages_the_stream_and_others_do_not_see_private_events(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    start = ada.events.get_events(stream_position="now").next_stream_position
    hr = box.credentials["folders"]["HR"]
    for index in range(3):
        ada.folders.create_folder(f"private-{index}", CreateFolderParent(id=hr))
    first = ada.events.get_events(stream_position=str(start), limit=2)
    second = ada.events.get_events(stream_position=str(first.next_stream_position), limit=2)
    assert len(first.entries or []) == 2 and len(second.entries or []) == 1
    bob = sdk("bob").events.get_events(stream_position=str(start))
    assert bob.entries == []  # Bob cannot see HR, so he is told nothing about it


def test_changes_stream_leaves_out_downloads_and_admin_logs_needs_an_admin(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    start = ada.events.get_events(stream_position="now").next_stream_position
    readme = box.credentials["files"]["Engineering/README.md"]
    ada.downloads.download_file(readme).read()
    everything = ada.events.get_events(stream_position=str(start))
    assert [e.event_type.value for e in everything.entries or []] == ["ITEM_DOWNLOAD"]
    changes = ada.events.get_events(stream_position=str(start), stream_type=GetEventsStreamType.CHANGES)
    assert changes.entries == []
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").events.get_events(stream_type=GetEventsStreamType.ADMIN_LOGS)
    assert err.value.response_info.status_code == 403
    with pytest.raises(BoxAPIError) as err:
        ada.events.get_events(stream_position="yesterday")
    assert err.value.response_info.status_code == 400


def test_long_poll_answers_new_change_when_an_event_arrives(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    servers = ada.events.get_events_with_long_polling()
    url = servers.entries[0].url
    position = ada.events.get_events(stream_position="now").next_stream_position
    answer: dict[str, object] = {}
    started, done = threading.Event(), threading.Event()

    def poll() -> None:
        with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}, timeout=20) as http:
            started.set()
            answer.update(http.get(f"{url}&stream_position={position}").json())
        done.set()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    assert started.wait(5)
    ada.folders.create_folder("Poke", CreateFolderParent(id="0"))
    assert done.wait(15), "the long poll did not answer"
    thread.join(5)
    assert answer == {"message": "new_change"}


def test_admin_logs_filter_by_event_type_and_time(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    ada.downloads.download_file(box.credentials["files"]["Engineering/README.md"]).read()
    ada.folders.create_folder("Audit trail", CreateFolderParent(id="0"))
    downloads = ada.events.get_events(
        stream_type=GetEventsStreamType.ADMIN_LOGS, event_type=[GetEventsEventType.DOWNLOAD]
    )
    assert {e.event_type.value for e in downloads.entries or []} == {"DOWNLOAD"}  # enterprise event names
    future = ada.events.get_events(
        stream_type=GetEventsStreamType.ADMIN_LOGS, created_after=datetime(2099, 1, 1, tzinfo=UTC)
    )
    assert future.entries == []


def test_admin_logs_name_items_as_the_enterprise_stream_does(sdk: Sdk, box: RunningEmulator) -> None:
    """The enterprise stream's source is Box's EventSource (item_type, item_id, item_name, parent), not
    the full file the user stream carries; the user stream keeps the full item."""
    ada = sdk("ada")
    start = ada.events.get_events(stream_position="now").next_stream_position
    readme = box.credentials["files"]["Engineering/README.md"]
    engineering = box.credentials["folders"]["Engineering"]
    ada.downloads.download_file(readme).read()
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        admin = http.get(
            f"{box.base_url}/2.0/events",
            params={"stream_type": "admin_logs", "event_type": "DOWNLOAD"},
        ).json()
        user = http.get(f"{box.base_url}/2.0/events", params={"stream_position": str(start)}).json()
    source = admin["entries"][-1]["source"]
    assert source["item_type"] == "file" and source["item_id"] == readme
    assert source["item_name"] == "README.md"
    assert source["parent"]["type"] == "folder" and source["parent"]["id"] == engineering
    assert source["owned_by"]["type"] == "user"
    assert "size" not in source and "path_collection" not in source
    assert user["entries"][-1]["source"]["type"] == "file"  # the user stream: the whole file
    typed = ada.events.get_events(
        stream_type=GetEventsStreamType.ADMIN_LOGS, event_type=[GetEventsEventType.DOWNLOAD]
    )
    assert typed.entries  # the official SDK reads the enterprise shape


def test_the_sdks_event_stream_yields_a_change_through_the_long_poll(
    sdk: Sdk, box: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`get_event_stream()` is the SDK's whole loop: events from `now`, OPTIONS, long poll, new_change,
    read again."""
    monkeypatch.setattr(events_routes, "LONG_POLL_SECONDS", 1)  # a stopped stream's last poll ends soon
    ada = sdk("ada")
    stream = ada.events.get_event_stream()
    got: list[str] = []
    arrived = threading.Event()

    def follow() -> None:
        for event in stream:
            if event.source is not None and getattr(event.source, "name", None) == "Streamed":
                got.append(event.event_type.value if event.event_type else "")
                arrived.set()
                stream.stop()

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    time.sleep(0.3)  # the stream's first read (from `now`) happens before the change
    ada.folders.create_folder("Streamed", CreateFolderParent(id="0"))
    assert arrived.wait(15), "the SDK's event stream did not yield the change"
    stream.stop()
    thread.join(5)
    assert got == ["ITEM_CREATE"]


def test_the_long_poll_says_reconnect_after_its_hold_and_new_change_at_once_when_behind(
    sdk: Sdk, box: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_routes, "LONG_POLL_SECONDS", 0.3)
    ada = sdk("ada")
    server = ada.events.get_events_with_long_polling().entries[0]
    assert server.type == "realtime_server" and server.max_retries and server.retry_timeout
    start = ada.events.get_events(stream_position="now").next_stream_position
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}, timeout=10) as http:
        quiet = http.get(f"{server.url}&stream_position={start}").json()
        ada.folders.create_folder("Behind", CreateFolderParent(id="0"))
        begun = time.monotonic()
        behind = http.get(f"{server.url}&stream_position={start}").json()
        waited = time.monotonic() - begun
        bad = http.get(f"{server.url}&stream_position=yesterday")
    assert quiet == {"message": "reconnect"}
    assert behind == {"message": "new_change"} and waited < 0.3  # an event past the position: no wait
    assert bad.status_code == 400
