"""AuditLog: the hash-chained, group-committed JSONL writer the gate calls for every tool call.

`append` seals a record into the chain at once (in the event loop, so order is the order of calls) and
returns when it is on disk. A flush task writes and syncs whatever records are waiting as one batch:
concurrent appends share one fdatasync (group commit). The batch is synced in the event loop itself
while that is fast (it saves two thread hops per append) and in a writer thread when storage is slow.
If a write fails, every waiting and later append raises AuditError: calls stop rather than go
unrecorded. A background thread keeps the head mark and the SQLite index caught up; they may lag and
never delay an append. Record times never go backwards, so the daily files stay in chain order.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Any

from box_mcp.errors import AuditError

from . import index as _index
from .record import AuditRecord, build_body
from .redact import Redactor
from .store import LOCK_NAME, Head, Recovered, file_name, fsync_dir, open_append, recover, write_head

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writer per directory is then the operator's job
    fcntl = None  # type: ignore[assignment]

BACKGROUND_DELAY_S = 0.5  # head mark and index lag the log by about this much
_Pending = tuple[AuditRecord, "asyncio.Future[None]"]


class AuditLog:
    """Open with `await AuditLog.open(directory)`; close with `await log.aclose()` (or `async with`)."""

    def __init__(self, directory: Path, *, fsync: bool, index: bool, recovered_seq: int,
                 recovered_hash: str, lock_fd: int, secret_fields: Iterable[str],
                 inline_sync_ms: float, clock: Callable[[], int], last_ns: int,
                 key: bytes | None) -> None:
        self.directory = directory
        self._key = key
        self._clock = clock
        self._fsync = fsync
        self._inline_sync_s = inline_sync_ms / 1000
        # Seconds the last batches took to write and sync; their median decides inline or thread,
        # so one slow outlier does not move the next appends off the fast path.
        self._sync_times: deque[float] = deque([0.0], maxlen=15)
        self._sync_median = 0.0
        self._durable: Head | None = None
        self._last_ns = last_ns
        self._seq = recovered_seq
        self._last_hash = recovered_hash
        self._lock_fd = lock_fd
        self._redactor = Redactor(secret_fields)
        self._secret_fields = frozenset(secret_fields)
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._failure: AuditError | None = None
        self._closed = False
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="box-mcp-audit")
        # The background thread writes the head mark and, if `index`, keeps the SQLite index caught up.
        self._index = index
        self._indexer = ThreadPoolExecutor(1, thread_name_prefix="box-mcp-audit-index")
        self._index_job: Future[None] | None = None
        self._conn: sqlite3.Connection | None = None  # used only in the background thread
        self._index_again = False
        self._wake = threading.Event()
        self._date: str | None = None
        self._fd: int | None = None

    @classmethod
    async def open(cls, directory: Path, *, fsync: bool = True, index: bool = True,
                   secret_fields: Iterable[str] = (), inline_sync_ms: float = 0.5,
                   clock: Callable[[], int] = time.time_ns, key: bytes | None = None) -> AuditLog:
        """Open (or create) the log in `directory`, continuing its chain from the last durable record.

        `secret_fields` are argument names masked in every record (a policy's secret fields).
        `inline_sync_ms`: while a batch write+fsync takes less than this (smoothed), it runs in the
        event loop itself, saving two thread hops (~0.1 ms) per append; on slower storage it moves to
        the writer thread so the loop stays responsive. 0 means always use the thread.
        `key` (32+ random bytes, kept away from the log) adds an HMAC to every record, so that only
        its holder can write records that `verify(..., key=key)` accepts.
        `clock` gives the records' time in nanoseconds since the epoch (tests move it across midnight).
        Raises AuditError if another process writes the directory or its last record is damaged.
        """
        directory = Path(directory)
        loop = asyncio.get_running_loop()
        lock_fd, recovered = await loop.run_in_executor(None, _lock_and_recover, directory)
        log = cls(directory, fsync=fsync, index=index, recovered_seq=recovered.seq,
                  recovered_hash=recovered.hash, lock_fd=lock_fd, secret_fields=secret_fields,
                  inline_sync_ms=inline_sync_ms, clock=clock, last_ns=recovered.time_ns,
                  key=key)
        try:
            if recovered.torn is not None:
                await log.append("log_recovery", detail={"torn_line_removed": recovered.torn})
        except BaseException:
            await log.aclose()
            raise
        log._schedule_index()
        return log

    @property
    def last_seq(self) -> int:
        return self._seq

    @property
    def last_hash(self) -> str:
        return self._last_hash

    async def append(self, kind: str, **fields: Any) -> AuditRecord:
        """Write one record; returns when it is durable. `secret_fields=[...]` masks more argument names
        for this record only. Fields: see record.CALLER_FIELDS."""
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise AuditError("the audit log is closed; no call can be recorded")
        extra = fields.pop("secret_fields", None)
        redactor = Redactor(self._secret_fields | set(extra)) if extra else self._redactor
        body = build_body(kind, fields, redactor)
        # A clock stepped back must not put a record in an earlier day's file than its predecessor.
        self._last_ns = now_ns = max(self._clock(), self._last_ns)
        record = AuditRecord.seal(body, seq=self._seq + 1, prev_hash=self._last_hash, now_ns=now_ns,
                                  key=self._key)
        self._seq, self._last_hash = record.seq, record.hash
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, done))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        await done
        return record

    async def intent(self, **fields: Any) -> str:
        """Write-ahead record for a write, durable before the write goes to Box; returns its id."""
        record = await self.append("intent", **fields)
        return record.id

    async def outcome(self, intent_id: str, **fields: Any) -> AuditRecord:
        """What became of the write announced by `intent_id`."""
        return await self.append("outcome", intent_id=intent_id, **fields)

    async def aclose(self) -> None:
        """Wait for every pending record to be durable, then release the directory."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._flusher is not None:
            with contextlib.suppress(AuditError):
                await asyncio.shield(self._flusher)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._close_file)
        self._writer.shutdown(wait=True)
        # One last run so the head mark and the index hold everything this writer wrote.
        await loop.run_in_executor(self._indexer, self._run_index)
        await loop.run_in_executor(self._indexer, self._close_index)
        self._indexer.shutdown(wait=True)
        os.close(self._lock_fd)

    async def __aenter__(self) -> AuditLog:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    # -- the writer thread --------------------------------------------------------------------

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                records = [r for r, _ in batch]
                try:
                    if self._sync_median < self._inline_sync_s:
                        self._write_batch(records)
                    else:
                        await loop.run_in_executor(self._writer, self._write_batch, records)
                except Exception as exc:
                    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
                    self._fail(AuditError(
                        f"the audit log cannot write to {self.directory} ({why}); "
                        "tool calls are refused until it can"
                    ), batch)
                    return
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)
                self._schedule_index()
        finally:
            self._flusher = None

    def _fail(self, error: AuditError, batch: list[_Pending]) -> None:
        self._failure = error
        for _, done in batch + self._pending:
            if not done.done():
                done.set_exception(error)
        self._pending = []

    def _write_batch(self, records: list[AuditRecord]) -> None:
        started = time.perf_counter()
        i = 0
        while i < len(records):
            date = records[i].time[:10]
            j = i
            while j < len(records) and records[j].time[:10] == date:
                j += 1
            fd = self._file_for(date)
            _write_all(fd, b"".join(r.line for r in records[i:j]))
            if self._fsync:
                _sync(fd)
            i = j
        last = records[-1]
        self._durable = Head(seq=last.seq, hash=last.hash, file=file_name(last.time[:10]))
        self._sync_times.append(time.perf_counter() - started)
        self._sync_median = sorted(self._sync_times)[len(self._sync_times) // 2]

    def _file_for(self, date: str) -> int:
        if date != self._date or self._fd is None:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self._fd = open_append(self.directory / file_name(date))
            self._date = date
            if self._fsync:
                fsync_dir(self.directory)  # the new file's name must survive a crash too
        return self._fd

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # -- the index thread ---------------------------------------------------------------------

    def _schedule_index(self) -> None:
        # At most one catch-up queued at a time: it reads everything written so far.
        if self._closed:
            return
        if self._index_job is not None and not self._index_job.done():
            self._index_again = True
            return
        self._index_job = self._indexer.submit(self._run_index)

    def _run_index(self) -> None:
        # Wait a little first so one run covers many batches and stays off the appenders' backs
        # (the GIL, and the journal commit a head rename adds to the next fsync). aclose cuts it short.
        self._wake.wait(BACKGROUND_DELAY_S)
        while True:
            self._index_again = False
            durable = self._durable
            if durable is not None:
                # The head mark trails the log (a lower bound of what is durable), off the append path.
                with contextlib.suppress(OSError):
                    write_head(self.directory, durable)
            if not self._index:
                return
            try:
                if self._conn is None:
                    self._conn = _index.connect(self.directory)
                _index.catch_up(self._conn, self.directory)
            except Exception:  # the index is a cache; a query catches it up later
                self._close_index()
            if not self._index_again:
                return


    def _close_index(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _sync(fd: int) -> None:
    # fdatasync suffices for appends (the size is data) and skips the inode timestamps.
    (getattr(os, "fdatasync", None) or os.fsync)(fd)


def _lock_and_recover(directory: Path) -> tuple[int, Recovered]:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock_fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise AuditError(
                    f"another box-mcp process is writing the audit log in {directory}; "
                    "give each server its own data directory"
                ) from None
        return lock_fd, recover(directory)
    except BaseException:
        os.close(lock_fd)
        raise
