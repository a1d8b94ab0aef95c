"""`verify`: walk the JSONL chain from genesis and say whether it is intact, where it first breaks, and
which write intents have no outcome (what each check catches: docs/audit-format.md). Reads only the
JSONL files and the head mark, never the index.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .record import GENESIS, canonical, record_hash, record_mac
from .store import FILE_RE, Head, iter_raw_lines, list_files, only_nul_after, read_head

EXIT_OK = 0
EXIT_TAMPERED = 1
EXIT_INCOMPLETE = 2


@dataclass(frozen=True, slots=True)
class BadRecord:
    """The first place the chain breaks. `seq` is the seq the line claims, when it can be read."""

    file: str
    line: int
    seq: int | None
    why: str

    def __str__(self) -> str:
        seq = f" (record {self.seq})" if self.seq is not None else ""
        return f"{self.file} line {self.line}{seq}: {self.why}"


@dataclass(slots=True)
class VerifyReport:
    ok: bool = True
    first_bad: BadRecord | None = None
    torn_tail: BadRecord | None = None
    incomplete_intents: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    files: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS
    sealed: int = 0  # records whose mac was checked against the key
    unsealed: int = 0  # records before the first mac (written before a key was configured)

    @property
    def status(self) -> str:
        if not self.ok:
            return "tampered"
        if self.incomplete_intents or self.torn_tail is not None:
            return "incomplete"
        return "ok"

    @property
    def exit_code(self) -> int:
        return {"ok": EXIT_OK, "tampered": EXIT_TAMPERED, "incomplete": EXIT_INCOMPLETE}[self.status]

    def to_dict(self) -> dict[str, Any]:
        def loc(bad: BadRecord | None) -> dict[str, Any] | None:
            if bad is None:
                return None
            return {"file": bad.file, "line": bad.line, "seq": bad.seq, "why": bad.why}

        return {
            "status": self.status,
            "ok": self.ok,
            "count": self.count,
            "files": self.files,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "sealed": self.sealed,
            "unsealed": self.unsealed,
            "first_bad": loc(self.first_bad),
            "torn_tail": loc(self.torn_tail),
            "incomplete_intents": self.incomplete_intents,
        }


def check_line(raw: bytes, expect_seq: int, prev_hash: str, date: str) -> tuple[dict[str, Any] | None, str]:
    """The parsed record and '' when the line is good, else what is wrong with it."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None, "not a JSON record (edited or corrupted)"
    if not isinstance(data, dict) or not isinstance(data.get("hash"), str):
        return None, "not an audit record (no hash)"
    try:
        if canonical(data) + b"\n" != raw:
            return data, "bytes differ from the record's canonical form (edited)"
    except (TypeError, ValueError):
        return data, "holds values no record can hold (edited)"
    if record_hash(data) != data["hash"]:
        return data, "hash does not match its content (edited or forged)"
    if data.get("seq") != expect_seq:
        return (
            data,
            f"expected record {expect_seq} here, found {data.get('seq')} (a record was deleted, "
            "inserted or moved)",
        )
    if data.get("prev_hash") != prev_hash:
        return data, "prev_hash does not match the previous record (records deleted, inserted or reordered)"
    if not str(data.get("time", "")).startswith(date):
        return data, f"record time {data.get('time')} does not belong in the file for {date} (moved)"
    return data, ""


def check_mac(data: dict[str, Any], key: bytes, report: VerifyReport) -> str:
    mac = data.get("mac")
    if mac is None:
        if report.sealed:
            return "no mac, though earlier records carry one (forged without the key)"
        report.unsealed += 1
        return ""
    if not isinstance(mac, str) or not hmac.compare_digest(mac, record_mac(key, str(data["hash"]))):
        return "mac does not match: not written with this log's key (forged, or the wrong key)"
    report.sealed += 1
    return ""


def verify(directory: Path, *, anchor: Head | None = None, key: bytes | None = None) -> VerifyReport:
    """Check the whole chain in `directory`. `anchor` is a (seq, hash) kept elsewhere, e.g. from an
    earlier `box-mcp audit verify --json`; the log must still hold that record unchanged. `key` is the
    log's HMAC key: every record from the first sealed one on must carry a valid mac."""
    directory = Path(directory)
    report = VerifyReport()
    files = list_files(directory)
    report.files = len(files)
    marks = [m for m in (read_head(directory), anchor) if m is not None]
    seen_marks: dict[int, tuple[str, str, int]] = {}
    intents: dict[str, dict[str, Any]] = {}
    expect_seq, prev_hash = 1, GENESIS
    last_place: tuple[str, int] = ("", 0)

    def fail(name: str, line: int, data: dict[str, Any] | None, why: str) -> VerifyReport:
        seq = data.get("seq") if isinstance(data, dict) and isinstance(data.get("seq"), int) else None
        report.ok = False
        report.first_bad = BadRecord(name, line, seq, why)
        return report

    for position, path in enumerate(files):
        match = FILE_RE.match(path.name)
        date = match.group(1) if match else ""
        last_file = position == len(files) - 1
        number, end = 0, 0
        for number, offset, raw in iter_raw_lines(path):
            end = offset + len(raw)
            if not raw.endswith(b"\n"):
                if last_file:
                    size = len(raw.rstrip(b"\0"))  # without the padding after it
                    report.torn_tail = BadRecord(
                        path.name, number, None, f"torn last line ({size} bytes): a crash during a write"
                    )
                    break
                return fail(path.name, number, None, "a line without its newline inside the log (edited)")
            data, why = check_line(raw, expect_seq, prev_hash, date)
            if not why and data is not None and key is not None:
                why = check_mac(data, key, report)
            if why:
                return fail(path.name, number, data, why)
            assert data is not None
            report.count += 1
            expect_seq, prev_hash = data["seq"] + 1, data["hash"]
            last_place = (path.name, number)
            if any(m.seq == data["seq"] for m in marks):
                seen_marks[data["seq"]] = (data["hash"], path.name, number)
            if data["kind"] == "intent":
                summary = {k: data.get(k) for k in ("seq", "id", "time", "agent", "tool", "items")}
                intents[data["id"]] = {**summary, "file": path.name, "line": number}
            elif data["kind"] == "outcome":
                intents.pop(str(data.get("intent_id")), None)
        else:
            if not only_nul_after(path, end):
                if not last_file:
                    return fail(path.name, number + 1, None, "bytes after a NUL inside the log (edited)")
                report.torn_tail = BadRecord(
                    path.name,
                    number + 1,
                    None,
                    "bytes after the NUL padding at the end: a crash during a write",
                )
    report.last_seq, report.last_hash = expect_seq - 1, prev_hash
    for mark in marks:
        where_file, where_line = last_place if last_place[0] else (files[-1].name if files else "-", 0)
        if mark.seq > report.last_seq:
            return fail(
                where_file,
                where_line + 1,
                None,
                f"the log ends at record {report.last_seq} but record {mark.seq} was written "
                "(the tail was cut)",
            )
        seen = seen_marks.get(mark.seq)
        if mark.seq > 0 and seen is not None and seen[0] != mark.hash:
            return fail(
                seen[1],
                seen[2],
                None,
                f"record {mark.seq} is not the one that was written (its hash differs from the mark)",
            )
    report.incomplete_intents = sorted(intents.values(), key=lambda i: i["seq"])
    return report
