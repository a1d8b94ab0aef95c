"""A replica stopped the way a container is (SIGTERM: `docker stop`, a Kubernetes rollout) drains: the
tool call in flight completes, its audit records are written, and the process exits 0.

The replica is started as compose.yaml starts one (deploy/start-replica.py: the emulator's
credentials.json, AGENT_KEYS hashes into a copy of policies/compose, then `box-mcp serve`) on PostgreSQL,
and the audit is read back with the real `box-mcp audit query` and `audit verify`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp.broker.crypto import new_key_text
from box_mcp.emulator.faults import FaultRule
from box_mcp.emulator.testing import running_emulator
from tests.e2e.replicas import key_digest
from tests.server.hostile_servers import (
    ROOT,
    free_port,
    http_rpc,
    open_http_session,
    server_env,
    tool_call,
)
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio

KEY = "bmcp_assistant_key_for_the_shutdown_test"
ENGINEERING = "200000000007"  # the demo seed's Engineering: the compose policy's assistant writes there
SLOW_S = 1.5


class SlowFolderCreation(FaultRule):
    """Box takes SLOW_S to create a folder; `reached` is set when the request arrives."""

    def __init__(self) -> None:
        super().__init__(pattern=r"^/2\.0/folders$", methods=("POST",), latency_ms=SLOW_S * 1000)
        self.reached = threading.Event()

    def matches(self, method: str, path: str) -> bool:
        hit = super().matches(method, path)
        if hit:
            self.reached.set()
        return hit


def _replica_env(box: Any, data: Path, database: str, port: int) -> dict[str, str]:
    credentials = data / "emulator-credentials.json"
    credentials.write_text(json.dumps(box.credentials))
    env = server_env(box, data)
    env.pop("BOX_DEVELOPER_TOKEN")  # as in compose: the emulator's Client Credentials app
    return env | {
        "BOX_MCP_BOX_URL": box.base_url,
        "BOX_MCP_HOST": "127.0.0.1",
        "BOX_MCP_PORT": str(port),
        "BOX_MCP_DATABASE_URL": database,
        "BOX_MCP_VAULT_KEY": new_key_text(),
        "BOX_MCP_REPLICA_URL": f"http://127.0.0.1:{port}",
        "EMULATOR_CREDENTIALS": str(credentials),
        "POLICY_SOURCE": str(ROOT / "policies" / "compose"),
        "POLICY_COPY": str(data / "policy"),
        "AGENT_KEYS": f"assistant={key_digest(KEY)}",
    }


def _audit(env: dict[str, str], *argv: str) -> Any:
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "box_mcp.cli", "audit", *argv, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


async def test_sigterm_lets_the_call_in_flight_finish_writes_its_audit_and_exits_zero(tmp_path: Path) -> None:
    slow = SlowFolderCreation()
    with running_emulator(seed="demo", rate_limits=False) as box, fresh_database("shutdown") as database:
        box.emulator.faults.append(slow)
        data = tmp_path / "replica"
        data.mkdir()
        port = free_port()
        env = _replica_env(box, data, database, port)
        argv = [sys.executable, str(ROOT / "deploy" / "start-replica.py")]
        with (data / "stderr").open("wb") as err:
            proc = await anyio.open_process(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx2.AsyncClient(timeout=30) as http:
                for _ in range(800):  # bounded: 800 x 25 ms
                    assert proc.returncode is None, (data / "stderr").read_text()[-3000:]
                    try:
                        if (await http.get(base + "/healthz")).status_code == 200:
                            break
                    except httpx2.TransportError:
                        pass
                    await anyio.sleep(0.025)
                else:
                    raise AssertionError("the replica did not serve within 20 s")
                session = await open_http_session(http, base + "/mcp", {"Authorization": f"Bearer {KEY}"})
                answer: dict[str, Any] = {}

                async def call() -> None:
                    arguments = {"name": "Drained", "parent_folder_id": ENGINEERING}
                    message = tool_call(7, "create_folder", arguments)
                    answer.update(await http_rpc(http, base + "/mcp", session, message))

                with anyio.fail_after(30):
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(call)
                        await anyio.to_thread.run_sync(slow.reached.wait, 10)
                        assert slow.reached.is_set(), "the call never reached Box"
                        proc.send_signal(signal.SIGTERM)  # while Box is still working on it
                        signalled = time.monotonic()
                    code = await proc.wait()
                    drained_in = time.monotonic() - signalled
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proc.aclose()

        stderr = (data / "stderr").read_text()
        assert code == 0, stderr[-3000:]
        assert "result" in answer, (answer, stderr[-3000:])
        result = answer["result"]
        assert not result.get("isError"), result
        created = result["structuredContent"]
        assert created["name"] == "Drained"
        # The audit, as an auditor reads it after the replica is gone (another data dir, same database).
        auditor = env | {"BOX_MCP_DATA_DIR": str(tmp_path / "auditor")}
        records = _audit(auditor, "query", "--tool", "create_folder")
        assert records, "no audit record of the drained call"
        kinds = [r["kind"] for r in records]
        assert "intent" in kinds and "outcome" in kinds, kinds
        outcome = next(r for r in records if r["kind"] == "outcome")
        assert outcome["agent"] == "assistant"
        assert json.dumps(outcome).count(created["id"]) >= 1, outcome
        (report,) = _audit(auditor, "verify")
        assert report["status"] == "ok", report
        # Drained, not timed out: the server left once the call was done (the grace period is 25 s).
        assert drained_in < 10, drained_in
