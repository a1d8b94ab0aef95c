"""The audit sink on PostgreSQL: the chain's committed rows as its source, its cursor a row
(`audit_sink_cursors`, migration 7) that only moves forward, shared by every replica."""

from __future__ import annotations

import json
import logging
import threading

import psycopg
from pydantic import SecretStr

from box_mcp.audit.sink import Line
from box_mcp.state.database import DatabaseError, connect, describe, migrated

log = logging.getLogger("box_mcp.audit.sink")


class _Connection:
    """One autocommit connection, opened when first needed and again after it broke."""

    def __init__(self, url: SecretStr) -> None:
        self.url = url
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._lock = threading.Lock()

    def get(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = connect(self.url)
        return self._conn

    def broken(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self.broken()


class PostgresSource:
    """Committed rows of audit_records (a committed row is durable), oldest first."""

    def __init__(self, url: SecretStr) -> None:
        migrated(url).close()  # the schema this code reads (migration 7 included)
        self._db = _Connection(url)

    def read_after(self, seq: int, limit: int) -> list[Line]:
        with self._db._lock:
            try:
                rows = (
                    self._db.get()
                    .execute(
                        "SELECT line FROM audit_records WHERE seq > %s ORDER BY seq LIMIT %s", (seq, limit)
                    )
                    .fetchall()
                )
            except (psycopg.Error, DatabaseError) as exc:
                self._db.broken()
                log.warning("audit sink: cannot read the audit log: %s", _said(self._db.url, exc))
                return []
        lines = []
        for (raw,) in rows:
            data = bytes(raw).rstrip(b"\n")  # type: ignore[call-overload]
            rec = json.loads(data)
            lines.append(
                Line(int(rec["seq"]), str(rec["hash"]), str(rec.get("kind", "")), str(rec["time"]), data)
            )
        return lines

    def close(self) -> None:
        self._db.close()


class PostgresCursor:
    """The sink's cursor row: `seq` moves only forward (GREATEST), so two replicas never move it back."""

    def __init__(self, url: SecretStr, key: str) -> None:
        self._db = _Connection(url)
        self.key = key

    def load(self) -> int:
        with self._db._lock:
            row = (
                self._db.get()
                .execute("SELECT seq FROM audit_sink_cursors WHERE sink = %s", (self.key,))
                .fetchone()
            )
        return int(str(row[0])) if row else 0

    def save(self, seq: int, record_hash: str) -> None:
        with self._db._lock:
            try:
                self._db.get().execute(
                    "INSERT INTO audit_sink_cursors (sink, seq, hash) VALUES (%s, %s, %s) "
                    "ON CONFLICT (sink) DO UPDATE SET seq = GREATEST(audit_sink_cursors.seq, EXCLUDED.seq), "
                    "hash = CASE WHEN EXCLUDED.seq > audit_sink_cursors.seq THEN EXCLUDED.hash "
                    "ELSE audit_sink_cursors.hash END, updated = now()",
                    (self.key, seq, record_hash),
                )
            except psycopg.Error:
                self._db.broken()
                raise

    def close(self) -> None:
        self._db.close()


def _said(url: SecretStr, exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DatabaseError) else describe(url, exc)
