"""Issue 9: the audit records every call or the server stops serving; an agent never reads the data dir."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from mcp.client import Client

import box_mcp.audit.log as audit_log_module
from box_mcp.audit import AuditLog, GateAudit
from box_mcp.config import Settings
from box_mcp.server import build_server

pytestmark = pytest.mark.anyio


def _disk_full(fd: int, data: bytes, offset: int) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


async def test_a_read_the_audit_cannot_record_is_withheld_and_later_calls_are_refused_unserved(
    emu,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.server.conftest import box_for

    box = box_for(emu)
    directory = tmp_path / "data" / "audit"
    async with await AuditLog.open(directory) as log:
        server = build_server(Settings.load(env={}), box_client=box, audit=GateAudit(log), transport="memory")
        async with Client(server) as client:
            assert not (await client.call_tool("who_am_i", {})).is_error
            monkeypatch.setattr(audit_log_module, "_durable_write", _disk_full)
            withheld = await client.call_tool("who_am_i", {})
            requests_before = len(emu.requests)
            refused = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
            rejected = await client.call_tool("no_such_tool", {})
    await box.aclose()
    assert withheld.is_error and withheld.structured_content is None
    assert withheld.content[0].text == (
        "Refused: the audit log could not record this who_am_i call, so its "
        "result is withheld. Nothing was changed in Box."
    )
    expected = (
        "Refused: the audit log cannot write its records (No space left on device); tool calls "
        "are refused until the server's operator fixes the cause and restarts it. "
        "Nothing was sent to Box."
    )
    assert refused.is_error and refused.content[0].text == expected
    assert rejected.is_error and rejected.content[0].text == expected
    assert len(emu.requests) == requests_before  # the refused call reached no Box
    assert str(tmp_path) not in expected
