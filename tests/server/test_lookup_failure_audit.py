"""A governed call denied because Box failed the lookup of where its item sits: the audit keeps the answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from box_mcp.audit.store import iter_lines
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.emulator.faults import FaultRule
from box_mcp.emulator.testing import running_emulator

pytestmark = pytest.mark.anyio

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"


def records(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out += [json.loads(line) for _, _, line in iter_lines(path)]
    return out


async def test_a_call_denied_because_the_lookup_got_503_records_boxs_status_in_its_audit_outcome(
    tmp_path: Path,
) -> None:
    with running_emulator(seed="demo", rate_limits=False) as emu:
        msa = emu.credentials["files"]["Contracts/MSA-Globex.pdf"]
        # Every look at this file fails (Retry-After 0: the client's five attempts cost no wall time).
        emu.emulator.faults.append(FaultRule(pattern=rf"^/2\.0/files/{msa}$", rate_503=1.0, retry_after=0))
        settings = Settings.load(
            env={},
            box_url=emu.base_url,
            developer_token=emu.token("ada"),
            policy=str(DEFAULT),
            agent="contracts-bot",
            data_dir=tmp_path / "data",
        )
        async with open_deployment(settings, transport="stdio") as opened:
            server = opened.server
            async with Client(server) as client:
                result = await client.call_tool("get_file_details", {"file_id": msa})
    assert result.is_error
    calls = [r for r in records(tmp_path / "data" / "audit") if r.get("tool") == "get_file_details"]
    assert len(calls) == 1
    outcome = calls[0]["outcome"]
    assert outcome["status"] == "denied"
    assert outcome["http_status"] == 503
    assert outcome["error_code"] == "unavailable"
    assert outcome["request_id"]
