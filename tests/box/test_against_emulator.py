"""The client against the Box emulator in process: uploads, downloads, paging, errors, injected faults."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp.box import BoxAPIError, BoxClient, NotModified, StaticToken
from box_mcp.emulator.app import create_app
from box_mcp.emulator.faults import FaultRule

pytestmark = pytest.mark.anyio


class Emu:
    def __init__(self) -> None:
        self.app = create_app(memory=True, seed="demo", rate_limits=False)
        self.state = self.app.state.emulator
        self.token = self.state.credentials["users"][0]["developer_token"]
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        # The client only sleeps between attempts: that is when an injected outage ends.
        self.sleeps.append(seconds)
        self.state.faults.clear()

    def client(self, **kw: Any) -> BoxClient:
        return BoxClient(
            token_source=StaticToken(self.token),
            base_url="http://emulator",
            transport=httpx2.ASGITransport(app=self.app),
            sleep=self.sleep,
            **kw,
        )


@pytest.fixture
async def emu() -> AsyncIterator[Emu]:
    emulator = Emu()
    yield emulator
    emulator.state.store.close()  # no lifespan under ASGITransport: close the in-memory store here


async def new_folder(client: BoxClient, name: str) -> str:
    folder = await client.post("/folders", json={"name": name, "parent": {"id": "0"}})
    return str(folder["id"])


async def test_upload_download_and_range_round_trip(emu):
    async with emu.client() as client:
        folder = await new_folder(client, "roundtrip")
        content = b"The quick brown fox jumps over the lazy dog\n" * 300
        file = await client.upload(parent_id=folder, name="fox.txt", source=content)
        assert file["sha1"] == hashlib.sha1(content, usedforsecurity=False).hexdigest()
        async with client.download(file["id"]) as download:
            assert b"".join([c async for c in download]) == content
        async with client.download(file["id"], byte_range=(4, 8)) as download:
            assert b"".join([c async for c in download]) == b"quick"


async def test_new_version_with_a_stale_etag_gets_a_real_412(emu):
    async with emu.client() as client:
        folder = await new_folder(client, "versions")
        file = await client.upload(parent_id=folder, name="v.txt", source=b"one")
        second = await client.upload_version(file_id=file["id"], source=b"two", if_match=file["etag"])
        assert second["etag"] != file["etag"]
        with pytest.raises(BoxAPIError) as info:
            await client.upload_version(file_id=file["id"], source=b"three", if_match=file["etag"])
        assert info.value.status == 412 and info.value.fix


async def test_if_none_match_answers_not_modified(emu):
    async with emu.client() as client:
        folder = await client.get(f"/folders/{await new_folder(client, 'etagged')}")
        path = f"/folders/{folder['id']}"
        assert await client.get(path, if_none_match=folder["etag"]) == NotModified(etag=folder["etag"])
        assert (await client.get(path, if_none_match="stale"))["id"] == folder["id"]


async def test_paging_over_a_folder_sees_every_item_once(emu):
    async with emu.client() as client:
        folder = await new_folder(client, "many")
        for i in range(7):
            await client.post("/folders", json={"name": f"sub{i}", "parent": {"id": folder}})
        path = f"/folders/{folder}/items"
        by_offset = [e["name"] async for e in client.paginate(path, limit=3)]
        by_marker = [e["name"] async for e in client.paginate(path, limit=3, marker=True)]
        assert by_offset == by_marker == [f"sub{i}" for i in range(7)]


async def test_real_404_and_409_bodies_become_typed_errors(emu):
    async with emu.client() as client:
        with pytest.raises(BoxAPIError) as info:
            await client.get("/files/999999999")
        assert info.value.status == 404 and info.value.code == "not_found" and info.value.request_id
        await new_folder(client, "twice")
        with pytest.raises(BoxAPIError) as info:
            await new_folder(client, "twice")
        assert info.value.code == "item_name_in_use"
        assert info.value.conflicts and "Fix:" in str(info.value)


async def test_injected_503_on_a_read_is_retried(emu):
    async with emu.client() as client:
        emu.state.faults.append(FaultRule(pattern="^/2.0/users/me$", rate_503=1.0, retry_after=2))
        me = await client.get("/users/me")
        assert me["type"] == "user"
        assert emu.sleeps == [2.0]


async def test_injected_429_on_an_upload_is_retried(emu):
    async with emu.client() as client:
        folder = await new_folder(client, "limited")
        emu.state.faults.append(FaultRule(pattern="/files/content", rate_429=1.0, retry_after=1))
        file = await client.upload(parent_id=folder, name="after-429.txt", source=b"x")
        assert file["name"] == "after-429.txt" and emu.sleeps == [1.0]


async def test_a_create_hit_by_a_503_is_checked_then_redone(emu):
    async with emu.client() as client:
        folder = await new_folder(client, "parent")
        checked = []

        async def verify() -> Any | None:
            checked.append(1)
            async for item in client.paginate(f"/folders/{folder}/items", marker=True):
                if item["name"] == "child":
                    return item
            return None

        emu.state.faults.append(FaultRule(pattern="^/2.0/folders$", methods=("POST",), rate_503=1.0))
        child = await client.post("/folders", json={"name": "child", "parent": {"id": folder}}, verify=verify)
        assert child["name"] == "child" and checked == [1]
        names = [e["name"] async for e in client.paginate(f"/folders/{folder}/items")]
        assert names == ["child"]


async def test_download_to_a_path_writes_the_content(emu, tmp_path):
    async with emu.client() as client:
        folder = await new_folder(client, "dl")
        content = bytes(range(256)) * 64
        file = await client.upload(parent_id=folder, name="bin.dat", source=content)
        target = tmp_path / "bin.dat"
        assert await client.download_to(file["id"], target) == len(content)
        assert await anyio.Path(target).read_bytes() == content


async def test_streaming_over_a_real_loopback_socket():
    from box_mcp.emulator.testing import running_emulator

    with running_emulator(seed="demo", rate_limits=False) as running:
        async with BoxClient(token_source=StaticToken(running.token()), base_url=running.base_url) as client:
            folder = await new_folder(client, "loopback")
            content = bytes(range(256)) * 4096  # 1 MiB

            async def chunks() -> AsyncIterator[bytes]:
                for start in range(0, len(content), 100_000):
                    yield content[start : start + 100_000]

            file = await client.upload(parent_id=folder, name="1mib.bin", source=chunks(), size=len(content))
            got = bytearray()
            with anyio.fail_after(10):
                async with client.download(file["id"]) as download:
                    async for chunk in download:
                        got += chunk
            assert bytes(got) == content


async def _pattern(size: int) -> AsyncIterator[bytes]:
    block = hashlib.sha256(b"box-mcp").digest() * 32768  # 1 MiB, not all one byte
    sent = 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        sent += len(piece)
        yield piece


async def test_forced_chunked_upload_lands_whole_and_a_small_file_falls_back_to_simple(emu):
    size = 20_000_000 + 12_345  # Box's smallest chunked upload is 20,000,000 bytes
    expected = hashlib.sha1(usedforsecurity=False)
    async for piece in _pattern(size):
        expected.update(piece)
    progress: list[int] = []
    async with emu.client(chunked_threshold=1024 * 1024) as client:
        folder = await new_folder(client, "chunked")
        with anyio.fail_after(60):
            file = await client.upload(
                parent_id=folder,
                name="big.bin",
                source=_pattern(size),
                size=size,
                progress=lambda sent, total: progress.append(sent),
            )
        assert file["size"] == size and file["sha1"] == expected.hexdigest()
        assert progress[-1] == size
        assert len(progress) == -(-size // (8 * 1024 * 1024))  # one report per 8 MiB part: it went chunked
        small = await client.upload(parent_id=folder, name="small.bin", source=b"x" * (2 * 1024 * 1024))
        assert small["size"] == 2 * 1024 * 1024
        versioned = await client.upload_version(
            file_id=file["id"], source=_pattern(size), size=size, if_match=file["etag"]
        )
        assert versioned["etag"] != file["etag"]
