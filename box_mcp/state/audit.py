"""The audit log on PostgreSQL: ONE hash chain for every replica sharing BOX_MCP_DATABASE_URL.

Why one chain, not one per replica cross-anchored: a single sequence is what an auditor can check
without knowing the deployment's shape (how many replicas, which ran when), `audit verify` proves it
the same way it proves a file log, and the JSONL export is one ordinary log. The price is that writers
take turns on the chain's head row; each takes it once per *batch* (group commit: every record queued
while the previous batch was in flight goes into the next one), so a replica holds it for a few round
trips however many calls it is recording, and measured throughput stays far above what the calls
themselves can produce (bench/replicas.py).

A batch is one transaction in two round trips: lock the head row (`SELECT ... FOR UPDATE`); seal the
records after it exactly as the file log seals them (same fields, hash, HMAC, canonical bytes), then
insert them (one statement of column arrays), move the head and commit, pipelined. `append` returns
only after the commit, so an acknowledged record is durable (with
PostgreSQL's default synchronous_commit). Each row keeps the record's exact JSONL line, so the export
(`box-mcp audit export`) is byte-for-byte what the file log would hold and verifies with the same
`box-mcp audit verify --dir`.

PostgreSQL unreachable (a restart, a failover): a batch retries for up to RETRY_FOR seconds, then its
calls fail with a clear error; nothing is acknowledged without its record. A batch whose COMMIT's answer
was lost is looked up by its first record's id before it is retried, so it is never written twice.
Unlike the file log, one failed batch does not refuse every later call: the next batch tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from pydantic import SecretStr

from box_mcp.audit.front import RecordWriter
from box_mcp.audit.index import PAGE, columns, filter_clauses, item_rows
from box_mcp.audit.record import GENESIS, AuditRecord, json_safe
from box_mcp.audit.store import Head, file_name, make_private_dir
from box_mcp.audit.verify import BadRecord, VerifyReport, check_line, check_mac
from box_mcp.config import mask_url
from box_mcp.errors import AuditError
from box_mcp.state.database import DatabaseError, connect, describe, migrated

logger = logging.getLogger("box_mcp.audit")

RETRY_FOR = 15.0  # seconds a batch keeps trying while PostgreSQL is unreachable (a restart takes a few)
PLACE = "audit_records"  # where verify says a bad record is: the table, and the row's seq as its line

_LOCK_HEAD = "SELECT seq, hash, time_ns FROM audit_head WHERE one FOR UPDATE"
_MOVE_HEAD = "UPDATE audit_head SET seq = %s, hash = %s, time_ns = %s WHERE one"
# A batch's rows as one array per column: one statement however many records (no per-row round trip).
_INSERT_RECORDS = (
    "INSERT INTO audit_records (seq, id, time, kind, agent, tool, session_id, effect, status, line)"
    " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
    " %s::text[], %s::text[], %s::text[], %s::bytea[])"
)
_INSERT_ITEMS = (
    "INSERT INTO audit_items (seq, type, id, name) SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[],"
    " %s::text[])"
)
_Pending = tuple[dict[str, Any], int, "asyncio.Future[AuditRecord]"]  # body, time, result


class PostgresAuditLog(RecordWriter):
    """The AuditSink of a deployment on PostgreSQL. `await PostgresAuditLog.open(url)`; `aclose()`."""

    def __init__(
        self,
        url: SecretStr,
        conn: psycopg.Connection[tuple[object, ...]],
        *,
        key: bytes | None,
        secret_fields: Iterable[str],
        clock: Callable[[], int],
    ) -> None:
        self._url = url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = conn  # the writer thread's own
        self._key = key
        self._clock = clock
        super().__init__(secret_fields)
        self._pending: list[_Pending] = []
        self._flusher: asyncio.Task[None] | None = None
        # One writer thread: this process has at most one batch in flight, and the next one gathers.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="box-mcp-audit-pg")
        self._closed = False
        self._tail = Head(0, GENESIS)

    @classmethod
    async def open(
        cls,
        url: SecretStr,
        *,
        key: bytes | None = None,
        secret_fields: Iterable[str] = (),
        clock: Callable[[], int] = time.time_ns,
    ) -> PostgresAuditLog:
        """Connect (migrating the schema under the advisory lock) and read the chain's head.
        Raises DatabaseError when PostgreSQL cannot be reached or migrated."""
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(None, migrated, url)
        log = cls(url, conn, key=key, secret_fields=secret_fields, clock=clock)
        try:
            await loop.run_in_executor(log._writer, log._read_head)
        except BaseException:
            await log.aclose()
            raise
        return log

    def __repr__(self) -> str:
        return f"PostgresAuditLog({mask_url(self._url.get_secret_value())!r})"

    @property
    def failure(self) -> str | None:
        """Always None: a batch PostgreSQL refused fails its own calls; the next batch tries again."""
        return None

    @property
    def last_seq(self) -> int:
        """The seq of the last record this process wrote or saw at the head (others may have added)."""
        return self._tail.seq

    @property
    def last_hash(self) -> str:
        return self._tail.hash

    async def aclose(self) -> None:
        """Wait for every pending record to be committed, then close the connection."""
        if self._closed:
            return
        self._closed = True
        if self._flusher is not None:
            with contextlib.suppress(AuditError):
                await asyncio.shield(self._flusher)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._writer.shutdown)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _check_open(self) -> None:
        if self._closed:
            raise AuditError("the audit log is closed; no call can be recorded")

    async def _enqueue(self, body: dict[str, Any]) -> AuditRecord:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[AuditRecord] = loop.create_future()
        self._pending.append((body, self._clock(), done))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    records = await loop.run_in_executor(self._writer, self._write_batch, batch)
                except Exception as exc:  # AuditError from _write_batch; anything else is a bug
                    message = str(exc) if isinstance(exc, AuditError) else _refusal(type(exc).__name__)
                    if not isinstance(exc, AuditError):
                        logger.error("the PostgreSQL audit writer failed", exc_info=exc)
                    for _, _, done in batch:
                        if not done.done():
                            done.set_exception(AuditError(message))
                    continue
                for (_, _, done), record in zip(batch, records, strict=True):
                    if not done.done():
                        done.set_result(record)
        finally:
            self._flusher = None

    # -- the writer thread ------------------------------------------------------------------------

    def _writer_conn(self) -> psycopg.Connection[tuple[object, ...]]:
        """The writer's connection, opened again after PostgreSQL dropped it (a restart, a failover)."""
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                self._conn.close()
            self._conn = None
            self._conn = connect(self._url)  # DatabaseError while PostgreSQL does not answer
        return self._conn

    def _read_head(self) -> None:
        try:
            row = self._writer_conn().execute("SELECT seq, hash FROM audit_head WHERE one").fetchone()
        except psycopg.Error as exc:
            raise AuditError(f"cannot read the audit chain's head: {describe(self._url, exc)}") from None
        if row is None:
            raise AuditError("the audit chain's head row is missing from the database (deleted by hand?)")
        self._tail = Head(int(str(row[0])), str(row[1]))

    def _write_batch(self, batch: list[_Pending]) -> list[AuditRecord]:
        """Seal and commit `batch` after the chain's head; retried while PostgreSQL is unreachable."""
        deadline = time.monotonic() + RETRY_FOR
        delay = 0.05
        sealed: list[AuditRecord] = []  # the last attempt's records, while its COMMIT's fate is unknown
        while True:
            try:
                conn = self._writer_conn()
                if sealed and self._committed(conn, sealed[0]):
                    records = sealed  # the COMMIT went through; only its answer was lost
                else:
                    sealed.clear()
                    records = self._commit(conn, batch, sealed)
                self._tail = Head(records[-1].seq, records[-1].hash)
                return records
            except (psycopg.OperationalError, psycopg.InterfaceError, DatabaseError) as exc:
                self._abandon()
                if time.monotonic() + delay > deadline:
                    why = str(exc) if isinstance(exc, DatabaseError) else describe(self._url, exc)
                    logger.error("the audit log cannot reach PostgreSQL: %s", why)
                    raise AuditError(_refusal("PostgreSQL does not answer")) from None
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            except psycopg.Error as exc:
                self._abandon()
                logger.error("the audit log could not write to %s", describe(self._url, exc))
                raise AuditError(_refusal(type(exc).__name__)) from None
            except AuditError:
                self._abandon()
                raise

    def _commit(
        self, conn: psycopg.Connection[tuple[object, ...]], batch: list[_Pending], sealed: list[AuditRecord]
    ) -> list[AuditRecord]:
        """One transaction in two round trips: lock and read the head; then the rows, the new head and
        the COMMIT pipelined. `sealed` gets the records before the COMMIT is sent."""
        with conn.pipeline():
            conn.execute("BEGIN")
            row = conn.execute(_LOCK_HEAD).fetchone()  # waits for the lock, ends the first round trip
            if row is None:
                raise AuditError("the audit chain's head row is missing from the database")
            records, time_ns = self._seal(batch, int(str(row[0])), str(row[1]), int(str(row[2])))
            sealed.extend(records)
            rows = [(*columns(dict(r.data)), r.line) for r in records]
            conn.execute(_INSERT_RECORDS, [list(column) for column in zip(*rows, strict=True)])
            items = [item for r in records for item in item_rows(dict(r.data))]
            if items:
                conn.execute(_INSERT_ITEMS, [list(column) for column in zip(*items, strict=True)])
            conn.execute(_MOVE_HEAD, (records[-1].seq, records[-1].hash, time_ns))
            conn.execute("COMMIT")
        return records

    def _abandon(self) -> None:
        """After a failed attempt: end the transaction it left open, or drop a broken connection."""
        conn = self._conn
        if conn is None:
            return
        if conn.broken or conn.closed:
            conn.close()
            self._conn = None
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            conn.close()
            self._conn = None

    @staticmethod
    def _committed(conn: psycopg.Connection[tuple[object, ...]], first: AuditRecord) -> bool:
        return conn.execute("SELECT 1 FROM audit_records WHERE id = %s", (first.id,)).fetchone() is not None

    def _seal(
        self, batch: list[_Pending], seq: int, prev_hash: str, time_ns: int
    ) -> tuple[list[AuditRecord], int]:
        records: list[AuditRecord] = []
        for body, stamp in ((b, t) for b, t, _ in batch):
            time_ns = max(time_ns, stamp)  # times never go backwards along the chain, whoever's clock
            at, prev = seq + 1 + len(records), records[-1].hash if records else prev_hash
            try:
                record = AuditRecord.seal(body, seq=at, prev_hash=prev, now_ns=time_ns, key=self._key)
            except (ValueError, TypeError):  # JSON cannot hold a value: record it in a safe form
                record = AuditRecord.seal(
                    json_safe(body), seq=at, prev_hash=prev, now_ns=time_ns, key=self._key
                )
            records.append(record)
        return records, time_ns


def _refusal(why: str) -> str:
    # The agent's message names neither the database nor its address; the operator's log has both.
    return (
        f"the audit log could not record this call ({why}); it was not acknowledged. Retry once the "
        "server's operator has PostgreSQL answering again"
    )


# -- reading: audit verify | query | tail | export ------------------------------------------------


@dataclass
class PostgresAuditReader:
    """The chain in PostgreSQL as `box-mcp audit` reads it: `with PostgresAuditReader.open(url) as r`."""

    url: SecretStr
    conn: psycopg.Connection[tuple[object, ...]]

    @classmethod
    @contextlib.contextmanager
    def open(cls, url: SecretStr) -> Iterator[PostgresAuditReader]:
        try:
            conn = connect(url)
        except Exception as exc:
            raise AuditError(str(exc)) from None
        try:
            found = conn.execute("SELECT to_regclass('audit_head') IS NOT NULL").fetchone()
            if not found or not found[0]:
                raise AuditError(
                    f"no audit log in the database at {mask_url(url.get_secret_value())}: a box-mcp server "
                    "with this BOX_MCP_DATABASE_URL creates it when it starts"
                )
            yield cls(url, conn)
        except psycopg.Error as exc:
            raise AuditError(f"cannot read the audit log: {describe(url, exc)}") from None
        finally:
            conn.close()

    def head(self) -> Head:
        row = self.conn.execute("SELECT seq, hash FROM audit_head WHERE one").fetchone()
        return Head(0, GENESIS) if row is None else Head(int(str(row[0])), str(row[1]))

    def lines(self, *, batch: int = 2000) -> Iterator[tuple[int, str, bytes]]:
        """(seq column, time column, line) of every row in seq order, read in batches (bounded memory)."""
        after = -1
        while True:
            rows = self.conn.execute(
                "SELECT seq, time, line FROM audit_records WHERE seq > %s ORDER BY seq LIMIT %s",
                (after, batch),
            ).fetchall()
            for seq, stamp, line in rows:
                after = int(str(seq))
                yield after, str(stamp), bytes(line)  # type: ignore[call-overload]
            if len(rows) < batch:
                return

    def query(
        self, *, limit: int | None = None, newest_first: bool = False, **filters: Any
    ) -> Iterator[dict[str, Any]]:
        """As audit.index.query, from the table itself (no index to catch up: it is the log)."""
        import json

        where, params = filter_clauses(mark="%s", items_table="audit_items", **filters)
        left, cursor = limit, None
        order = "DESC" if newest_first else "ASC"
        while left is None or left > 0:
            clauses, values = list(where), list(params)
            if cursor is not None:
                clauses.append("seq < %s" if newest_first else "seq > %s")
                values.append(cursor)
            size = PAGE if left is None else min(PAGE, left)
            sql = "SELECT seq, line FROM audit_records"  # clauses are fixed strings; values are bound
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            sql += f" ORDER BY seq {order} LIMIT {int(size)}"
            rows = self.conn.execute(sql.encode(), values).fetchall()
            for seq, line in rows:
                cursor = int(str(seq))
                yield json.loads(bytes(line))  # type: ignore[call-overload]
            if left is not None:
                left -= len(rows)
            if len(rows) < size:
                return

    def verify(self, *, anchor: Head | None = None, key: bytes | None = None) -> VerifyReport:
        """The checks `audit.verify.verify` makes of a file log, row by row: canonical bytes, hash, seq
        contiguous from 1, prev_hash, mac; the head row and `anchor` must be records the chain holds."""
        report = VerifyReport()
        intents: dict[str, dict[str, Any]] = {}
        expect, prev = 1, GENESIS
        marks = [self.head(), *([anchor] if anchor is not None else [])]
        seen: dict[int, str] = {}

        def fail(line: int, data: dict[str, Any] | None, why: str) -> VerifyReport:
            seq = data.get("seq") if isinstance(data, dict) and isinstance(data.get("seq"), int) else None
            report.ok = False
            report.first_bad = BadRecord(PLACE, line, seq, why)
            return report

        for column_seq, stamp, raw in self.lines():
            report.files = 1
            data, why = check_line(raw, expect, prev, stamp[:10])
            if not why and data is not None and data.get("seq") != column_seq:
                why = f"stored as row {column_seq} but the record says {data.get('seq')} (moved)"
            if not why and data is not None and data.get("time") != stamp:
                why = "the row's time differs from the record's (edited)"
            if not why and data is not None and key is not None:
                why = check_mac(data, key, report)
            if why:
                return fail(column_seq, data, why)
            assert data is not None
            report.count += 1
            expect, prev = data["seq"] + 1, data["hash"]
            seen[data["seq"]] = data["hash"]
            if data["kind"] == "intent":
                summary = {k: data.get(k) for k in ("seq", "id", "time", "agent", "tool", "items")}
                intents[data["id"]] = {**summary, "file": PLACE, "line": data["seq"]}
            elif data["kind"] == "outcome":
                intents.pop(str(data.get("intent_id")), None)
        report.last_seq, report.last_hash = expect - 1, prev
        head = marks[0]
        if head.seq < report.last_seq:
            return fail(
                head.seq + 1, None, f"records after the chain's head (record {head.seq}): inserted by hand"
            )
        for mark in marks:
            if mark.seq > report.last_seq:
                return fail(
                    report.last_seq + 1,
                    None,
                    f"the log ends at record {report.last_seq} but record {mark.seq} was written "
                    "(rows deleted)",
                )
            if mark.seq > 0 and seen.get(mark.seq) != mark.hash:
                return fail(
                    mark.seq, None, f"record {mark.seq} is not the one that was written (its hash differs)"
                )
        report.incomplete_intents = sorted(intents.values(), key=lambda i: i["seq"])
        return report

    def export(self, directory: Path) -> tuple[int, int]:
        """Write the chain as the file log's daily JSONL files (the same bytes) into `directory`, which
        must hold no audit files yet; returns (records, files). `audit verify --dir` then proves it."""
        make_private_dir(directory)
        if any(directory.glob("audit-*.jsonl")):
            raise AuditError(f"{directory} already holds audit files: export into an empty directory")
        count, files, current, fh = 0, 0, None, None
        try:
            for _, stamp, line in self.lines():
                name = file_name(stamp[:10])
                if name != current:
                    if fh is not None:
                        fh.close()
                    fd = os.open(directory / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    fh, current, files = os.fdopen(fd, "wb"), name, files + 1
                assert fh is not None
                fh.write(line)
                count += 1
        finally:
            if fh is not None:
                fh.close()
        return count, files
