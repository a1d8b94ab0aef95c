"""Logs written before the typed AuditEvent still verify, query and tail, and a new writer extends them.

tests/audit/data/{plain,sealed} were written by main's audit code at commit 959c433 (GateAudit with
its `acting_as` parameter, `bytes_in`/`bytes_out`, the entropy-pool ids), sealed with KEY below; the
`.txt` files are what `box-mcp audit query` and `tail` printed for `plain` then.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import anyio
import pytest

from box_mcp.audit import AuditLog, query, verify
from box_mcp.audit.cli import register
from box_mcp.audit.index import rebuild
from box_mcp.audit.record import AuditRecord
from box_mcp.identity import ActingAs

DATA = Path(__file__).parent / "data"
KEY = bytes(range(32))  # the test key the fixture was sealed with; a real key is 32 random bytes


def copy(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(DATA / name, target)
    return target


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="box-mcp")
    register(parser.add_subparsers())
    args = parser.parse_args(["audit", *argv])
    return int(args.func(args))


def test_the_fixture_holds_the_old_shapes() -> None:
    lines = (DATA / "plain" / "audit-2026-11-30.jsonl").read_bytes().splitlines(keepends=True)
    records = [AuditRecord.from_line(line) for line in lines]
    assert [r.line for r in records] == lines and [r.seq for r in records] == list(range(1, 12))
    assert {"bytes_in", "bytes_out"} <= set(records[7].data)
    assert records[7].data["acting_as"] == {"id": "9", "type": "user"}
    assert records[6].data["acting_as"] == "service_account"


@pytest.mark.parametrize("name", ["plain", "sealed"])
def test_an_old_log_verifies_from_genesis(name: str, tmp_path: Path) -> None:
    directory = copy(name, tmp_path)
    report = verify(directory, key=KEY if name == "sealed" else None)
    assert (report.status, report.count, report.first_bad, report.incomplete_intents) == ("ok", 11, None, [])


def test_the_sealed_old_log_fails_with_another_key(tmp_path: Path) -> None:
    report = verify(copy("sealed", tmp_path), key=bytes(32))
    assert report.status == "tampered" and report.first_bad is not None and report.first_bad.seq == 1


@pytest.mark.parametrize("command", ["query", "tail"])
def test_query_and_tail_print_an_old_log_as_they_did(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = copy("plain", tmp_path)
    argv = [command, "--dir", str(directory)] + (["-n", "20"] if command == "tail" else [])
    assert run(*argv) == 0
    assert capsys.readouterr().out == (DATA / f"plain.{command}.txt").read_text()


def test_the_index_rebuilds_from_an_old_log(tmp_path: Path) -> None:
    directory = copy("plain", tmp_path)
    assert rebuild(directory) == 11
    assert [r["seq"] for r in query(directory, agent="claude", denied=True)] == [5]
    assert [r["seq"] for r in query(directory, item="77")] == [4]


async def _extend(directory: Path) -> None:
    async with await AuditLog.open(directory, key=KEY) as log:
        await log.append(
            "call",
            agent="claude",
            tool="who_am_i",
            acting_as=ActingAs(kind="developer_token"),
            outcome="ok",
            latency_ms=1.0,
        )


def test_a_new_writer_continues_an_old_chain_and_verify_accepts_both(tmp_path: Path) -> None:
    directory = copy("sealed", tmp_path)
    anyio.run(_extend, directory)
    report = verify(directory, key=KEY)
    assert (report.status, report.count) == ("ok", 12)
    newest = sorted(directory.glob("audit-*.jsonl"))[-1]  # today's file, after the old day's
    last = json.loads(newest.read_bytes().rstrip(b"\0").splitlines()[-1])
    assert last["seq"] == 12 and last["acting_as"] == {"kind": "developer_token"}
