"""AuditLog: the hash-chained, group-committed JSONL writer the gate calls for every tool call.

`append` returns when the record is durable; a failed write refuses every later append (calls stop
rather than go unrecorded). How it writes, syncs and recovers: docs/audit-format.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from box_mcp.errors import AuditError

from . import index as _index
from . import padfile
from .front import RecordWriter
from .record import GENESIS, AuditRecord, build_body, json_safe, utc_timestamp
from .store import (
    DSYNC,
    LOCK_NAME,
    TAIL_SIZE,
    Head,
    TailState,
    file_name,
    fsync_dir,
    list_files,
    make_private_dir,
    open_log_file,
    recover,
    write_head,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: one writing process per directory is then a must
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("box_mcp.audit")

BACKGROUND_DELAY_S = 0.5  # head mark and index lag the log by about this much
_Pending = tuple[dict[str, Any], int, "asyncio.Future[AuditRecord]"]  # body, time, result


class AuditLog(RecordWriter):
    """Open with `await AuditLog.open(directory)`; close with `await log.aclose()` (or `async with`)."""

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool,
        index: bool,
        lock_fd: int,
        secret_fields: Iterable[str],
        inline_sync_ms: float,
        clock: Callable[[], int],
        key: bytes | None,
    ) -> None:
        self.directory = directory
        self._dir = str(directory)
        self._clock = clock
        self._key = key
        self._fsync = fsync
        self._inline_sync_s = inline_sync_ms / 1000
        # Seconds the last batches took to write and sync; their median decides inline or thread,
        # so one slow outlier does not move the next appends off the fast path.
        self._sync_times: deque[float] = deque([0.0], maxlen=15)
        self._sync_median = 0.0
        self._durable: TailState | None = None
        self._tail = TailState(0, GENESIS, 0, None, 0)
        self._lock_fd = lock_fd
        super().__init__(secret_fields)
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        self._inline_due = False  # a _flush_inline callback is scheduled
        self._failure: str | None = None  # why appends are refused: a message fit for an agent
        self._closed = False
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="box-mcp-audit")
        # The background thread writes the head mark and, if `index`, keeps the SQLite index caught up.
        self._index = index
        self._indexer = ThreadPoolExecutor(1, thread_name_prefix="box-mcp-audit-index")
        self._index_job: Future[None] | None = None
        self._conn: sqlite3.Connection | None = None  # used only in the background thread
        self._index_again = False
        self._wake = threading.Event()
        self._fd: int | None = None
        self._fd_name: str | None = None

    @classmethod
    async def open(
        cls,
        directory: Path,
        *,
        fsync: bool = True,
        index: bool = True,
        secret_fields: Iterable[str] = (),
        inline_sync_ms: float = 0.5,
        clock: Callable[[], int] = time.time_ns,
        key: bytes | None = None,
    ) -> AuditLog:
        """Open (or create) the log in `directory`, continuing its chain from the last durable record.

        Several processes (say, one stdio server per IDE) may write one directory: every batch is
        written under a file lock and continues the chain from whatever record is last.
        `secret_fields` are argument names masked in every record (a policy's secret fields).
        `inline_sync_ms`: while a batch write+fsync takes less than this (median of recent ones), it
        runs in the event loop itself, saving two thread hops (~0.1 ms) per append; on slower storage
        it moves to the writer thread so the loop stays responsive. 0 means always use the thread.
        `key` (32+ random bytes, kept away from the log) adds an HMAC to every record, so that only
        its holder can write records that `verify(..., key=key)` accepts.
        `clock` gives the records' time in nanoseconds since the epoch (tests move it across midnight).
        Raises AuditError if the directory cannot be written or its last record is damaged.
        """
        directory = Path(directory)
        loop = asyncio.get_running_loop()
        lock_fd = await loop.run_in_executor(None, _open_lock, directory)
        log = cls(
            directory,
            fsync=fsync,
            index=index,
            lock_fd=lock_fd,
            secret_fields=secret_fields,
            inline_sync_ms=inline_sync_ms,
            clock=clock,
            key=key,
        )
        try:
            # Read the tail from the files now (checking the last record, cutting a torn line and
            # recording that, if a crash left one), so last_seq/last_hash are right from the start.
            first_look = functools.partial(log._write_batch, [], trust_state=False)
            await loop.run_in_executor(log._writer, first_look)
        except BaseException:
            await log.aclose()
            raise
        log._schedule_index()
        return log

    @property
    def failure(self) -> str | None:
        """Why this log refuses every append (a write to disk failed), or None while it is healthy."""
        return self._failure

    @property
    def last_seq(self) -> int:
        """The seq of the last record in the chain as this writer last saw it."""
        return self._tail.seq

    @property
    def last_hash(self) -> str:
        return self._tail.hash

    def _check_open(self) -> None:
        if self._failure is not None:
            # A new exception each time: re-raising one stored instance would grow its traceback.
            raise AuditError(self._failure)
        if self._closed:
            raise AuditError("the audit log is closed; no call can be recorded")

    async def _enqueue(self, body: dict[str, Any]) -> AuditRecord:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[AuditRecord] = loop.create_future()
        self._pending.append((body, self._clock(), done))
        if self._flusher is None and not self._inline_due:
            if self._sync_median < self._inline_sync_s:
                # Fast storage: write in the loop on its next turn, so appends made in this turn share
                # one sync; a callback costs less than a task and needs no second turn to start.
                self._inline_due = True
                loop.call_soon(self._flush_inline)
            else:
                self._flusher = loop.create_task(self._flush())
        return await done

    async def aclose(self) -> None:
        """Wait for every pending record to be durable, then close the files and threads."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._flush_inline()  # appends made just before close: written now, before the files close
        if self._flusher is not None:
            with contextlib.suppress(AuditError):
                await asyncio.shield(self._flusher)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer, self._close_cleanly)
        self._writer.shutdown(wait=True)
        # One last run so the head mark and the index hold everything this writer wrote.
        await loop.run_in_executor(self._indexer, self._run_index)
        await loop.run_in_executor(self._indexer, self._close_index)
        self._indexer.shutdown(wait=True)
        os.close(self._lock_fd)

    # -- writing a batch (in the loop or the writer thread) --------------------------------------

    def _flush_inline(self) -> None:
        """Write what is pending, in the loop (the fast-storage path; see `append`)."""
        self._inline_due = False
        if self._flusher is not None or not self._pending or self._failure is not None:
            return  # a flush task is running and takes these too, or there is nothing to write
        batch, self._pending = self._pending, []
        try:
            records = self._write_batch(batch)
        except Exception as exc:
            self._write_failed(exc, batch)
            return
        self._resolve(batch, records)

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    if self._sync_median < self._inline_sync_s:
                        records = self._write_batch(batch)
                    else:
                        records = await loop.run_in_executor(self._writer, self._write_batch, batch)
                except Exception as exc:
                    self._write_failed(exc, batch)
                    return
                self._resolve(batch, records)
        finally:
            self._flusher = None

    def _resolve(self, batch: list[_Pending], records: list[AuditRecord]) -> None:
        for (_, _, done), record in zip(batch, records, strict=True):
            if not done.done():
                done.set_result(record)
        self._schedule_index()

    def _write_failed(self, exc: Exception, batch: list[_Pending]) -> None:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        # The operator's log gets the directory and the cause, once; the agent's message names neither
        # the path nor the server's layout.
        logger.error(
            "the audit log cannot write to %s; every tool call is refused until it can: fix the "
            "cause and restart",
            self.directory,
            exc_info=exc,
        )
        self._fail(
            f"the audit log cannot write its records ({why}); tool calls are refused until the "
            "server's operator fixes the cause and restarts it",
            batch,
        )

    def _fail(self, message: str, batch: list[_Pending]) -> None:
        self._failure = message
        for _, _, done in batch + self._pending:
            if not done.done():
                done.set_exception(AuditError(message))
        self._pending = []

    def _write_batch(self, batch: list[_Pending], *, trust_state: bool = True) -> list[AuditRecord]:
        """Seal and write `batch` under the directory lock; returns its records (same order)."""
        started = time.perf_counter()
        _lock(self._lock_fd)
        try:
            times = [t for _, t, _ in batch]
            tail, torn = self._current_tail(times, trust_state)
            bodies = [b for b, _, _ in batch]
            if torn is not None:  # another writer crashed mid-line; its fragment is gone: say so first
                bodies.insert(
                    0, build_body("log_recovery", {"detail": {"torn_line_removed": torn}}, self._redactor)
                )
                times.insert(0, times[0] if times else self._clock())
            records: list[AuditRecord] = []
            now_ns = tail.time_ns
            for body, stamp in zip(bodies, times, strict=True):
                # Times never go backwards along the chain, so the daily files stay in chain order.
                now_ns = max(now_ns, stamp)
                seq, prev = tail.seq + 1 + len(records), records[-1].hash if records else tail.hash
                try:
                    record = AuditRecord.seal(body, seq=seq, prev_hash=prev, now_ns=now_ns, key=self._key)
                except (ValueError, TypeError):  # JSON cannot hold a value: record it in a safe form
                    record = AuditRecord.seal(
                        json_safe(body), seq=seq, prev_hash=prev, now_ns=now_ns, key=self._key
                    )
                records.append(record)
            if records:
                last = records[-1]
                name, end = self._write_records(records, tail)
                tail = TailState(last.seq, last.hash, now_ns, name, end)
                os.pwrite(self._lock_fd, tail.encode(), 0)
                self._durable = tail
            self._tail = tail
        finally:
            _unlock(self._lock_fd)
        if records:
            self._sync_times.append(time.perf_counter() - started)
            self._sync_median = sorted(self._sync_times)[len(self._sync_times) // 2]
        return records[len(records) - len(batch) :]

    def _current_tail(self, times: list[int], trust_state: bool) -> tuple[TailState, dict[str, Any] | None]:
        """The chain's tail, from the lock file when the log still ends where it says (the usual case,
        two syscalls), else by reading the files (first open, another writer crashed, a new day)."""
        state = TailState.decode(os.pread(self._lock_fd, TAIL_SIZE, 0))
        if trust_state and state is not None and self._tail_holds(state, times):
            return state, None
        recovered = recover(self.directory, state)
        return TailState.of(recovered), recovered.torn

    def _tail_holds(self, state: TailState, times: list[int]) -> bool:
        if state.file is None:
            return not list_files(self.directory)
        try:
            if not self._ends_at(state.file, state.offset):
                return False
        except FileNotFoundError:
            return False
        if not times:
            return True
        days = {_day(max(state.time_ns, times[0])), _day(max(state.time_ns, *times))}
        if days == {state.file}:
            return True
        # This batch starts a new day's file: make sure no writer left a newer file behind.
        return list_files(self.directory)[-1].name == state.file

    def _ends_at(self, name: str, offset: int) -> bool:
        if name == self._fd_name and self._fd is not None:
            return padfile.ends_at(self._fd, offset)
        return padfile.ends_at_path(os.path.join(self._dir, name), offset)

    def _write_records(self, records: list[AuditRecord], tail: TailState) -> tuple[str, int]:
        """Write the records after `tail`, each day's into its file; returns where the data now ends."""
        name, end = tail.file, tail.offset
        i = 0
        while i < len(records):
            date = records[i].time[:10]
            j = i
            while j < len(records) and records[j].time[:10] == date:
                j += 1
            if file_name(date) != name:
                if name is not None:  # the day is over: leave that file plain JSONL
                    padfile.cut_padding(os.path.join(self._dir, name), end, sync=self._fsync)
                name, end = file_name(date), 0
            fd = self._file_for(date)
            data = b"".join(r.line for r in records[i:j])
            padfile.fill_ahead(fd, end, len(data))
            _durable_write(fd, data, end)
            if self._fsync and not DSYNC:
                os.fsync(fd)
            end += len(data)
            i = j
        assert name is not None
        return name, end

    def _file_for(self, date: str) -> int:
        name = file_name(date)
        if name != self._fd_name or self._fd is None:
            self._close_file()
            self._fd = open_log_file(self.directory / name, dsync=self._fsync)
            self._fd_name = name
            if self._fsync:
                fsync_dir(self.directory)  # the new file's name must survive a crash too
        return self._fd

    def _close_file(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._fd_name = None

    def _close_cleanly(self) -> None:
        """On close: cut the padding off the file the chain ends in, so a closed log is plain JSONL.
        Another writer still using the file zero-fills again on its next batch."""
        _lock(self._lock_fd)
        try:
            state = TailState.decode(os.pread(self._lock_fd, TAIL_SIZE, 0))
            if state is not None and state.file is not None and self._failure is None:
                padfile.cut_padding(os.path.join(self._dir, state.file), state.offset, sync=self._fsync)
        finally:
            _unlock(self._lock_fd)
            self._close_file()

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
                    write_head(self.directory, Head(seq=durable.seq, hash=durable.hash, file=durable.file))
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


def _durable_write(fd: int, data: bytes, offset: int) -> None:
    # Durable on return when fsync is on: the descriptor is O_DSYNC (a write and its fdatasync in one
    # syscall; the padding means that sync has no metadata to write).
    padfile.pwrite_all(fd, data, offset)


def _day(ns: int) -> str:
    return file_name(utc_timestamp(ns)[:10])


def _open_lock(directory: Path) -> int:
    make_private_dir(directory)
    return os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)


def _lock(fd: int) -> None:
    # Held only while one batch is sealed, written and synced: other writers wait that long at most.
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)


def _unlock(fd: int) -> None:
    if fcntl is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
