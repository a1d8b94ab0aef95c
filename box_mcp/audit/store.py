"""The audit directory on disk: daily JSONL files, the head mark, the lock, crash recovery and the HMAC
key file. The layout, the NUL padding and the torn-line recovery: docs/audit-format.md.
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
READ_CHUNK = 1 << 16
DSYNC = getattr(os, "O_DSYNC", 0) or getattr(os, "O_SYNC", 0)  # 0: no such flag, sync by hand


def file_name(date: str) -> str:
    return f"audit-{date}.jsonl"


def list_files(directory: Path) -> list[Path]:
    """The JSONL files in chain order (their names sort by date)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if FILE_RE.match(p.name))


def iter_lines(path: Path, offset: int = 0) -> Iterator[tuple[int, int, bytes]]:
    """(line number from 1, byte offset, line bytes with its newline if it has one) of the data from
    `offset` up to the first NUL (padding, or bytes not yet written) or the end of the file. Only the last
    line can lack its newline. A reader racing a writer thus sees whole records and maybe a prefix."""
    with path.open("rb") as fh:
        fh.seek(offset)
        number, rest = 0, b""
        while True:
            chunk = fh.read(READ_CHUNK)
            nul = chunk.find(b"\0")
            data = rest + (chunk if nul < 0 else chunk[:nul])
            end = data.rfind(b"\n") + 1
            for piece in data[:end].split(b"\n")[:-1]:
                number += 1
                yield number, offset, piece + b"\n"
                offset += len(piece) + 1
            rest = data[end:]
            if nul >= 0 or not chunk:
                break
        if rest:
            yield number + 1, offset, rest


def iter_raw_lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """Like `iter_lines` but for `verify`, which must see edits: every line as written, NULs and all,
    up to the first line that starts with a NUL (the padding, or a write that has not landed yet)."""
    with path.open("rb") as fh:
        offset = 0
        for number, line in enumerate(fh, start=1):
            if line.startswith(b"\0"):
                return
            yield number, offset, line
            offset += len(line)


def file_size(path: Path) -> int:
    """The size of `path` without a stat, which would slow the open writer's next sync (see log._size)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def only_nul_after(path: Path, offset: int) -> bool:
    """Whether the file holds nothing but NUL bytes (padding) from `offset` to its end."""
    with path.open("rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(READ_CHUNK):
            if chunk.count(0) != len(chunk):
                return False
    return True


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_private_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)


def open_log_file(path: Path, *, dsync: bool) -> int:
    """Open a log file for positioned writes (and the reads that check its tail), created 0600 and
    tightened if an older one was looser. `dsync`: every write returns only once it is durable."""
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
    if dsync:
        flags |= DSYNC
    fd = os.open(path, flags, 0o600)
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
            TAIL_SIZE
        )

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


def _data_end(path: Path, hint: int) -> tuple[bytes | None, int, int]:
    """(the last complete line before the first NUL, where it ends, the file's size). `hint` is an
    offset believed to end a complete line (the lock file's), where the search for the NUL starts."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        start = 0
        if 0 < hint <= size:
            fh.seek(hint - 1)
            if fh.read(1) == b"\n":
                start = hint
        first_nul, pos = size, start
        fh.seek(start)
        while chunk := fh.read(READ_CHUNK):
            nul = chunk.find(b"\0")
            if nul >= 0:
                first_nul = pos + nul
                break
            pos += len(chunk)
        # Walk back from the first NUL to the last two newlines: the last complete line.
        end = first_nul
        while end > 0:
            lo = max(0, end - READ_CHUNK)
            fh.seek(lo)
            buf = fh.read(end - lo)
            last_nl = buf.rfind(b"\n")
            if last_nl >= 0:
                complete_end = lo + last_nl + 1
                line_start = _line_start(fh, complete_end - 1)
                fh.seek(line_start)
                return fh.read(complete_end - line_start), complete_end, size
            end = lo
    return None, 0, size


def _line_start(fh: Any, newline_at: int) -> int:
    """Where the line ending with the newline at `newline_at` starts."""
    end = newline_at
    while end > 0:
        lo = max(0, end - READ_CHUNK)
        fh.seek(lo)
        buf: bytes = fh.read(end - lo)
        nl = buf.rfind(b"\n")
        if nl >= 0:
            return lo + nl + 1
        end = lo
    return 0


def recover(directory: Path, hint: TailState | None = None) -> Recovered:
    """Find the chain's last record, cutting a torn last line and any padding first. Call it holding
    the lock. `hint`: the tail the lock file names, which makes finding the end of a big file cheap."""
    make_private_dir(directory)
    files = list_files(directory)
    torn: dict[str, Any] | None = None
    for path in reversed(files):
        line, complete_end, size = _data_end(path, hint.offset if hint and hint.file == path.name else 0)
        if complete_end < size:
            with path.open("r+b") as fh:
                fh.seek(complete_end)
                # The fragment without the padding around it (NULs inside it stay: a power loss
                # can persist a later page of a write and not an earlier one).
                fragment = fh.read().strip(b"\0")
                if fragment:
                    torn = {
                        "file": path.name,
                        "offset": complete_end,
                        "bytes": len(fragment),
                        "sha256": hashlib.sha256(fragment).hexdigest(),
                    }
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
        return Recovered(
            seq=seq, hash=digest, torn=torn, time_ns=time_ns, file=path.name, offset=complete_end
        )
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
        raise AuditError(
            f"{path} already exists; an audit key is never overwritten (records sealed "
            "with it could no longer be checked)"
        ) from None
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
        raise AuditError(
            f"{path} does not hold an audit key (64 hex characters); "
            "create one with `box-mcp audit new-key PATH`"
        )
    return key
