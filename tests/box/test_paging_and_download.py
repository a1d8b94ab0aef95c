"""Offset and marker paging; downloads that follow 302 without our token, wait on 202, and honour Range."""

from __future__ import annotations

import stat

import httpx2
import pytest

from box_mcp.box import BoxAPIError
from box_mcp.errors import BoxMCPError, ToolInputError

pytestmark = pytest.mark.anyio


def offset_pages(total: int, max_limit: int):
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        offset = int(request.url.params["offset"])
        limit = min(int(request.url.params["limit"]), max_limit)  # Box may lower the limit
        entries = [{"type": "file", "id": str(i)} for i in range(offset, min(offset + limit, total))]
        return httpx2.Response(
            200, json={"entries": entries, "offset": offset, "limit": limit, "total_count": total}
        )

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


async def test_offset_paging_advances_by_the_limit_box_answered(make_client):
    handler = offset_pages(total=25, max_limit=10)
    client = make_client(handler)
    ids = [e["id"] async for e in client.paginate("/folders/0/items", limit=1000)]
    assert ids == [str(i) for i in range(25)]
    assert [r.url.params["offset"] for r in handler.seen] == ["0", "10", "20"]


async def test_paging_stops_at_max_items(make_client):
    handler = offset_pages(total=500, max_limit=100)
    client = make_client(handler)
    ids = [e["id"] async for e in client.paginate("/folders/0/items", limit=100, max_items=150)]
    assert len(ids) == 150
    assert len(handler.seen) == 2


@pytest.mark.parametrize("end_marker", [None, ""])
async def test_marker_paging_ends_at_a_null_or_empty_marker(make_client, end_marker):
    pages = {None: ("m1", ["a", "b"]), "m1": ("m2", ["c"]), "m2": (end_marker, ["d"])}
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        assert request.url.params["usemarker"] == "true"
        nxt, ids = pages[request.url.params.get("marker")]
        entries = [{"id": i} for i in ids]
        return httpx2.Response(200, json={"entries": entries, "next_marker": nxt, "limit": 2})

    client = make_client(handler)
    ids = [e["id"] async for e in client.paginate("/folders/0/items", limit=2, marker=True, fields=["name"])]
    assert ids == ["a", "b", "c", "d"]
    assert all(r.url.params["fields"] == "name" for r in seen)


def download_host(content: bytes, *, location: str, not_ready: int = 0):
    seen: list[httpx2.Request] = []
    state = {"not_ready": not_ready}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if request.url.path == "/2.0/files/11/content":
            if state["not_ready"]:
                state["not_ready"] -= 1
                return httpx2.Response(202, headers={"Retry-After": "2"})
            return httpx2.Response(302, headers={"Location": location})
        if request.url.path == "/d/11":
            rng = request.headers.get("Range")
            if rng:
                lo, hi = rng.removeprefix("bytes=").split("-")
                body = content[int(lo) : int(hi) + 1 if hi else None]
                end = int(lo) + len(body) - 1
                return httpx2.Response(
                    206, content=body, headers={"Content-Range": f"bytes {lo}-{end}/{len(content)}"}
                )
            return httpx2.Response(200, content=content)
        return httpx2.Response(404, json={"type": "error", "status": 404, "code": "not_found"})

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


async def test_download_follows_the_redirect_without_sending_our_token_to_another_host(make_client):
    content = bytes(range(256)) * 1000
    handler = download_host(content, location="https://dl.boxcloud.com/d/11")
    client = make_client(handler)
    async with client.download("11") as download:
        chunks = [c async for c in download.aiter_bytes(4096)]
    assert b"".join(chunks) == content
    assert max(len(c) for c in chunks) <= 4096
    assert "Authorization" in handler.seen[0].headers
    assert handler.seen[1].url.host == "dl.boxcloud.com"
    assert "Authorization" not in handler.seen[1].headers
    assert "As-User" not in handler.seen[1].headers


async def test_download_waits_on_202_and_honours_range(make_client, fake_time):
    content = b"0123456789abcdef"
    handler = download_host(content, location="/d/11", not_ready=2)
    client = make_client(handler)
    async with client.download("11", byte_range=(4, 9)) as download:
        body = b"".join([c async for c in download])
        assert download.status_code == 206 and download.total_size == 16
    assert body == b"456789"
    assert fake_time.sleeps == [2.0, 2.0]
    # Same host as the API: a relative Location keeps the token.
    assert handler.seen[-1].headers["Authorization"].startswith("Bearer ")


async def test_download_to_writes_the_file_and_counts_bytes(make_client, tmp_path):
    content = b"x" * 200_000
    client = make_client(download_host(content, location="https://dl.boxcloud.com/d/11"))
    target = tmp_path / "out.bin"
    assert await client.download_to("11", target) == len(content)
    assert target.read_bytes() == content
    assert not (tmp_path / "out.bin.part").exists()


async def test_a_missing_file_download_raises_and_leaves_no_partial_file(make_client, tmp_path):
    client = make_client(download_host(b"", location="https://dl.boxcloud.com/d/11"))
    with pytest.raises(BoxAPIError, match="404 not_found"):
        await client.download_to("12", tmp_path / "x")
    assert list(tmp_path.iterdir()) == []


async def test_download_to_never_writes_through_a_symlink_planted_at_a_temporary_name(make_client, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"precious")
    room = tmp_path / "room"
    room.mkdir()
    (room / "out.bin.part").symlink_to(outside)  # the name the old code wrote through
    client = make_client(download_host(b"from box", location="https://dl.boxcloud.com/d/11"))
    assert await client.download_to("11", room / "out.bin") == 8
    assert (room / "out.bin").read_bytes() == b"from box" and outside.read_bytes() == b"precious"
    assert sorted(p.name for p in room.iterdir()) == ["out.bin", "out.bin.part"]


async def test_download_to_leaves_an_existing_part_file_alone(make_client, tmp_path):
    (tmp_path / "out.bin.part").write_bytes(b"the user's own half download")
    client = make_client(download_host(b"", location="https://dl.boxcloud.com/d/11"))
    with pytest.raises(BoxAPIError):
        await client.download_to("12", tmp_path / "out.bin")
    assert (tmp_path / "out.bin.part").read_bytes() == b"the user's own half download"


async def test_downloaded_files_are_private_to_their_owner(make_client, tmp_path):
    client = make_client(download_host(b"secret plans", location="https://dl.boxcloud.com/d/11"))
    await client.download_to("11", tmp_path / "plans.txt")
    assert stat.S_IMODE((tmp_path / "plans.txt").stat().st_mode) == 0o600


async def test_download_to_without_overwrite_keeps_a_file_that_appeared_during_the_download(
    make_client, tmp_path
):
    target = tmp_path / "out.bin"
    inner = download_host(b"from box", location="https://dl.boxcloud.com/d/11")

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.host == "dl.boxcloud.com":
            target.write_bytes(b"written meanwhile")  # another program claims the name mid-download
        return inner(request)

    client = make_client(handler)
    with pytest.raises(ToolInputError, match="overwrite"):
        await client.download_to("11", target, overwrite=False)
    assert target.read_bytes() == b"written meanwhile"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


async def test_a_local_write_failure_is_a_clear_error_naming_the_path(make_client, tmp_path):
    client = make_client(download_host(b"data", location="https://dl.boxcloud.com/d/11"))
    with pytest.raises(BoxMCPError, match=r"cannot write the local file .*missing/out.bin \(No such file"):
        await client.download_to("11", tmp_path / "missing" / "out.bin")


async def test_a_backwards_range_is_refused(make_client):
    client = make_client(download_host(b"", location="/d/11"))
    with pytest.raises(ValueError, match="byte_range"):
        async with client.download("11", byte_range=(9, 4)):
            pass


async def test_downloads_ask_for_the_files_own_bytes(make_client):
    handler = download_host(b"abc", location="https://dl.boxcloud.com/d/11")
    client = make_client(handler)
    async with client.download("11") as download:
        assert b"".join([c async for c in download]) == b"abc"
        assert download.size == 3
    assert all(r.headers["Accept-Encoding"] == "identity" for r in handler.seen)
