"""Tampering with the log: each kind of edit is caught by verify, which names the first bad record."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from box_mcp.audit import AuditLog, AuditRecord, Head, verify
from box_mcp.audit.record import canonical, record_hash

N = 10


async def _fill(directory: Path) -> None:
    async with await AuditLog.open(directory) as log:
        for n in range(N):
            await log.append(
                "call",
                agent=f"agent-{n % 3}",
                tool="get_file_details",
                args={"file_id": str(n)},
                decision={"effect": "allow", "rules": ["r1"]},
                outcome="ok",
            )


@pytest.fixture
def log_file(audit_dir: Path) -> Path:
    anyio.run(_fill, audit_dir)
    [path] = sorted(audit_dir.glob("audit-*.jsonl"))
    return path


def read_lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


def forge(data: dict) -> bytes:
    """A record with a correct hash over its (changed) content."""
    data = {k: v for k, v in data.items() if k != "hash"}
    data["hash"] = record_hash(data)
    return canonical(data) + b"\n"


def test_an_untouched_log_verifies(log_file: Path) -> None:
    report = verify(log_file.parent)
    assert report.status == "ok" and report.exit_code == 0
    assert report.count == N and report.last_seq == N and report.first_bad is None


def test_one_edited_byte_is_caught_at_its_line(log_file: Path) -> None:
    lines = read_lines(log_file)
    lines[4] = lines[4].replace(b'"file_id":"4"', b'"file_id":"5"')
    write_lines(log_file, lines)
    report = verify(log_file.parent)
    assert report.status == "tampered" and report.exit_code == 1
    bad = report.first_bad
    assert bad is not None and (bad.file, bad.line, bad.seq) == (log_file.name, 5, 5)
    assert "hash does not match" in bad.why and report.count == 4


def test_an_edited_byte_that_breaks_the_json_is_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    lines[6] = lines[6][:10] + b"\x00" + lines[6][11:]
    write_lines(log_file, lines)
    bad = verify(log_file.parent).first_bad
    assert bad is not None and bad.line == 7 and "not a JSON record" in bad.why


def test_a_rewritten_record_with_a_recomputed_hash_breaks_the_next_link(log_file: Path) -> None:
    lines = read_lines(log_file)
    data = json.loads(lines[2])
    data["decision"]["effect"] = "deny"
    lines[2] = forge(data)
    write_lines(log_file, lines)
    bad = verify(log_file.parent).first_bad
    assert bad is not None and (bad.line, bad.seq) == (4, 4) and "prev_hash" in bad.why


def test_whitespace_added_to_a_line_is_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    lines[1] = lines[1].replace(b'"kind":', b'"kind": ')
    write_lines(log_file, lines)
    bad = verify(log_file.parent).first_bad
    assert bad is not None and bad.line == 2 and "canonical" in bad.why


def test_a_deleted_line_is_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    del lines[4]
    write_lines(log_file, lines)
    bad = verify(log_file.parent).first_bad
    assert bad is not None and (bad.line, bad.seq) == (5, 6) and "expected record 5" in bad.why


def test_deleting_the_first_line_is_caught(log_file: Path) -> None:
    write_lines(log_file, read_lines(log_file)[1:])
    bad = verify(log_file.parent).first_bad
    assert bad is not None and (bad.line, bad.seq) == (1, 2)


def test_two_swapped_lines_are_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(log_file, lines)
    bad = verify(log_file.parent).first_bad
    assert bad is not None and (bad.line, bad.seq) == (4, 5) and "expected record 4" in bad.why


def test_swapped_lines_with_renumbered_seqs_are_caught_by_the_chain(log_file: Path) -> None:
    lines = read_lines(log_file)
    a, b = json.loads(lines[3]), json.loads(lines[4])
    a["seq"], b["seq"] = 5, 4
    lines[3], lines[4] = forge(b), forge(a)
    write_lines(log_file, lines)
    bad = verify(log_file.parent).first_bad
    assert bad is not None and bad.line == 4 and "prev_hash" in bad.why


def test_a_cut_tail_is_caught_by_the_head_mark(log_file: Path) -> None:
    write_lines(log_file, read_lines(log_file)[:7])
    report = verify(log_file.parent)
    assert report.status == "tampered"
    bad = report.first_bad
    assert bad is not None and "ends at record 7 but record 10 was written" in bad.why
    assert (bad.file, bad.line) == (log_file.name, 8)


def test_a_cut_tail_with_the_head_mark_removed_is_caught_by_an_anchor(log_file: Path) -> None:
    anchor = verify(log_file.parent)
    write_lines(log_file, read_lines(log_file)[:7])
    (log_file.parent / "audit.head").unlink()
    report = verify(log_file.parent, anchor=Head(anchor.last_seq, anchor.last_hash))
    assert report.first_bad is not None and "the tail was cut" in report.first_bad.why


def test_a_rewritten_chain_is_caught_by_an_anchor(log_file: Path) -> None:
    anchor = verify(log_file.parent)
    lines = read_lines(log_file)
    prev = json.loads(lines[N - 2])["hash"]
    data = json.loads(lines[N - 1])
    data["outcome"] = {"status": "error"}
    data["prev_hash"] = prev
    lines[N - 1] = forge(data)
    write_lines(log_file, lines)
    (log_file.parent / "audit.head").unlink()
    report = verify(log_file.parent, anchor=Head(anchor.last_seq, anchor.last_hash))
    bad = report.first_bad
    assert bad is not None and bad.line == N and "hash differs" in bad.why


def test_an_appended_record_with_a_made_up_hash_is_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    data = json.loads(lines[-1])
    data.update(seq=N + 1, prev_hash=data["hash"], tool="delete_file", hash="f" * 64)
    write_lines(log_file, [*lines, canonical(data) + b"\n"])
    bad = verify(log_file.parent).first_bad
    assert bad is not None and (bad.line, bad.seq) == (N + 1, N + 1) and "hash does not match" in bad.why


def test_an_appended_record_that_does_not_link_to_the_last_is_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    data = json.loads(lines[-1])
    data.update(seq=N + 1, tool="delete_file")  # prev_hash still names record N-1
    write_lines(log_file, [*lines, forge(data)])
    bad = verify(log_file.parent).first_bad
    assert bad is not None and bad.line == N + 1 and "prev_hash" in bad.why


def test_a_replayed_earlier_record_is_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    write_lines(log_file, [*lines, lines[2]])
    bad = verify(log_file.parent).first_bad
    assert bad is not None and (bad.line, bad.seq) == (N + 1, 3) and f"expected record {N + 1}" in bad.why


def test_a_record_moved_into_another_days_file_is_caught(log_file: Path) -> None:
    lines = read_lines(log_file)
    write_lines(log_file, lines[:5])
    (log_file.parent / "audit-2099-01-01.jsonl").write_bytes(b"".join(lines[5:]))
    bad = verify(log_file.parent).first_bad
    assert bad is not None and bad.file == "audit-2099-01-01.jsonl" and "moved" in bad.why


def test_intents_without_outcome_are_listed_as_incomplete(audit_dir: Path) -> None:
    async def write() -> str:
        async with await AuditLog.open(audit_dir) as log:
            done = await log.intent(agent="a", tool="move_file", items=[{"type": "file", "id": "9"}])
            await log.outcome(done, outcome="ok")
            return await log.intent(agent="a", tool="delete_file", items=[{"type": "file", "id": "7"}])

    pending = anyio.run(write)
    report = verify(audit_dir)
    assert report.ok and report.status == "incomplete" and report.exit_code == 2
    [intent] = report.incomplete_intents
    assert intent["id"] == pending and intent["tool"] == "delete_file" and intent["line"] == 3


def test_a_record_parses_back_from_its_line(log_file: Path) -> None:
    line = read_lines(log_file)[0]
    rec = AuditRecord.from_line(line)
    assert rec.seq == 1 and rec.line == line and canonical(rec.to_dict()) + b"\n" == line
