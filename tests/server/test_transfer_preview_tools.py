"""get_download_url, get_upload_url, get_file_preview and get_preview_page on the in-process emulator:
the URLs work for a client with no Box token (the bytes really move, to the bound item only); the audit
records that a URL was issued, for what and until when, and never the URL or the token, nor does the log;
previews come back as MCP image content with the page count, and bad pages or files are clear errors."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from box_mcp.audit import AuditLog, GateAudit
from box_mcp.box.client import BoxClient
from box_mcp.config import Settings
from box_mcp.emulator import page_render
from box_mcp.server import build_server

from .conftest import Emu, box_for

pytestmark = pytest.mark.anyio
TEXT = "".join(f"Quarterly line {n}: revenue up.\n" for n in range(1, 131))  # 130 lines: 3 pages


class Audited:
    def __init__(self, client: Client, audit_dir: Path) -> None:
        self.client, self.audit_dir = client, audit_dir

    async def call(self, tool: str, **args: Any) -> Any:
        return await self.client.call_tool(tool, args)

    async def ok(self, tool: str, **args: Any) -> Any:
        result = await self.call(tool, **args)
        assert not result.is_error, result.content[0].text
        return result

    async def err(self, tool: str, **args: Any) -> str:
        result = await self.call(tool, **args)
        assert result.is_error, result.structured_content
        return str(result.content[0].text)

    def audit(self) -> str:
        return "".join(p.read_text() for p in sorted(self.audit_dir.glob("audit-*.jsonl")))

    def records(self, tool: str) -> list[dict[str, Any]]:
        raw = (line.strip("\x00").strip() for line in self.audit().splitlines())  # the log pads ahead
        lines = [json.loads(line) for line in raw if line.startswith("{")]
        return [r for r in lines if r.get("tool") == tool and r.get("kind") in ("call", "outcome")]


@pytest.fixture
async def box(emu: Emu) -> AsyncIterator[BoxClient]:
    client = box_for(emu)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def audited(emu: Emu, box: BoxClient, tmp_path: Path) -> AsyncIterator[Audited]:
    log = await AuditLog.open(tmp_path / "audit")
    try:
        server = build_server(Settings.load(env={}), box_client=box, audit=GateAudit(log), transport="http")
        async with Client(server) as client:
            yield Audited(client, tmp_path / "audit")
    finally:
        await log.aclose()


def _client(emu: Emu) -> httpx2.AsyncClient:
    """A client with no Box token at all: the person, or a program that can reach Box."""
    return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=emu.app), base_url="http://emulator")


async def _upload(box: BoxClient, folder: str, name: str, data: bytes) -> str:
    made = await box.upload(parent_id=folder, name=name, source=data)
    return str(made["id"])


async def test_a_download_url_serves_the_bytes_and_the_audit_records_only_its_issue(
    audited: Audited, emu: Emu, box: BoxClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    file_id = await _upload(box, emu.folder("Finance"), "numbers.csv", b"a,b\n1,2\n")
    old_version = (await box.get(f"/files/{file_id}", params={"fields": "file_version"}))["file_version"][
        "id"
    ]
    await box.upload_version(file_id=file_id, source=b"a,b\n3,4\n")
    result = await audited.ok("get_download_url", file_id=file_id)
    out = result.structured_content
    url = out["download_url"]
    assert out["name"] == "numbers.csv" and out["size"] == 8 and out["expires_at"].endswith("Z")
    async with _client(emu) as anyone:
        assert (await anyone.get(url)).content == b"a,b\n3,4\n"
        old = (
            await audited.ok("get_download_url", file_id=file_id, version_id=old_version)
        ).structured_content
        assert (
            old["version_id"] == old_version
            and (await anyone.get(old["download_url"])).content == b"a,b\n1,2\n"
        )
    records = audited.records("get_download_url")
    assert [r["detail"]["result"]["issued"] for r in records] == ["download_url", "download_url"]
    assert records[0]["detail"]["result"]["expires_at"] == out["expires_at"]
    assert records[1]["detail"]["result"]["version_id"] == old_version
    secret = url.split("/dl/")[1].split("/")[0]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (audited.audit(), logged):
        assert secret not in text and "/dl/" not in text


async def test_an_upload_url_takes_the_bytes_into_its_folder_once(
    audited: Audited, emu: Emu, box: BoxClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    folder = emu.folder("HR/Sandbox")
    data = bytes(range(256)) * 40  # binary: what upload_file's text content cannot carry
    out = (
        await audited.ok("get_upload_url", folder_id=folder, file_name="blob.bin", size=len(data))
    ).structured_content
    assert out["kind"] == "new_file" and out["attributes"] == {"name": "blob.bin", "parent": {"id": folder}}
    headers = {"Authorization": f"Bearer {out['upload_token']}"}
    files = {"attributes": (None, json.dumps(out["attributes"])), "file": ("blob.bin", data)}
    async with _client(emu) as client:
        landed = await client.post(out["upload_url"], headers=headers, files=files)
        assert landed.status_code == 201, landed.text
        again = await client.post(out["upload_url"], headers=headers, files=files)
        assert again.status_code == 401  # one upload per URL
    file_id = landed.json()["entries"][0]["id"]
    listed = await box.get(f"/folders/{folder}/items", params={"fields": "name,size"})
    assert {"name": "blob.bin", "size": len(data)} in [
        {"name": e["name"], "size": e["size"]} for e in listed["entries"]
    ]
    version = (await audited.ok("get_upload_url", file_id=file_id, size=2)).structured_content
    files = {"attributes": (None, json.dumps(version["attributes"])), "file": ("blob.bin", b"v2")}
    async with _client(emu) as client:
        auth = {"Authorization": f"Bearer {version['upload_token']}"}
        assert (await client.post(version["upload_url"], headers=auth, files=files)).status_code == 201
    assert (await box.get(f"/files/{file_id}", params={"fields": "size"}))["size"] == 2
    records = audited.records("get_upload_url")
    results = [r["detail"]["result"] for r in records if "result" in r.get("detail", {})]
    assert [(r["kind"], r["folder_id"], r["file_id"]) for r in results] == [
        ("new_file", folder, None),
        ("new_version", None, file_id),
    ]
    assert results[0]["file_name"] == "blob.bin" and results[0]["size"] == len(data)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for text in (audited.audit(), logged):
        for secret in (out["upload_token"], version["upload_token"]):
            assert secret not in text
        assert "upload_session_id" not in text


async def test_an_upload_url_is_refused_where_the_upload_would_be(audited: Audited, emu: Emu) -> None:
    finance = emu.folder("Finance")
    taken = await audited.err("get_upload_url", folder_id=finance, file_name="q3-report.md", size=1)
    assert "item_name_in_use" in taken
    assert "file_name" in await audited.err("get_upload_url", folder_id=finance, size=1)
    assert "size" in await audited.err("get_upload_url", folder_id=finance, file_name="no-size.bin")


async def test_preview_pages_are_png_images_with_the_page_count(
    audited: Audited, emu: Emu, box: BoxClient
) -> None:
    file_id = await _upload(box, emu.folder("Finance"), "long.txt", TEXT.encode())
    result = await audited.ok("get_preview_page", file_id=file_id, page=2)
    out = result.structured_content
    assert (out["page"], out["page_count"], out["width"], out["height"]) == (2, 3, 1024, 1024)
    assert out["mime_type"] == "image/png" and out["representation"] == "png 1024x1024 paged"
    (image,) = [c for c in result.content if c.type == "image"]
    assert image.mime_type == "image/png"
    png = base64.b64decode(image.data)
    assert png == page_render.render_page(TEXT, 2, "1024x1024") and out["image_bytes"] == len(png)
    assert "Page 2 of 3" in result.content[0].text
    beyond = await audited.err("get_preview_page", file_id=file_id, page=4)
    assert "has 3 pages" in beyond and "from 1 to 3" in beyond
    first = (await audited.ok("get_file_preview", file_id=file_id)).structured_content
    assert first["page"] == 1 and first["page_count"] == 3 and first["file_size"] == len(TEXT)


async def test_a_preview_of_an_older_version_shows_that_version(
    audited: Audited, emu: Emu, box: BoxClient
) -> None:
    file_id = await _upload(box, emu.folder("Finance"), "draft.txt", b"first draft\n")
    old = (await box.get(f"/files/{file_id}", params={"fields": "file_version"}))["file_version"]["id"]
    await box.upload_version(file_id=file_id, source=b"second draft\n")
    result = await audited.ok("get_preview_page", file_id=file_id, page=1, version_id=old)
    (image,) = [c for c in result.content if c.type == "image"]
    assert base64.b64decode(image.data) == page_render.render_page("first draft\n", 1, "1024x1024")
    assert result.structured_content["version_id"] == old
    assert "404" in await audited.err("get_preview_page", file_id=file_id, page=1, version_id="999999")


async def test_images_preview_as_themselves_and_other_files_are_refused_clearly(
    audited: Audited, emu: Emu, box: BoxClient
) -> None:
    png = page_render.encode_png_1bit(16, 4, [b"\x0f\xf0"] * 4)
    file_id = await _upload(box, emu.folder("Finance"), "chart.png", png)
    result = await audited.ok("get_file_preview", file_id=file_id)
    out = result.structured_content
    assert (out["page_count"], out["width"], out["height"]) == (1, 16, 4)
    assert base64.b64decode(result.content[1].data) == png
    assert "has 1 page;" in await audited.err("get_preview_page", file_id=file_id, page=2)
    pdf = await audited.err("get_file_preview", file_id=emu.file("Contracts/MSA-Globex.pdf"))
    assert "no image preview" in pdf and "get_download_url" in pdf


async def test_get_file_preview_refuses_files_over_3_mb(audited: Audited, emu: Emu, box: BoxClient) -> None:
    big = ("x" * 79 + "\n").encode() * (3 * 1024 * 1024 // 80 + 10)
    file_id = await _upload(box, emu.folder("Finance"), "big.txt", big)
    refused = await audited.err("get_file_preview", file_id=file_id)
    assert f"is {len(big)} bytes, over get_file_preview's 3145728-byte (3 MB) limit" in refused
    assert "get_preview_page" in refused
    page = (await audited.ok("get_preview_page", file_id=file_id, page=1)).structured_content
    assert page["page_count"] == len(big) // 80 // page_render.LINES_PER_PAGE + 1
