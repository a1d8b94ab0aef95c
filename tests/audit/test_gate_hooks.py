"""The deployment wiring: `box-mcp serve` gets a GateAudit writing to <data dir>/audit."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from box_mcp import config
from box_mcp.audit import GateAudit, new_key_file, verify
from box_mcp.audit.gate_hooks import KEY_FILE_ENV, gate_hooks
from box_mcp.errors import AuditError


@pytest.mark.anyio
async def test_the_deployment_records_into_the_data_dir(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    settings = config.Settings(data_dir=tmp_path)
    async with AsyncExitStack() as stack:
        hooks = await gate_hooks(settings, stack)
        assert isinstance(hooks.audit, GateAudit)
        await hooks.audit.sink("session_start", {"agent": "claude"})
    assert verify(tmp_path / "audit").count == 1


@pytest.mark.anyio
async def test_a_key_file_seals_every_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys" / "audit.key"
    key_file.parent.mkdir()
    new_key_file(key_file)
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    async with AsyncExitStack() as stack:
        hooks = await gate_hooks(config.Settings(data_dir=tmp_path), stack)
        await hooks.audit.sink("session_start", {"agent": "claude"})
    [line] = (tmp_path / "audit").glob("audit-*.jsonl")
    assert b'"mac":' in line.read_bytes()


@pytest.mark.anyio
async def test_an_unreadable_key_file_stops_the_server(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "missing.key"))
    async with AsyncExitStack() as stack:
        with pytest.raises(AuditError, match="cannot read the audit key file"):
            await gate_hooks(config.Settings(data_dir=tmp_path), stack)
