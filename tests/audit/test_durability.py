"""Crash test: a writer process is killed with SIGKILL at random moments; every append it acknowledged
is in the log, the chain verifies up to the crash, and the next process continues the chain."""

from __future__ import annotations

import json
import os
import random
import signal
import sys
from pathlib import Path

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from box_mcp.audit import verify

CHILD = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]
RUNS = 5
WRITERS = 16


async def start(directory: Path, count: int) -> tuple[Process, BufferedByteReceiveStream, list[str]]:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    proc = await anyio.open_process([sys.executable, str(CHILD), str(directory), str(WRITERS), str(count)],
                                    env=env)
    assert proc.stdout is not None
    lines = BufferedByteReceiveStream(proc.stdout)
    ready = (await lines.receive_until(b"\n", 4096)).decode().split()
    assert ready[0] == "ready", ready
    return proc, lines, ready


async def read_rest(lines: BufferedByteReceiveStream, into: list[list[str]]) -> None:
    # After the kill: whatever the child wrote before it died is still in the pipe.
    try:
        while True:
            into.append((await lines.receive_until(b"\n", 4096)).decode().split())
    except (anyio.EndOfStream, anyio.IncompleteRead):
        return


def logged(directory: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(directory.glob("audit-*.jsonl")):
        for line in path.read_bytes().splitlines():
            data = json.loads(line)
            out[data["id"]] = data
    return out


@pytest.mark.anyio
async def test_acknowledged_records_survive_sigkill_and_the_chain_continues(audit_dir: Path) -> None:
    seed = random.randrange(2**32)  # noqa: S311 - picks crash moments, not secrets
    rng = random.Random(seed)  # noqa: S311
    last_seq, last_hash = "0", "0" * 64
    total_acks = 0
    with anyio.fail_after(60):
        for run in range(RUNS):
            where = f"seed {seed}, run {run}"
            proc, lines, ready = await start(audit_dir, count=1_000_000)
            assert ready[1:] == [last_seq, last_hash], f"{where}: the restart did not continue the chain"
            acks: list[list[str]] = []
            stop_after = rng.randrange(0, 400)
            while len(acks) < stop_after:
                acks.append((await lines.receive_until(b"\n", 4096)).decode().split())
            proc.send_signal(signal.SIGKILL)
            await read_rest(lines, acks)
            await proc.wait()
            await proc.aclose()
            assert proc.returncode == -signal.SIGKILL, where

            report = verify(audit_dir)
            assert report.ok, f"{where}: {report.first_bad}"
            assert report.torn_tail is None, f"{where}: {report.torn_tail}"
            records = logged(audit_dir)
            acked = [a for a in acks if a and a[0] == "ack"]
            total_acks += len(acked)
            for _, kind, rec_id, seq, *intent in acked:
                assert rec_id in records, f"{where}: acknowledged {kind} {rec_id} is not in the log"
                assert records[rec_id]["kind"] == kind
                if seq != "-1":
                    assert records[rec_id]["seq"] == int(seq)
                if intent:
                    assert records[rec_id]["intent_id"] == intent[0]
            incomplete = {i["id"] for i in report.incomplete_intents}
            completed = {a[4] for a in acked if a[1] == "outcome"}
            assert not incomplete & completed, where
            last_seq, last_hash = str(report.last_seq), report.last_hash

        proc, lines, ready = await start(audit_dir, count=40)
        assert ready[1:] == [last_seq, last_hash]
        rest: list[list[str]] = []
        await read_rest(lines, rest)
        await proc.wait()
        await proc.aclose()
    assert rest[-1] == ["done"] and proc.returncode == 0
    final = verify(audit_dir)
    assert final.ok and final.last_seq >= int(last_seq) + 40 and final.torn_tail is None
    assert total_acks > 0, f"seed {seed}: no run acknowledged anything; the test proved nothing"
