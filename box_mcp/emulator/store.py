"""Emulator state: one SQLite database (file or memory) behind one lock, plus content-addressed blob files."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import BoxError
from .schema import SCHEMA

# Box ids are numeric strings of roughly these sizes; one counter per kind keeps seeds deterministic.
ID_BASES: dict[str, int] = {
    "enterprise": 900000,
    "user": 30000000000,
    "folder": 200000000000,
    "file": 1300000000000,
    "file_version": 1400000000000,
    "collaboration": 50000000000,
    "group": 17000000000,
    "group_membership": 18000000000,
    "comment": 600000000,
    "task": 11000000000,
    "task_assignment": 12000000000,
    "web_link": 700000000,
    "webhook": 4000000,
    "metadata_template": 0,
}


def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    """Box's timestamp format: ISO-8601 with seconds and an explicit offset."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def timestamp(value: Any, name: str) -> float | None:
    """A request's ISO-8601 date-time as UNIX seconds (None stays None), the inverse of `iso`: Box's
    date-times carry `Z` or an offset, so a naive time is refused rather than read as local time."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BoxError(400, "bad_request", f"'{name}' must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BoxError(400, "bad_request", f"'{name}' must be an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise BoxError(400, "bad_request", f"'{name}' needs a time zone offset (e.g. Z or +00:00)")
    return parsed.timestamp()


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Blob:
    address: str  # SHA-256 hex: the content address
    sha1: str  # Box exposes SHA-1 (hex) as the file's `sha1`
    size: int


@dataclass
class BlobWriter:
    """Streams one blob to disk while hashing it, so no upload is ever held whole in memory."""

    directory: Path
    _sha1: Any = field(default_factory=hashlib.sha1)
    _sha256: Any = field(default_factory=hashlib.sha256)
    size: int = 0

    def __post_init__(self) -> None:
        fd, name = tempfile.mkstemp(dir=self.directory, prefix=".incoming-")
        self._path = Path(name)
        self._file = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self._sha1.update(chunk)
        self._sha256.update(chunk)
        self.size += len(chunk)
        self._file.write(chunk)

    @property
    def sha1(self) -> str:
        return str(self._sha1.hexdigest())

    def finish(self) -> Blob:
        self._file.close()
        address = self._sha256.hexdigest()
        target = self.directory / address[:2] / address
        target.parent.mkdir(exist_ok=True)
        if target.exists():
            self._path.unlink()
        else:
            os.replace(self._path, target)
        return Blob(address=address, sha1=self.sha1, size=self.size)

    def discard(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


def _make_private(db: Path) -> None:
    """The database holds webhook signing keys: owner-only before SQLite opens it, since SQLite gives its
    -wal and -shm files the database file's mode (older loose files from earlier runs are tightened too)."""
    try:
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)


class Store:
    """The single source of truth. Every read and write goes through `tx()` / `fetch_all()` under one lock.

    The emulator serves from one event loop, and this re-entrant lock also makes access from other
    threads (tests, the webhook deliverer) safe: SQLite sees exactly one writer at a time.
    Never `await` inside `tx()`: the lock is per thread, so another request on the same event loop
    would join the open transaction (no route does; stream bodies in before, or after, the write).
    """

    def __init__(self, data_dir: Path | None = None, *, memory: bool = False) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if memory or data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="box-emulator-")
            self.data_dir = Path(self._tmp.name)
            db_path = ":memory:"
        else:
            self.data_dir = Path(data_dir)
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            db_path = str(self.data_dir / "box.sqlite3")
            _make_private(Path(db_path))
        self.blob_dir = self.data_dir / "blobs"
        self.blob_dir.mkdir(exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        # Called with (store, event dict) after each recorded event; webhooks subscribe here.
        self.listeners: list[Callable[[Store, dict[str, Any]], None]] = []
        self.conn = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA foreign_keys=ON")
        if db_path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)

    # -- database -----------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[Store]:
        """One transaction; nested calls join the outer one."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.conn.execute("COMMIT")

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
            return row

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a write; returns the number of rows changed."""
        with self._lock:
            return self.conn.execute(sql, params).rowcount

    def insert(self, table: str, values: dict[str, Any]) -> None:
        cols = ", ".join(values)
        marks = ", ".join("?" for _ in values)
        self.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", list(values.values()))  # noqa: S608

    def update(self, table: str, key: dict[str, Any], values: dict[str, Any]) -> int:
        sets = ", ".join(f"{k} = ?" for k in values)
        where = " AND ".join(f"{k} = ?" for k in key)
        sql = f"UPDATE {table} SET {sets} WHERE {where}"  # noqa: S608
        return self.execute(sql, [*values.values(), *key.values()])

    def next_id(self, kind: str) -> str:
        with self._lock:
            row = self.conn.execute("SELECT value FROM counters WHERE name = ?", (kind,)).fetchone()
            value = (row["value"] if row else ID_BASES.get(kind, 1000000)) + 1
            self.conn.execute(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (kind, value),
            )
            return str(value)

    def get_meta(self, key: str) -> Any:
        row = self.fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(row["value"]) if row else None

    def set_meta(self, key: str, value: Any) -> None:
        self.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    # -- blobs --------------------------------------------------------------------------------
    def blob_writer(self) -> BlobWriter:
        return BlobWriter(self.blob_dir)

    def put_bytes(self, data: bytes) -> Blob:
        writer = self.blob_writer()
        writer.write(data)
        return writer.finish()

    def blob_path(self, address: str) -> Path:
        return self.blob_dir / address[:2] / address

    def release_blob(self, address: str) -> None:
        """Delete a blob file once no file version or upload part refers to it any more."""
        with self._lock:
            used = self.conn.execute(
                "SELECT 1 FROM file_versions WHERE blob = ? "
                "UNION ALL SELECT 1 FROM upload_parts WHERE blob = ? LIMIT 1",
                (address, address),
            ).fetchone()
            if used is None:
                self.blob_path(address).unlink(missing_ok=True)

    # -- tokens -------------------------------------------------------------------------------
    def new_secret(self, prefix: str = "") -> str:
        return prefix + secrets.token_urlsafe(24)

    def close(self) -> None:
        with self._lock:
            self.conn.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
