"""A download link is its own secret: when the download fails on it, neither the tool result, the audit
record nor the log shows its path or query."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import httpx2
import pytest
from mcp.client import Client

from box_mcp.audit import AuditLog, GateAudit
from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.config import Settings
from box_mcp.emulator.faults import FaultRule
from box_mcp.server import build_server

from .conftest import Emu

pytestmark = pytest.mark.anyio

URL_WITH_QUERY = re.compile(r"https?://[^\s\"']*\?")


class BreaksOnDownloadLinks(httpx2.AsyncBaseTransport):
    """The emulator in process, except that the connection to a download link breaks mid-answer."""

    def __init__(self, emu: Emu, *, break_links: bool) -> None:
        self.inner = httpx2.ASGITransport(app=emu.app)
        self.break_links = break_links
        self.links: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.path.startswith("/dl/"):
            self.links.append(request.url.path.split("/")[2])  # the link's token
            if self.break_links:
                raise httpx2.ReadError("connection reset by peer")
        return await self.inner.handle_async_request(request)


async def no_wait(seconds: float) -> None:
    return None


@pytest.mark.parametrize("failure", ["connection breaks", "link answers 503"])
async def test_a_failed_download_shows_no_link_in_the_result_the_audit_or_the_log(
    failure: str, emu: Emu, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    transport = BreaksOnDownloadLinks(emu, break_links=failure == "connection breaks")
    if failure == "link answers 503":
        emu.app.state.emulator.faults.append(FaultRule(pattern=r"^/dl/", rate_503=1.0, retry_after=0))
    box = BoxClient(
        token_source=StaticToken(emu.token()), base_url="http://emulator", transport=transport, sleep=no_wait
    )
    log = await AuditLog.open(tmp_path / "audit")
    try:
        server = build_server(Settings.load(env={}), box_client=box, audit=GateAudit(log), transport="memory")
        file_id = emu.file("Contracts/MSA-Globex.pdf")
        async with Client(server) as client:
            result = await client.call_tool("get_file_content", {"file_id": file_id})
    finally:
        await log.aclose()
        await box.aclose()
    text = result.content[0].text
    audit = b"".join(p.read_bytes() for p in sorted((tmp_path / "audit").glob("audit-*.jsonl"))).decode()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert result.is_error
    assert len(transport.links) == 5  # five attempts on the link
    for token in transport.links:
        assert token not in text and token not in audit and token not in logged
    assert "/dl/" not in text and "/dl/" not in audit
    assert not URL_WITH_QUERY.search(text) and not URL_WITH_QUERY.search(audit)
    assert '"tool":"get_file_content"' in audit
    assert "after 5 attempts" in text
