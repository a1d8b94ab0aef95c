"""What a call tells its client while it runs (MCP log messages), through a real `box-mcp serve` over
stdio: Box's 429 and the retry after it, and Box marking an endpoint deprecated (its `Deprecation`
header), which also reaches the operator's log once and the audit as one `box` record. A handshake-era
session that asked for `error` and above with logging/setLevel hears neither warning; in the 2026-07-28
era only a request that opts in (its `_meta` log level) hears them."""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import LoggingMessageNotificationParams

from box_mcp.audit.store import iter_lines
from box_mcp.emulator.faults import FaultRule
from box_mcp.emulator.testing import running_emulator

pytestmark = pytest.mark.anyio


def _records(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out += [json.loads(line) for _, _, line in iter_lines(path)]
    return out


def _params(base_url: str, token: str, data: Path) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOX_MCP_", "BOX_DEVELOPER"))}
    env |= {"BOX_DEVELOPER_TOKEN": token, "BOX_MCP_DATA_DIR": str(data), "HOME": str(data)}
    argv = ["-m", "box_mcp.cli", "serve", "--transport", "stdio", "--box-url", base_url]
    return StdioServerParameters(command=sys.executable, args=argv, env=env)


async def test_retries_and_deprecations_reach_the_client_the_operator_and_the_audit(tmp_path: Path) -> None:
    with running_emulator(seed="demo", rate_limits=False, fault_seed=1) as emu:
        readme = emu.credentials["files"]["Engineering/README.md"]
        # One look in three at the file is a 429 (Retry-After 0: no wall time); the endpoint is deprecated.
        emu.emulator.faults.append(
            FaultRule(
                pattern=rf"^/2\.0/files/{readme}$",
                rate_429=0.3,
                retry_after=0,
                deprecation="Fri, 11 Nov 2033 23:59:59 GMT",
            )
        )
        heard: list[LoggingMessageNotificationParams] = []

        async def on_log(params: LoggingMessageNotificationParams) -> None:
            heard.append(params)

        data = tmp_path / "data"
        params = _params(emu.base_url, emu.token("ada"), data)
        async with Client(params, mode="legacy", logging_callback=on_log) as client:
            for _ in range(10):  # enough calls that some meet a 429 (the fault's dice are seeded)
                result = await client.call_tool("get_file_details", {"file_id": readme})
                assert not result.is_error, result
            said = [p.data for p in heard]
            assert all(p.logger == "box-mcp" and p.level == "warning" for p in heard)
            retries = [d for d in said if d["event"] == "box_retry"]
            deprecations = [d for d in said if d["event"] == "box_deprecation"]
            assert retries and all(d["reason"] == "Box said 429" and d["attempt"] >= 1 for d in retries)
            assert retries[0]["message"].startswith(f"GET /2.0/files/{readme}: Box said 429; retrying in")
            assert len(deprecations) == 1  # once per endpoint and process
            assert deprecations[0]["route"] == "/2.0/files/{id}"
            assert "2033" in deprecations[0]["deprecation"]
            assert not any(emu.token("ada") in json.dumps(d) for d in said)

            heard.clear()
            with warnings.catch_warnings():  # the handshake era's logging/setLevel, deprecated in 2026-07-28
                warnings.simplefilter("ignore", MCPDeprecationWarning)
                await client.set_logging_level("error")
            for _ in range(10):
                again = await client.call_tool("get_file_details", {"file_id": readme})
                assert not again.is_error, again
            assert heard == []

        # The 2026-07-28 era: log messages only for a request that opts in (its _meta's log level).
        async with Client(params, logging_callback=on_log) as modern:
            assert modern.protocol_version == "2026-07-28"
            for _ in range(10):
                assert not (await modern.call_tool("get_file_details", {"file_id": readme})).is_error
            assert heard == []
        async with Client(params, logging_callback=on_log, log_level="warning") as modern:
            for _ in range(10):
                assert not (await modern.call_tool("get_file_details", {"file_id": readme})).is_error
            assert {p.data["event"] for p in heard} == {"box_retry", "box_deprecation"}

    boxed = [r for r in _records(data / "audit") if r["kind"] == "box"]
    assert len(boxed) == 3, boxed  # once per endpoint in each of the three server processes
    assert boxed[0]["detail"] == {
        "event": "deprecated",
        "method": "GET",
        "route": "/2.0/files/{id}",
        "deprecation": 'date="Fri, 11 Nov 2033 23:59:59 GMT"',
    }
