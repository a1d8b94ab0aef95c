"""Simple and chunked uploads against a small fake of Box's upload host (digests checked like Box does)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import anyio
import httpx2
import pytest

from box_mcp.box import BoxAPIError, BoxTransportError

pytestmark = pytest.mark.anyio
UP = "https://upload.box.com/api/2.0"


def sha1(data: bytes) -> hashlib._Hash:
    return hashlib.sha1(data, usedforsecurity=False)  # Box's content digest


def _err(status: int, code: str) -> httpx2.Response:
    return httpx2.Response(status, json={"type": "error", "status": status, "code": code, "message": code})


class FakeUploads:
    """Box's upload endpoints, reduced to what a client must get right: order, digests, ranges, commit."""

    def __init__(self, part_size: int = 8) -> None:
        self.part_size = part_size
        self.files: dict[str, dict] = {}
        self.requests: list[httpx2.Request] = []
        self.sessions: dict[str, dict] = {}
        self.aborted: list[str] = []
        self.fail_next: list[httpx2.Response] = []  # answers to give before doing the work
        self.fail_after_work: list[httpx2.Response] = []  # answers to give after doing the work (a lost 503)
        self.commit_not_ready = 0
        self.max_in_flight = 0
        self._in_flight = 0
        self._overlap = anyio.Event()

    def _file(self, name: str, parent: str, content: bytes, file_id: str | None = None) -> dict:
        file_id = file_id or str(1000 + len(self.files))
        version = int(self.files.get(file_id, {}).get("etag", "-1")) + 1
        record = {
            "type": "file",
            "id": file_id,
            "name": name,
            "etag": str(version),
            "size": len(content),
            "sha1": sha1(content).hexdigest(),
            "parent": {"id": parent},
            "content": content,
        }
        self.files[file_id] = record
        return {k: v for k, v in record.items() if k != "content"}

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self.fail_next:
            await request.aread()
            return self.fail_next.pop(0)
        response = await self._handle(request)
        if self.fail_after_work and response.status_code < 300:
            return self.fail_after_work.pop(0)
        return response

    async def _handle(self, request: httpx2.Request) -> httpx2.Response:
        path, method = request.url.path, request.method
        if (method == "POST" and path == "/api/2.0/files/content") or (
            method == "POST" and re.fullmatch(r"/api/2.0/files/\d+/content", path)
        ):
            return await self._simple(request)
        if method == "OPTIONS" and path == "/2.0/files/content":
            body = json.loads(await request.aread())
            for f in self.files.values():
                if f["name"] == body["name"] and f["parent"]["id"] == body["parent"]["id"]:
                    conflict = {"type": "file", "id": f["id"], "sha1": f["sha1"], "name": f["name"]}
                    return httpx2.Response(
                        409,
                        json={
                            "type": "error",
                            "status": 409,
                            "code": "item_name_in_use",
                            "message": "exists",
                            "context_info": {"conflicts": conflict},
                        },
                    )
            return httpx2.Response(200, json={"upload_url": f"{UP}/files/content"})
        if method == "GET" and (m := re.fullmatch(r"/2.0/files/(\d+)", path)):
            f = self.files.get(m.group(1))
            return (
                httpx2.Response(200, json={k: v for k, v in f.items() if k != "content"})
                if f
                else _err(404, "not_found")
            )
        if method == "POST" and (
            path == "/api/2.0/files/upload_sessions" or path.endswith("/upload_sessions")
        ):
            body = json.loads(await request.aread())
            sid = f"S{len(self.sessions) + 1}"
            total_parts = -(-body["file_size"] // self.part_size)
            base = f"{UP}/files/upload_sessions/{sid}"
            file_id = (
                m.group(1) if (m := re.fullmatch(r"/api/2.0/files/(\d+)/upload_sessions", path)) else None
            )
            self.sessions[sid] = {"body": body, "parts": {}, "file_id": file_id}
            return httpx2.Response(
                201,
                json={
                    "id": sid,
                    "type": "upload_session",
                    "part_size": self.part_size,
                    "total_parts": total_parts,
                    "num_parts_processed": 0,
                    "session_endpoints": {
                        "upload_part": base,
                        "commit": f"{base}/commit",
                        "abort": base,
                        "list_parts": f"{base}/parts",
                        "status": base,
                        "log_event": f"{base}/log",
                    },
                },
            )
        if m := re.fullmatch(r"/api/2.0/files/upload_sessions/(S\d+)(/commit)?", path):
            session = self.sessions[m.group(1)]
            if method == "PUT":
                return await self._part(request, session)
            if method == "DELETE":
                self.aborted.append(m.group(1))
                return httpx2.Response(204)
            if method == "POST" and m.group(2):
                return await self._commit(request, session)
        return _err(404, "not_found")

    async def _simple(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        assert int(request.headers["Content-Length"]) == len(body)
        boundary = request.headers["Content-Type"].split("boundary=")[1].encode()
        chunks = body.split(b"--" + boundary)
        attributes_part, file_part = chunks[1], chunks[2]
        if b'name="attributes"' not in attributes_part:
            return _err(400, "metadata_after_file_contents")
        attributes = json.loads(attributes_part.split(b"\r\n\r\n", 1)[1].rstrip(b"\r\n"))
        content = file_part.split(b"\r\n\r\n", 1)[1][: -len(b"\r\n")]
        if request.headers.get("Content-MD5") not in (None, sha1(content).hexdigest()):
            return _err(400, "bad_digest")
        if m := re.fullmatch(r"/api/2.0/files/(\d+)/content", request.url.path):
            current = self.files[m.group(1)]
            if request.headers.get("If-Match") not in (None, current["etag"]):
                return _err(412, "precondition_failed")
            entry = self._file(
                attributes.get("name", current["name"]), current["parent"]["id"], content, m.group(1)
            )
        else:
            if any(f["name"] == attributes["name"] for f in self.files.values()):
                return _err(409, "item_name_in_use")
            entry = self._file(attributes["name"], attributes["parent"]["id"], content)
        return httpx2.Response(201, json={"total_count": 1, "entries": [entry]})

    async def _part(self, request: httpx2.Request, session: dict) -> httpx2.Response:
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self._in_flight > 1:
                self._overlap.set()
            # Hold the first part until a second one arrives (bounded): proves parts overlap.
            with anyio.move_on_after(2):
                await self._overlap.wait()
            data = await request.aread()
        finally:
            self._in_flight -= 1
        digest = base64.b64encode(sha1(data).digest()).decode()
        if request.headers["Digest"] != f"sha={digest}":
            return _err(400, "bad_digest")
        lo, hi, total = map(
            int, re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", request.headers["Content-Range"]).groups()
        )
        assert hi - lo + 1 == len(data) and total == session["body"]["file_size"]
        assert len(data) == self.part_size or hi == total - 1
        part = {"part_id": f"P{lo}", "offset": lo, "size": len(data), "sha1": sha1(data).hexdigest()}
        session["parts"][lo] = (part, data)
        return httpx2.Response(200, json={"part": part})

    async def _commit(self, request: httpx2.Request, session: dict) -> httpx2.Response:
        body = json.loads(await request.aread())
        if self.commit_not_ready:
            self.commit_not_ready -= 1
            return httpx2.Response(202, headers={"Retry-After": "5"})
        assert [p["offset"] for p in body["parts"]] == sorted(session["parts"])
        content = b"".join(session["parts"][off][1] for off in sorted(session["parts"]))
        digest = base64.b64encode(sha1(content).digest()).decode()
        if request.headers["Digest"] != f"sha={digest}":
            return _err(400, "bad_digest")
        if session["file_id"]:
            current = self.files[session["file_id"]]
            if request.headers.get("If-Match") not in (None, current["etag"]):
                return _err(412, "precondition_failed")
            entry = self._file(current["name"], current["parent"]["id"], content, session["file_id"])
        else:
            entry = self._file(session["body"]["file_name"], session["body"]["folder_id"], content)
        return httpx2.Response(201, json={"total_count": 1, "entries": [entry]})


@pytest.fixture
def box() -> FakeUploads:
    return FakeUploads()


async def test_simple_upload_sends_attributes_first_with_a_sha1_content_md5(make_client, box):
    client = make_client(box)
    seen = []
    file = await client.upload(
        parent_id="0", name="notes.txt", source=b"hello box", progress=lambda s, t: seen.append((s, t))
    )
    assert file["name"] == "notes.txt" and file["size"] == 9
    assert box.files[file["id"]]["content"] == b"hello box"
    assert box.requests[0].headers["Content-MD5"] == sha1(b"hello box").hexdigest()
    assert str(box.requests[0].url) == f"{UP}/files/content"
    assert seen[-1] == (9, 9)


async def test_upload_from_a_local_path_and_from_an_async_iterable(make_client, box, tmp_path):
    client = make_client(box)
    local = tmp_path / "report.csv"
    await anyio.Path(local).write_bytes(b"a,b\n" * 1000)
    file = await client.upload(parent_id="0", name="report.csv", source=local)
    assert box.files[file["id"]]["content"] == local.read_bytes()

    async def chunks():
        for i in range(5):
            yield f"line {i}\n".encode()

    file = await client.upload(parent_id="0", name="stream.txt", source=chunks(), size=35)
    assert box.files[file["id"]]["content"] == b"".join(f"line {i}\n".encode() for i in range(5))


async def test_an_async_iterable_without_a_size_is_refused(make_client, box):
    async def chunks():
        yield b"x"

    with pytest.raises(ValueError, match="size"):
        await make_client(box).upload(parent_id="0", name="x", source=chunks())


async def test_a_source_shorter_than_its_declared_size_is_caught(make_client, box):
    async def chunks():
        yield b"abc"

    with pytest.raises(ValueError, match="held 3 bytes"):
        await make_client(box).upload(parent_id="0", name="x", source=chunks(), size=10)


async def test_a_name_in_use_is_a_409_with_its_fix(make_client, box):
    client = make_client(box)
    await client.upload(parent_id="0", name="a.txt", source=b"1")
    with pytest.raises(BoxAPIError, match="409 item_name_in_use"):
        await client.upload(parent_id="0", name="a.txt", source=b"2")


async def test_an_upload_that_landed_despite_a_503_is_found_not_duplicated(make_client, box):
    client = make_client(box)
    box.fail_after_work.append(_err(503, "unavailable"))
    file = await client.upload(parent_id="0", name="once.txt", source=b"only once")
    assert file["name"] == "once.txt"
    assert len(box.files) == 1
    methods = [r.method for r in box.requests]
    assert methods == ["POST", "OPTIONS", "GET"]  # upload, preflight finds it with our SHA-1, fetch it


async def test_an_upload_that_did_not_land_after_a_503_is_sent_again(make_client, box):
    client = make_client(box)
    box.fail_next.append(_err(503, "unavailable"))
    file = await client.upload(parent_id="0", name="again.txt", source=b"content")
    assert box.files[file["id"]]["content"] == b"content"
    assert [r.method for r in box.requests] == ["POST", "OPTIONS", "POST"]


async def test_new_version_with_a_stale_etag_gets_412(make_client, box):
    client = make_client(box)
    file = await client.upload(parent_id="0", name="v.txt", source=b"v1")
    updated = await client.upload_version(file_id=file["id"], source=b"v2", if_match=file["etag"])
    assert updated["etag"] == "1" and box.files[file["id"]]["content"] == b"v2"
    with pytest.raises(BoxAPIError) as info:
        await client.upload_version(file_id=file["id"], source=b"v3", if_match=file["etag"])
    assert info.value.status == 412 and info.value.code == "precondition_failed"


async def test_chunked_upload_sends_parts_concurrently_and_commits_with_the_file_digest(make_client, box):
    client = make_client(box, chunked_threshold=16, part_concurrency=3)
    content = bytes(range(100))  # 13 parts of 8 bytes (the last one 4)
    progress = []

    async def on_progress(sent: int, total: int) -> None:
        progress.append(sent)

    file = await client.upload(parent_id="0", name="big.bin", source=content, progress=on_progress)
    assert box.files[file["id"]]["content"] == content
    assert box.max_in_flight > 1
    assert progress[-1] == 100 and progress == sorted(progress)
    commit = next(r for r in box.requests if r.url.path.endswith("/commit"))
    assert commit.headers["Digest"] == "sha=" + base64.b64encode(sha1(content).digest()).decode()


async def test_chunked_commit_waits_out_202_and_new_versions_go_chunked_too(
    make_client, box, fake_time, tmp_path
):
    client = make_client(box, chunked_threshold=16)
    box.commit_not_ready = 2
    local: Path = tmp_path / "big.bin"
    await anyio.Path(local).write_bytes(b"z" * 50)
    file = await client.upload(parent_id="0", name="big.bin", source=local)
    assert fake_time.sleeps == [5.0, 5.0]
    updated = await client.upload_version(file_id=file["id"], source=b"y" * 40, if_match=file["etag"])
    assert box.files[file["id"]]["content"] == b"y" * 40 and updated["etag"] == "1"


async def test_a_failed_part_aborts_the_session(make_client, box):
    client = make_client(box, chunked_threshold=16, max_attempts=1)
    real = box._part

    async def broken(request, session):
        if request.headers["Content-Range"].startswith("bytes 16-"):
            await request.aread()
            return _err(500, "internal_server_error")
        return await real(request, session)

    box._part = broken
    with pytest.raises(BoxAPIError, match="500"):
        await client.upload(parent_id="0", name="big.bin", source=b"q" * 40)
    assert box.aborted == ["S1"]
    assert box.files == {}


async def test_a_source_that_grows_past_its_size_aborts_the_chunked_upload(make_client, box):
    client = make_client(box, chunked_threshold=16)

    async def chunks():
        for _ in range(10):
            yield b"0123456789"

    with pytest.raises(BoxTransportError, match="grew past"):
        await client.upload(parent_id="0", name="big.bin", source=chunks(), size=40)
    assert box.aborted == ["S1"]


async def test_preflight_raises_the_conflict(make_client, box):
    client = make_client(box)
    await client.upload(parent_id="0", name="p.txt", source=b"1")
    await client.preflight(parent_id="0", name="free.txt", size=10)
    with pytest.raises(BoxAPIError) as info:
        await client.preflight(parent_id="0", name="p.txt", size=10)
    assert info.value.conflicts[0]["name"] == "p.txt"
