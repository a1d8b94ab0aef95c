"""The writer: durable appends, group commit, restart and rotation, recovery from a crash, failures."""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest

import box_mcp.audit.log as audit_log_module
from box_mcp.audit import AuditLog, verify
from box_mcp.audit.store import iter_lines
from box_mcp.errors import AuditError

MIDNIGHT_NS = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp()) * 1_000_000_000


def log_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("audit-*.jsonl"))


def modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [directory, *directory.iterdir()]}


def records(directory: Path) -> list[dict]:
    out = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out.extend(json.loads(line) for _, _, line in iter_lines(path))  # stops at the padding
    return out


def watch_durable_writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the record writes; each must go through a descriptor that syncs every write (O_DSYNC)."""
    synced: list[int] = []
    real = audit_log_module._durable_write

    def durable_write(fd: int, data: bytes, offset: int) -> None:
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DSYNC == os.O_DSYNC
        real(fd, data, offset)
        synced.append(fd)

    monkeypatch.setattr(audit_log_module, "_durable_write", durable_write)
    return synced


@pytest.mark.anyio
async def test_append_returns_only_after_the_record_is_synced(
    audit_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = watch_durable_writes(monkeypatch)
    async with await AuditLog.open(audit_dir) as log:
        for n in range(3):
            rec = await log.append("call", tool="who_am_i")
            assert len(synced) == n + 1
            assert records(audit_dir)[-1]["id"] == rec.id


@pytest.mark.anyio
async def test_concurrent_appends_share_one_sync(audit_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced = watch_durable_writes(monkeypatch)
    async with await AuditLog.open(audit_dir) as log:
        async with anyio.create_task_group() as tg:
            for n in range(50):
                tg.start_soon(lambda n=n: log.append("call", agent=f"agent-{n}"))
    assert len(records(audit_dir)) == 50
    assert len(synced) <= 2
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_an_append_made_just_before_close_is_written_before_the_files_close(audit_dir: Path) -> None:
    # On fast storage a batch is written by a loop callback; aclose must not close the files under it.
    log = await AuditLog.open(audit_dir)
    pending = asyncio.ensure_future(log.append("call", tool="who_am_i"))
    await asyncio.sleep(0)  # the append has queued its record and scheduled the write
    await log.aclose()
    record = await pending
    assert [r["id"] for r in records(audit_dir)][-1] == record.id
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_group_commit_also_works_through_the_writer_thread(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir, inline_sync_ms=0) as log:
        async with anyio.create_task_group() as tg:
            for n in range(200):
                tg.start_soon(lambda n=n: log.intent(agent=f"agent-{n % 7}", tool="upload_file"))
    report = verify(audit_dir)
    assert report.ok and report.count == 200 and len(report.incomplete_intents) == 200


@pytest.mark.anyio
async def test_restart_continues_the_chain(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir) as log:
        first = await log.append("session_start", agent="a")
    async with await AuditLog.open(audit_dir) as log:
        assert log.last_seq == 1 and log.last_hash == first.hash
        second = await log.append("session_end", agent="a")
    assert second.seq == 2 and second.prev_hash == first.hash
    assert verify(audit_dir).count == 2


@pytest.mark.anyio
async def test_files_rotate_daily_and_the_chain_runs_across_them(audit_dir: Path) -> None:
    times = iter([MIDNIGHT_NS - 1_000, MIDNIGHT_NS - 500, MIDNIGHT_NS + 1_000, MIDNIGHT_NS + 2_000])
    async with await AuditLog.open(audit_dir, clock=lambda: next(times)) as log:
        for _ in range(3):
            await log.append("call", tool="who_am_i")
    async with await AuditLog.open(audit_dir, clock=lambda: next(times)) as log:
        await log.append("call", tool="who_am_i")
    assert [p.name for p in log_files(audit_dir)] == ["audit-2026-11-21.jsonl", "audit-2026-11-22.jsonl"]
    assert [r["seq"] for r in records(audit_dir)] == [1, 2, 3, 4]
    report = verify(audit_dir)
    assert report.status == "ok" and report.count == 4 and report.files == 2


@pytest.mark.anyio
async def test_log_files_are_private_to_the_user(audit_log: AuditLog, audit_dir: Path) -> None:
    await audit_log.append("call", tool="who_am_i")
    await audit_log.aclose()
    found = modes(audit_dir)
    assert found.pop("audit") == 0o700
    assert {"audit.head", "audit.sqlite3", "audit.lock"} <= set(found)
    assert all(mode == 0o600 for mode in found.values()), found


@pytest.mark.anyio
async def test_two_writers_on_one_directory_share_one_chain(audit_dir: Path) -> None:
    async with (
        await AuditLog.open(audit_dir) as first,
        await AuditLog.open(audit_dir, inline_sync_ms=0) as second,
    ):
        async with anyio.create_task_group() as tg:
            for n in range(60):
                tg.start_soon(lambda n=n: (first if n % 2 else second).append("call", agent=f"agent-{n}"))
    data = records(audit_dir)
    assert [r["seq"] for r in data] == list(range(1, 61))
    assert {r["agent"] for r in data} == {f"agent-{n}" for n in range(60)}
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_a_failed_write_stops_every_later_append(
    audit_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with await AuditLog.open(audit_dir) as log:
        await log.append("call", tool="who_am_i")

        def disk_full(fd: int, data: bytes, offset: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(audit_log_module, "_durable_write", disk_full)
        with pytest.raises(AuditError, match=r"cannot write .*No space left on device.*refused"):
            await log.append("call", tool="who_am_i")
        monkeypatch.undo()
        with pytest.raises(AuditError, match="No space left"):
            await log.intent(tool="upload_file")
    assert len(records(audit_dir)) == 1


@pytest.mark.anyio
async def test_a_torn_last_line_is_cut_and_recorded_on_restart(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir) as log:
        for _ in range(3):
            last = await log.append("call", tool="who_am_i")
    [path] = log_files(audit_dir)
    fragment = b'{"agent":"a","args":{"fi'
    with path.open("ab") as fh:
        fh.write(fragment)
    before = verify(audit_dir)
    assert before.ok and before.status == "incomplete" and before.exit_code == 2
    assert before.torn_tail is not None and before.torn_tail.line == 4

    async with await AuditLog.open(audit_dir) as log:
        await log.append("call", tool="who_am_i")
    data = records(audit_dir)
    recovery = data[3]
    assert recovery["kind"] == "log_recovery" and recovery["prev_hash"] == last.hash
    assert recovery["detail"]["torn_line_removed"]["bytes"] == len(fragment)
    assert fragment not in path.read_bytes()
    after = verify(audit_dir)
    assert after.status == "ok" and after.count == 5


@pytest.mark.anyio
async def test_a_damaged_last_record_stops_the_writer_from_starting(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir) as log:
        await log.append("call", tool="who_am_i")
    [path] = log_files(audit_dir)
    path.write_bytes(path.read_bytes().replace(b"who_am_i", b"who_am_I"))
    with pytest.raises(AuditError, match=r"last audit record .* is damaged"):
        await AuditLog.open(audit_dir)


@pytest.mark.anyio
async def test_a_cut_tail_stops_the_writer_from_reusing_sequence_numbers(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir) as log:
        for _ in range(3):
            await log.append("call", tool="who_am_i")
    [path] = log_files(audit_dir)
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:2]))
    with pytest.raises(AuditError, match="ends at record 2 but record 3 was written"):
        await AuditLog.open(audit_dir)


@pytest.mark.anyio
async def test_close_waits_for_pending_records_and_later_appends_fail(audit_dir: Path) -> None:
    log = await AuditLog.open(audit_dir, inline_sync_ms=0)
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(lambda: log.append("call", tool="who_am_i"))
        tg.start_soon(log.aclose)
    assert len(records(audit_dir)) == 20
    with pytest.raises(AuditError, match="closed"):
        await log.append("call", tool="who_am_i")
    assert "audit.head" in modes(audit_dir)


@pytest.mark.anyio
async def test_a_clock_stepped_back_across_midnight_does_not_reorder_the_files(audit_dir: Path) -> None:
    times = iter([MIDNIGHT_NS + 5_000, MIDNIGHT_NS - 5_000, MIDNIGHT_NS - 4_000])
    async with await AuditLog.open(audit_dir, clock=lambda: next(times)) as log:
        await log.append("call", tool="who_am_i")
        await log.append("call", tool="who_am_i")
    async with await AuditLog.open(audit_dir, clock=lambda: next(times)) as log:
        await log.append("call", tool="who_am_i")
    assert [p.name for p in log_files(audit_dir)] == ["audit-2026-11-22.jsonl"]
    stamps = [r["time"] for r in records(audit_dir)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 1
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_a_new_days_file_holding_only_a_torn_line_is_emptied_on_restart(audit_dir: Path) -> None:
    times = iter([MIDNIGHT_NS - 1_000, MIDNIGHT_NS + 1_000])
    async with await AuditLog.open(audit_dir, clock=lambda: next(times)) as log:
        first = await log.append("call", tool="who_am_i")
    (audit_dir / "audit-2026-11-22.jsonl").write_bytes(b'{"agent":"x","ar')
    async with await AuditLog.open(audit_dir, clock=lambda: next(times)) as log:
        assert log.last_seq == 2
    recovery = records(audit_dir)[1]
    assert recovery["kind"] == "log_recovery" and recovery["prev_hash"] == first.hash
    assert recovery["detail"]["torn_line_removed"]["file"] == "audit-2026-11-22.jsonl"
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_a_torn_line_left_by_another_writer_is_cut_by_the_next_batch(audit_dir: Path) -> None:
    async with await AuditLog.open(audit_dir) as log:
        before = await log.append("call", tool="who_am_i")
        [path] = log_files(audit_dir)
        with path.open("ab") as fh:  # what a writer killed mid-write leaves
            fh.write(b'{"agent":"other","args":{"fi')
        after = await log.append("call", tool="who_am_i")
    recovery, last = records(audit_dir)[1:]
    assert recovery["kind"] == "log_recovery" and recovery["prev_hash"] == before.hash
    assert last["id"] == after.id and after.seq == 3 and after.prev_hash == recovery["hash"]
    assert verify(audit_dir).status == "ok"
