"""The audit directory on disk: daily JSONL files, the head mark, the lock, and crash recovery.

    <dir>/audit-YYYY-MM-DD.jsonl   records, one per line, the file named for the UTC date of its records
    <dir>/audit.head               {"seq", "hash", "file"} of the last record known durable (a lower bound)
    <dir>/audit.lock               flock'ed around every batch write; holds the chain's tail (TailState)
    <dir>/audit.sqlite3            the query index (index.py), rebuilt from the JSONL at will

A crash can leave a torn last line (bytes without their newline). Such a line was never acknowledged,
because `append` returns only after the whole line is synced. On open the writer cuts it off, and its
first record is a `log_recovery` record holding the fragment's size and SHA-256, so the cut is itself
recorded in the chain. `verify` run before that restart reports the torn tail as a crash, not tampering.
(A SIGKILL can also cut a multi-page batch write short; the durability test sees this now and then.)

The optional HMAC key (`new_key_file`, `load_key`) lives outside this directory: whoever can write the
log must not be able to read the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from box_mcp.errors import AuditError

from .record import GENESIS, record_hash

FILE_RE = re.compile(r"^audit-(\d{4}-\d{2}-\d{2})\.jsonl$")
HEAD_NAME = "audit.head"
TAIL_SIZE = 256  # bytes of the lock file that hold the TailState
LOCK_NAME = "audit.lock"
INDEX_NAME = "audit.sqlite3"


def file_name(date: str) -> str:
    return f"audit-{date}.jsonl"


def list_files(directory: Path) -> list[Path]:
    """The JSONL files in chain order (their names sort by date)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if FILE_RE.match(p.name))


def iter_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(line number from 1, byte offset, line bytes with its newline if it has one)."""
    with path.open("rb") as fh:
        offset = 0
        for number, line in enumerate(fh, start=1):
            yield number, offset, line
            offset += len(line)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def open_append(path: Path) -> int:
    """Open a log file for appending, created 0600 (and tightened if an older one was looser)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    if os.fstat(fd).st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


@dataclass(frozen=True, slots=True)
class Head:
    seq: int
    hash: str
    file: str | None = None


def read_head(directory: Path) -> Head | None:
    try:
        raw = json.loads((directory / HEAD_NAME).read_bytes())
        return Head(seq=int(raw["seq"]), hash=str(raw["hash"]), file=raw.get("file"))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        raise AuditError(f"{directory / HEAD_NAME} is damaged ({exc}); move it aside to continue") from exc


def write_head(directory: Path, head: Head) -> None:
    """Atomically replace the head mark unless it already names a later record (several writers).
    Not synced: it is only ever a lower bound of what is durable."""
    with contextlib.suppress(AuditError):
        current = read_head(directory)
        if current is not None and current.seq >= head.seq:
            return
    tmp = directory / f"{HEAD_NAME}.{os.getpid()}.{threading.get_ident()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, json.dumps({"seq": head.seq, "hash": head.hash, "file": head.file}).encode())
    finally:
        os.close(fd)
    os.replace(tmp, directory / HEAD_NAME)


@dataclass(frozen=True, slots=True)
class Recovered:
    """Where a writer continues: the last durable record, and what a torn tail held, if there was one."""

    seq: int
    hash: str
    torn: dict[str, Any] | None
    time_ns: int = 0  # the last record's time: later records are never stamped earlier
    file: str | None = None  # the file holding the last record, and where its complete data ends
    offset: int = 0


class TailState(NamedTuple):
    """The chain's tail as the last writer left it, kept in the lock file so that several processes can
    share one chain: read under the lock, trusted only if the file still ends where it says."""

    seq: int
    hash: str
    time_ns: int
    file: str | None
    offset: int

    def encode(self) -> bytes:
        # Fixed width and plain words: read and written under the lock for every batch, so cheap.
        return f"{self.seq} {self.hash} {self.time_ns} {self.offset} {self.file or '-'}\n".encode().ljust(
            TAIL_SIZE)

    @classmethod
    def decode(cls, raw: bytes) -> TailState | None:
        parts = raw.split()
        if len(parts) != 5:
            return None
        try:
            seq, digest, time_ns, offset, name = parts
            file = name.decode()
            return cls(int(seq), digest.decode(), int(time_ns), None if file == "-" else file, int(offset))
        except (ValueError, UnicodeDecodeError):
            return None

    @classmethod
    def of(cls, r: Recovered) -> TailState:
        return cls(r.seq, r.hash, r.time_ns, r.file, r.offset)


def _last_line(path: Path) -> tuple[bytes | None, int]:
    """The last complete line of `path`, and where the complete part of the file ends."""
    size = path.stat().st_size
    start = size
    with path.open("rb") as fh:
        while start > 0:
            start = max(0, start - (1 << 16))
            fh.seek(start)
            buf = fh.read(size - start)
            last_nl = buf.rfind(b"\n")
            if last_nl < 0:
                continue
            prev_nl = buf.rfind(b"\n", 0, last_nl)
            if prev_nl >= 0 or start == 0:
                return buf[prev_nl + 1:last_nl + 1], start + last_nl + 1
    return None, 0


def recover(directory: Path) -> Recovered:
    """Find the chain's last record, cutting a torn last line first. Call it holding the lock."""
    make_private_dir(directory)
    files = list_files(directory)
    torn: dict[str, Any] | None = None
    for path in reversed(files):
        line, complete_end = _last_line(path)
        size = path.stat().st_size
        if complete_end < size:
            with path.open("rb") as fh:
                fh.seek(complete_end)
                fragment = fh.read()
            torn = {"file": path.name, "offset": complete_end, "bytes": len(fragment),
                    "sha256": hashlib.sha256(fragment).hexdigest()}
            with path.open("r+b") as fh:
                fh.truncate(complete_end)
                os.fsync(fh.fileno())
        if line is None:
            continue  # an empty file (created just before a crash): look at the previous day
        try:
            data = json.loads(line)
            ok = record_hash(data) == data["hash"]
            seq, digest = int(data["seq"]), str(data["hash"])
            stamp = datetime.fromisoformat(str(data["time"]).replace("Z", "+00:00"))
            time_ns = int(stamp.timestamp()) * 1_000_000_000 + stamp.microsecond * 1000
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            raise AuditError(
                f"the last audit record in {path} is damaged, so the chain cannot continue; "
                "run `box-mcp audit verify`, then move the damaged log aside"
            )
        _check_head(directory, seq)
        return Recovered(seq=seq, hash=digest, torn=torn, time_ns=time_ns, file=path.name,
                         offset=complete_end)
    _check_head(directory, 0)
    return Recovered(seq=0, hash=GENESIS, torn=torn)


def _check_head(directory: Path, last_seq: int) -> None:
    head = read_head(directory)
    if head is not None and head.seq > last_seq:
        raise AuditError(
            f"the audit log in {directory} ends at record {last_seq} but record {head.seq} was written: "
            "records are missing. Run `box-mcp audit verify`, then move the damaged log aside"
        )


def new_key_file(path: Path) -> None:
    """Create a new audit key file (64 hex characters, mode 0600); refuses to overwrite one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditError(f"{path} already exists; an audit key is never overwritten (records sealed "
                         "with it could no longer be checked)") from None
    try:
        os.write(fd, secrets.token_hex(32).encode() + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)


def load_key(path: Path) -> bytes:
    """The audit key in `path`: 64 hex characters in a file no one else can read."""
    try:
        if os.stat(path).st_mode & 0o077:
            raise AuditError(f"the audit key file {path} is readable by others; run chmod 600 on it")
        text = Path(path).read_text().strip()
    except OSError as exc:
        raise AuditError(f"cannot read the audit key file {path} ({exc.strerror})") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 32:
        raise AuditError(f"{path} does not hold an audit key (64 hex characters); "
                         "create one with `box-mcp audit new-key PATH`")
    return key
