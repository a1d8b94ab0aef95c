"""The NUL padding an open writer keeps at the end of its file: readers stop at it, crashes that leave it
are recovered, and a clean close or a new day leaves plain JSONL."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from box_mcp.audit import AuditLog, query, verify
from box_mcp.audit.index import catch_up, connect
from box_mcp.audit.store import iter_lines

MIDNIGHT_NS = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp()) * 1_000_000_000
FRAGMENT = b'{"agent":"a","args":{"fi'


def log_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("audit-*.jsonl"))


def the_file(directory: Path) -> Path:
    [path] = log_files(directory)
    return path


def data_end(path: Path) -> int:
    """Where the records end: the first NUL (the padding starts there)."""
    raw = path.read_bytes()
    return raw.index(b"\0") if b"\0" in raw else len(raw)


def seqs(path: Path) -> list[int]:
    return [json.loads(line)["seq"] for _, _, line in iter_lines(path) if line.endswith(b"\n")]


async def three_records_then_crash_state(directory: Path, tail: bytes) -> Path:
    """A log of 3 records whose file then looks like a writer died with `tail` at the data end."""
    async with await AuditLog.open(directory) as log:
        for _ in range(3):
            await log.append("call", tool="who_am_i")
    path = the_file(directory)
    with path.open("ab") as fh:
        fh.write(tail)
    return path


@pytest.mark.anyio
async def test_an_open_writer_pads_its_file_and_a_clean_close_cuts_the_padding(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir) as log:
        for _ in range(3):
            await log.append("call", tool="who_am_i")
        path = the_file(audit_dir)
        raw = path.read_bytes()
        end = data_end(path)
        assert end < len(raw) and raw[end:].count(0) == len(raw) - end  # zero-filled ahead
        assert verify(audit_dir).status == "ok"
    raw = path.read_bytes()
    assert b"\0" not in raw and raw.endswith(b"\n") and len(raw) == end
    assert [json.loads(line)["seq"] for line in raw.splitlines()] == [1, 2, 3]


@pytest.mark.anyio
async def test_a_new_days_file_leaves_the_previous_one_without_padding(audit_dir: Path) -> None:
    times = iter([MIDNIGHT_NS - 1_000, MIDNIGHT_NS + 1_000, MIDNIGHT_NS + 2_000])
    async with await AuditLog.open(audit_dir, clock=lambda: next(times)) as log:
        await log.append("call", tool="who_am_i")
        await log.append("call", tool="who_am_i")
        old, new = log_files(audit_dir)
        assert b"\0" not in old.read_bytes() and old.read_bytes().endswith(b"\n")
        assert b"\0" in new.read_bytes()  # the open day keeps its padding
        await log.append("call", tool="who_am_i")
    assert verify(audit_dir).status == "ok" and b"\0" not in new.read_bytes()


@pytest.mark.anyio
async def test_padding_left_by_a_crash_verifies_and_the_restart_continues_without_a_recovery_record(
    audit_dir: Path,
) -> None:
    path = await three_records_then_crash_state(audit_dir, bytes(8192))
    assert verify(audit_dir).status == "ok"
    async with await AuditLog.open(audit_dir) as log:
        assert log.last_seq == 3
        rec = await log.append("call", tool="who_am_i")
    assert rec.seq == 4 and seqs(path) == [1, 2, 3, 4]
    assert [r["kind"] for r in query(audit_dir)] == ["call"] * 4
    assert verify(audit_dir).status == "ok" and b"\0" not in path.read_bytes()


@pytest.mark.anyio
async def test_a_torn_line_before_the_padding_is_incomplete_then_cut_and_recorded(audit_dir: Path) -> None:
    path = await three_records_then_crash_state(audit_dir, FRAGMENT + bytes(8192))
    before = verify(audit_dir)
    assert before.ok and before.status == "incomplete" and before.torn_tail is not None
    assert before.torn_tail.line == 4 and f"({len(FRAGMENT)} bytes)" in before.torn_tail.why

    async with await AuditLog.open(audit_dir) as log:
        assert log.last_seq == 4  # the log_recovery record is written on open
    recovery = json.loads(path.read_bytes().splitlines()[3])
    torn = recovery["detail"]["torn_line_removed"]
    assert recovery["kind"] == "log_recovery" and torn["bytes"] == len(FRAGMENT)
    assert FRAGMENT not in path.read_bytes() and b"\0" not in path.read_bytes()
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_a_write_with_a_lost_page_is_cut_whole_and_its_bytes_recorded(audit_dir: Path) -> None:
    # A power loss can persist a later page of a write and not an earlier one: NULs inside the tail.
    tail = b'{"agent":"a"' + bytes(100) + b'"x":1}\n{"agent":"b"}\n'
    path = await three_records_then_crash_state(audit_dir, tail + bytes(4096))
    assert verify(audit_dir).status == "tampered"  # a NUL inside a line reads as an edit until recovery
    async with await AuditLog.open(audit_dir) as log:
        await log.append("call", tool="who_am_i")
    recovery = json.loads(path.read_bytes().splitlines()[3])
    assert recovery["detail"]["torn_line_removed"]["bytes"] == len(tail)
    assert verify(audit_dir).status == "ok" and seqs(path) == [1, 2, 3, 4, 5]


@pytest.mark.anyio
async def test_bytes_a_killed_writer_left_in_the_padding_are_cut_by_the_next_batch(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir) as log:
        before = await log.append("call", tool="who_am_i")
        path = the_file(audit_dir)
        fd = os.open(path, os.O_WRONLY)
        try:  # where another process's write lands: at the data end, over the padding
            os.pwrite(fd, FRAGMENT, data_end(path))
        finally:
            os.close(fd)
        after = await log.append("call", tool="who_am_i")
    records = [json.loads(line) for line in path.read_bytes().splitlines()]
    assert records[1]["kind"] == "log_recovery" and records[1]["prev_hash"] == before.hash
    assert records[1]["detail"]["torn_line_removed"]["bytes"] == len(FRAGMENT)
    assert records[2]["id"] == after.id and verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_a_reader_of_a_padded_file_sees_only_whole_records(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir, index=False) as log:
        for _ in range(3):
            await log.append("call", tool="who_am_i")
        path = the_file(audit_dir)
        end = data_end(path)
        fd = os.open(path, os.O_WRONLY)
        conn = connect(audit_dir)
        try:
            # A write half done as a racing reader can see it: a prefix landed...
            os.pwrite(fd, FRAGMENT, end)
            assert seqs(path) == [1, 2, 3] and catch_up(conn, audit_dir) == 3
            # ...or the second page landed before the first: NULs, then the rest of a line.
            os.pwrite(fd, bytes(len(FRAGMENT)) + b'"x":1}\n', end)
            assert seqs(path) == [1, 2, 3] and catch_up(conn, audit_dir) == 0
            report = verify(audit_dir)
            assert report.ok and report.count == 3 and report.torn_tail is not None
            os.pwrite(fd, bytes(64), end)  # the writer's own batch will land here
            await log.append("call", tool="who_am_i")
            assert seqs(path) == [1, 2, 3, 4] and catch_up(conn, audit_dir) == 1
        finally:
            conn.close()
            os.close(fd)
    assert [r["seq"] for r in query(audit_dir)] == [1, 2, 3, 4]


@pytest.mark.anyio
async def test_a_writer_whose_padding_another_writer_cut_on_close_pads_again(audit_dir: Path) -> None:
    second = await AuditLog.open(audit_dir)
    try:
        async with await AuditLog.open(audit_dir) as first:
            await first.append("call", agent="first")
            await second.append("call", agent="second")
            await first.append("call", agent="first")
        path = the_file(audit_dir)
        assert b"\0" not in path.read_bytes()  # first's close cut the padding second relied on
        for _ in range(3):
            await second.append("call", agent="second")
        assert b"\0" in path.read_bytes()
    finally:
        await second.aclose()
    report = verify(audit_dir)
    assert report.status == "ok" and report.count == 6 and b"\0" not in path.read_bytes()
