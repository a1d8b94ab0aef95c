"""Faults a team's deployment meets, with real processes on PostgreSQL: a replica SIGKILLed while eight
clients write, and PostgreSQL itself restarting mid-run. What must hold: every call a client saw succeed
has its audit records, no write reached Box twice, the survivors carry on, and the one chain verifies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from box_mcp.emulator.faults import FaultRule
from box_mcp.emulator.testing import EmulatorHost
from box_mcp.state.audit import PostgresAuditReader
from tests.e2e.replicas import Replica, headers, replicas, writer_policy
from tests.state.pg import fresh_database, private_server

pytestmark = pytest.mark.anyio

CLIENTS = 8
CALLS = 12  # per client: bounded


async def _writer(url: str, prefix: str, acknowledged: list[str], failed: list[str]) -> None:
    """Create folders one after another until CALLS are done or the replica goes away."""
    try:
        async with httpx2.AsyncClient(headers=headers(), timeout=30) as http:
            async with Client(streamable_http_client(url, http_client=http)) as client:
                for n in range(CALLS):
                    name = f"{prefix}-{n}"
                    result = await client.call_tool("create_folder", {"name": name, "parent_folder_id": "0"})
                    if result.is_error:
                        failed.append(f"{name}: {result.content[0].text}")
                        continue
                    acknowledged.append(name)
    except Exception as exc:  # the replica died under this client: what it did not acknowledge is not counted
        failed.append(f"{prefix}: {type(exc).__name__}")


def _records(database: str) -> tuple[list[dict[str, Any]], Any]:
    with PostgresAuditReader.open(SecretStr(database)) as reader:
        return list(reader.query()), reader.verify()


def _names_in_box(emulator: Any) -> list[str]:
    """Every folder name in the root, each as often as it occurs (a doubled write shows twice)."""
    response = httpx2.get(
        f"{emulator.base_url}/2.0/folders/0/items",
        params={"limit": 1000},
        headers={"Authorization": f"Bearer {emulator.token('ada')}"},
    )
    response.raise_for_status()
    return [entry["name"] for entry in response.json()["entries"]]


def _check_every_acknowledged_call_is_recorded_once(
    records: list[dict[str, Any]], acknowledged: list[str], emulator: Any
) -> None:
    done = [
        r["args"]["name"]
        for r in records
        if r.get("tool") == "create_folder"
        and r["kind"] in ("call", "outcome")
        and (r.get("outcome") or {}).get("status") == "ok"
    ]
    assert sorted(set(acknowledged) - set(done)) == [], "acknowledged calls without their audit record"
    assert len(done) == len(set(done)), "a call recorded twice"
    in_box = _names_in_box(emulator)
    assert len(in_box) == len(set(in_box)), "a write reached Box twice"
    assert set(acknowledged) <= set(in_box)


async def test_a_replica_killed_mid_write_loses_no_acknowledged_call(
    emulators: EmulatorHost, tmp_path: Path
) -> None:
    # Every Box request takes 30 ms, so calls are in flight when the kill comes.
    emulator = emulators.fresh(seed="demo", rate_limits=False, faults=[FaultRule(latency_ms=30)])
    policy = writer_policy(tmp_path / "policy.yaml", emulator)
    acknowledged: dict[str, list[str]] = {"a": [], "b": []}
    failed: list[str] = []
    with fresh_database("faults") as database:
        async with replicas(emulator, tmp_path, database, policy) as group:
            async with anyio.create_task_group() as tg:
                for i in range(CLIENTS):
                    target = group[i % 2]
                    tg.start_soon(
                        _writer, target.url, f"c{i}{target.name}", acknowledged[target.name], failed
                    )
                for _ in range(400):  # until replica a has acknowledged a few calls (bounded: 10 s)
                    if len(acknowledged["a"]) >= 6:
                        break
                    await anyio.sleep(0.025)
                await group[0].kill()
            # b's four clients carried on to the end; a's stopped when it died
            assert len(acknowledged["b"]) == 4 * CALLS, failed
            assert len(acknowledged["a"]) < 4 * CALLS
            await group[0].start()  # restarted on the same database: it continues the one chain
            survivor: list[str] = []
            await _writer(group[0].url, "after-restart", survivor, failed)
            assert len(survivor) == CALLS, failed
        records, report = _records(database)
    _check_every_acknowledged_call_is_recorded_once(
        records, acknowledged["a"] + acknowledged["b"] + survivor, emulator
    )
    assert report.ok, report.first_bad  # intact; intents of the calls cut off by the kill may be open
    open_intents = {i["seq"] for i in report.incomplete_intents}
    acked = set(acknowledged["a"] + acknowledged["b"] + survivor)
    for record in records:
        if record["seq"] in open_intents:
            assert record["args"]["name"] not in acked
    starts = [r for r in records if r["kind"] == "policy_load"]
    assert len(starts) == 3  # a, b, and a again: every replica's start is in the one chain


async def test_postgresql_restarting_mid_run_acknowledges_nothing_unrecorded(
    emulators: EmulatorHost, tmp_path: Path
) -> None:
    emulator = emulators.fresh(seed="demo", rate_limits=False, faults=[FaultRule(latency_ms=10)])
    policy = writer_policy(tmp_path / "policy.yaml", emulator)
    with private_server() as pg:
        database = pg.url
        acknowledged: list[str] = []
        failed: list[str] = []
        before_stop: list[int] = []
        async with replicas(emulator, tmp_path, database, policy) as group:

            async def restart_postgresql() -> None:
                for _ in range(400):  # until some calls are done (bounded: 10 s)
                    if len(acknowledged) >= 8:
                        break
                    await anyio.sleep(0.025)
                before_stop.append(len(acknowledged))
                await anyio.to_thread.run_sync(pg.stop, "fast")
                await anyio.sleep(1.0)  # calls meet a database that is not there
                await anyio.to_thread.run_sync(pg.start)

            async with anyio.create_task_group() as tg:
                tg.start_soon(restart_postgresql)
                for i in range(4):
                    target: Replica = group[i % 2]
                    tg.start_soon(_writer, target.url, f"p{i}", acknowledged, failed)
            assert 8 <= before_stop[0] < 4 * CALLS  # the restart came in the middle of the run
            # after the restart both replicas serve again, on fresh connections
            after: list[str] = []
            for member in group.members:
                await _writer(member.url, f"after-{member.name}", after, failed)
            assert len(after) == 2 * CALLS, failed
        records, report = _records(database)
    for message in failed:  # a call that failed says why, in words, and never acknowledged its write
        assert "audit log could not record" in message or "PostgreSQL" in message or "Error" in message, (
            message
        )
    _check_every_acknowledged_call_is_recorded_once(records, acknowledged + after, emulator)
    assert report.ok, report.first_bad
    print(json.dumps({"acknowledged": len(acknowledged), "failed": len(failed), "records": len(records)}))
