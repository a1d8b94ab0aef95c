"""A real `box-mcp serve --transport stdio` whose Box token service is rate-limiting: the emulator answers
the first two token requests 429, and the agent's tool call still succeeds (the broker waited and asked
again), with one broker record in the audit, not one per attempt."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from box_mcp.emulator.testing import running_emulator
from tests.broker.token_faults import Scripted
from tests.server.hostile_servers import (
    assert_audit_verifies,
    audit_records,
    ccg_env,
    stdio_peer,
    tool_call,
)

pytestmark = pytest.mark.anyio

POLICY = """agents: {bot: {}}
rules:
  - {id: read, effect: permit, agents: [bot], access: read}
"""


async def test_a_tool_call_succeeds_when_the_token_service_answers_429_twice(tmp_path: Path) -> None:
    busy = Scripted("/oauth2/token", script=[(429, False), (429, False)], retry_after=0)
    with running_emulator(
        memory=True, seed="demo", rate_limits=False, faults=[busy], count_requests=True
    ) as emulator:
        policy = tmp_path / "policy.yaml"
        policy.write_text(POLICY)
        data = tmp_path / "data"
        async with stdio_peer(
            emulator, data, "--policy", str(policy), "--agent", "bot", env=ccg_env(emulator)
        ) as peer:
            with anyio.fail_after(30):
                answer = await peer.request(tool_call(1, "who_am_i", {}))
        log = emulator.app.state.request_log
        token_requests = [path for _, path in log.entries if path == "/oauth2/token"]
    result = answer["result"]
    assert not result["isError"], result
    assert result["structuredContent"]["name"] == "Acme Agent Gateway"  # the CCG service account
    assert busy.script == []  # both 429s were answered ...
    assert len(token_requests) >= 3  # ... and the grant was sent again until Box issued the token
    records = audit_records(data)
    issued = [r for r in records if r["kind"] == "broker" and r["detail"]["event"] == "issue"]
    failed = [r for r in records if r["kind"] == "broker" and r["detail"]["event"].endswith("_failed")]
    assert len(issued) >= 1 and failed == []
    assert_audit_verifies(data)
