"""Crash test: a writer process is killed with SIGKILL at random moments; every append it acknowledged
is in the log, the chain verifies up to the crash, and the next process continues the chain.

SIGKILL can cut a multi-page batch write short, leaving a torn last line (never acknowledged: acks
follow the sync). The next process then cuts it off and starts with a `log_recovery` record.
"""

from __future__ import annotations

import itertools
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
from box_mcp.audit.store import iter_lines

CHILD = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]
RUNS = 5
WRITERS = 16


Child = tuple[Process, BufferedByteReceiveStream, list[str]]


async def start(directory: Path, count: int, pad: int = 0, *extra: str) -> Child:
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    argv = [sys.executable, str(CHILD), str(directory), str(WRITERS), str(count), str(pad), *extra]
    proc = await anyio.open_process(argv, env=env)
    assert proc.stdout is not None
    lines = BufferedByteReceiveStream(proc.stdout)
    try:
        ready = (await lines.receive_until(b"\n", 4096)).decode().split()
    except (anyio.EndOfStream, anyio.IncompleteRead):
        assert proc.stderr is not None
        raise AssertionError((await proc.stderr.receive(65536)).decode()) from None
    assert ready[0] == "ready", ready
    return proc, lines, ready


async def read_rest(lines: BufferedByteReceiveStream, into: list[list[str]]) -> None:
    # After the kill: whatever the child wrote before it died is still in the pipe.
    try:
        while True:
            into.append((await lines.receive_until(b"\n", 4096)).decode().split())
    except (anyio.EndOfStream, anyio.IncompleteRead):
        return


def continued(directory: Path, ready: list[str], last_seq: str, last_hash: str, where: str) -> None:
    """The new process continues from the last record the crashed one left, or from the
    log_recovery record it wrote first after cutting a torn line."""
    if ready[1:] == [last_seq, last_hash]:
        return
    by_seq = {r["seq"]: r for r in logged(directory).values()}
    first = by_seq.get(int(last_seq) + 1)
    assert first is not None and first["kind"] == "log_recovery", f"{where}: the chain did not continue"
    assert first["prev_hash"] == last_hash and ready[1:] == [str(first["seq"]), first["hash"]], where


def logged(directory: Path) -> dict[str, dict]:
    out = {}
    for path in sorted(directory.glob("audit-*.jsonl")):
        for _, _, line in iter_lines(path):  # up to the padding a killed writer leaves
            if line.endswith(b"\n"):  # not a torn last line
                data = json.loads(line)
                out[data["id"]] = data
    return out


@pytest.mark.anyio
@pytest.mark.slow
async def test_acknowledged_records_survive_sigkill_and_the_chain_continues(audit_dir: Path) -> None:
    seed = random.randrange(2**32)  # noqa: S311 - picks crash moments, not secrets
    rng = random.Random(seed)  # noqa: S311
    last_seq, last_hash = "0", "0" * 64
    total_acks = torn = 0
    with anyio.fail_after(60):
        for run in range(RUNS):
            where = f"seed {seed}, run {run}"
            proc, lines, ready = await start(audit_dir, count=1_000_000, pad=rng.choice([0, 80]))
            continued(audit_dir, ready, last_seq, last_hash, where)
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
            torn += report.torn_tail is not None
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
        continued(audit_dir, ready, last_seq, last_hash, f"seed {seed}, last run")
        rest: list[list[str]] = []
        await read_rest(lines, rest)
        await proc.wait()
        await proc.aclose()
    assert rest[-1] == ["done"] and proc.returncode == 0
    final = verify(audit_dir)
    assert final.ok and final.last_seq >= int(last_seq) + 40 and final.torn_tail is None
    assert total_acks > 0, f"seed {seed}: no run acknowledged anything; the test proved nothing"
    assert len([r for r in logged(audit_dir).values() if r["kind"] == "log_recovery"]) == torn


@pytest.mark.anyio
async def test_two_writer_processes_share_one_chain(audit_dir: Path) -> None:
    outputs: list[list[list[str]]] = [[], []]
    with anyio.fail_after(60):
        children = [await start(audit_dir, 150, 0, "go") for _ in range(2)]
        for proc, _, _ in children:  # both are ready: let them write at the same time
            assert proc.stdin is not None
            await proc.stdin.send(b"go\n")
        for (proc, lines, _), out in zip(children, outputs, strict=True):
            await read_rest(lines, out)
            await proc.wait()
            await proc.aclose()
            assert proc.returncode == 0
    report = verify(audit_dir)
    records = logged(audit_dir)
    acked = {a[2] for out in outputs for a in out if a and a[0] == "ack"}
    assert report.status == "ok" and report.count == len(records)
    assert acked <= set(records) and len(acked) >= 300
    # The two processes really took turns in the one chain.
    writers = [r["session_id"] for r in sorted(records.values(), key=lambda r: r["seq"]) if "session_id" in r]
    switches = sum(a != b for a, b in itertools.pairwise(writers))
    assert len(set(writers)) == 2 and switches >= 2
