"""The SQLite query index of the audit log (`audit.sqlite3`): a cache of the JSONL, never the truth.

It remembers how far into each JSONL file it has read and catches up from there, so it may lag the log
(a crash, a failed update) and is rebuilt from scratch when a file got shorter or the schema changed.
Query answers come from it; proof comes from `verify`, which reads only the JSONL.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from box_mcp.errors import AuditError

from .store import INDEX_NAME, file_size, iter_lines, list_files

SCHEMA_VERSION = "1"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files(name TEXT PRIMARY KEY, offset INTEGER NOT NULL, lines INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records(
    seq INTEGER PRIMARY KEY, id TEXT, time TEXT, kind TEXT, agent TEXT, tool TEXT, session_id TEXT,
    effect TEXT, status TEXT, file TEXT, line INTEGER, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_time ON records(time);
CREATE INDEX IF NOT EXISTS records_agent ON records(agent, seq);
CREATE INDEX IF NOT EXISTS records_tool ON records(tool, seq);
CREATE TABLE IF NOT EXISTS items(seq INTEGER NOT NULL, type TEXT, id TEXT, name TEXT);
CREATE INDEX IF NOT EXISTS items_id ON items(id);
CREATE INDEX IF NOT EXISTS items_name ON items(name);
"""
PAGE = 500


def columns(data: dict[str, Any]) -> tuple[Any, ...]:
    """A record's searchable columns (seq, id, time, kind, agent, tool, session_id, effect, status), as
    the SQLite index and the PostgreSQL log both store them."""
    decision = data.get("decision") or {}
    outcome = data.get("outcome") or {}
    return (
        int(data["seq"]),
        data.get("id"),
        data.get("time"),
        data.get("kind"),
        data.get("agent"),
        data.get("tool"),
        data.get("session_id"),
        decision.get("effect"),
        outcome.get("status"),
    )


def item_rows(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(seq, type, id, name) of each item a record names."""
    seq = int(data["seq"])
    return [(seq, i.get("type"), i.get("id"), i.get("name")) for i in data.get("items") or ()]


def connect(directory: Path, *, in_memory: bool = False) -> sqlite3.Connection:
    """The index of `directory`, created if missing; `in_memory` builds a throw-away one instead."""
    path = directory / INDEX_NAME
    if in_memory:
        conn = sqlite3.connect(":memory:", isolation_level=None)
    else:
        if not path.exists():  # records are private: create it 0600 (SQLite gives its -wal the same mode)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    # The JSONL is the durable copy; the index may lose its last transactions in a power cut.
    conn.execute("PRAGMA synchronous=OFF")
    conn.executescript(_SCHEMA)
    row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    if row is None or row[0] != SCHEMA_VERSION:
        _clear(conn)
        conn.execute("INSERT OR REPLACE INTO meta VALUES('schema', ?)", (SCHEMA_VERSION,))
    return conn


def _clear(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for table in ("files", "records", "items"):
        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    conn.execute("COMMIT")


def catch_up(conn: sqlite3.Connection, directory: Path) -> int:
    """Index every complete line written since the last call; returns how many records were added."""
    known = {name: (off, lines) for name, off, lines in conn.execute("SELECT name, offset, lines FROM files")}
    files = list_files(directory)
    names = {p.name for p in files}
    sizes = {p.name: file_size(p) for p in files}
    if any(name not in names for name in known) or any(
        p.name in known and sizes[p.name] < known[p.name][0] for p in files
    ):
        _clear(conn)  # a file shrank or vanished: the log was cut or edited; start over
        known = {}
    added = 0
    for path in files:
        offset, lines = known.get(path.name, (0, 0))
        if sizes[path.name] == offset:
            continue
        rows: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        # iter_lines stops at the first NUL: the open writer's padding, or bytes not yet written.
        for _number, _at, raw in iter_lines(path, offset):
            if not raw.endswith(b"\n"):
                break  # a line still being written, or a torn one: not a record yet
            offset += len(raw)
            lines += 1
            try:
                data = json.loads(raw)
                row, named = columns(data), item_rows(data)
            except (ValueError, KeyError, TypeError, AttributeError):
                continue  # not a record: verify names it; the index skips it
            rows.append((*row, path.name, lines, raw.decode("utf-8", "replace")))
            items.extend(named)
        conn.execute("BEGIN IMMEDIATE")
        try:
            if rows:
                # A seq already indexed (another reader caught up first, or a duplicated line) is kept.
                low, high = min(r[0] for r in rows), max(r[0] for r in rows)
                have = {
                    s
                    for (s,) in conn.execute("SELECT seq FROM records WHERE seq BETWEEN ? AND ?", (low, high))
                }
                rows = [r for r in rows if r[0] not in have]
                items = [i for i in items if i[0] not in have]
                conn.executemany("INSERT OR IGNORE INTO records VALUES(?,?,?,?,?,?,?,?,?,?,?,?)", rows)
                conn.executemany("INSERT INTO items VALUES(?,?,?,?)", items)
                added += len(rows)
            conn.execute("INSERT OR REPLACE INTO files VALUES(?,?,?)", (path.name, offset, lines))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return added


def rebuild(directory: Path) -> int:
    """Drop the index and build it again from the JSONL; returns the number of records indexed."""
    conn = connect(directory)
    try:
        _clear(conn)
        return catch_up(conn, directory)
    finally:
        conn.close()


_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(value: str | datetime, *, now: datetime | None = None) -> str:
    """A bound for --since/--until in the records' own format: ISO date or time (UTC if naive), or
    a span back from now such as 15m, 2h, 7d."""
    if isinstance(value, datetime):
        dt = value
    else:
        text = value.strip()
        rel = _RELATIVE.match(text)
        if rel:
            dt = (now or datetime.now(UTC)) - timedelta(**{_UNITS[rel.group(2)]: int(rel.group(1))})
        else:
            try:
                dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise AuditError(
                    f"cannot read the time {value!r}: use an ISO date or time (2026-11-23, "
                    "2026-11-23T13:00:00Z) or a span back from now (30m, 2h, 7d)"
                ) from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _item_clause(item: str, mark: str, items: str) -> tuple[str, list[Any]]:
    kind, sep, ident = item.partition(":")
    # `items` and `mark` are this module's callers' constants, never input; the values are bound.
    if sep and kind and ident:
        return f"seq IN (SELECT seq FROM {items} WHERE type = {mark} AND id = {mark})", [kind, ident]  # noqa: S608
    return f"seq IN (SELECT seq FROM {items} WHERE id = {mark} OR name = {mark})", [item, item]  # noqa: S608


def filter_clauses(
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    agent: str | None = None,
    tool: str | None = None,
    item: str | None = None,
    denied: bool | None = None,
    kind: str | None = None,
    after_seq: int | None = None,
    before_seq: int | None = None,
    record_id: str | None = None,
    mark: str = "?",
    items_table: str = "items",
) -> tuple[list[str], list[Any]]:
    """The WHERE clauses (fixed strings; `mark` is the driver's placeholder) and their bound values for
    `query`'s filters, over the records and items tables that the SQLite index and PostgreSQL share."""
    where: list[str] = []
    params: list[Any] = []
    if since is not None:
        where.append(f"time >= {mark}")
        params.append(parse_time(since))
    if until is not None:
        where.append(f"time < {mark}")
        params.append(parse_time(until))
    for column, value in (("agent", agent), ("tool", tool), ("kind", kind)):
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    if item is not None:
        clause, extra = _item_clause(item, mark, items_table)
        where.append(clause)
        params.extend(extra)
    if denied is True:
        where.append("effect = 'deny'")
    elif denied is False:
        where.append("(effect IS NULL OR effect != 'deny')")
    if after_seq is not None:
        where.append(f"seq > {mark}")
        params.append(after_seq)
    if before_seq is not None:
        where.append(f"seq < {mark}")
        params.append(before_seq)
    if record_id is not None:
        where.append(f"id = {mark}")
        params.append(record_id)
    return where, params


def query(
    directory: Path,
    *,
    limit: int | None = None,
    newest_first: bool = False,
    **filters: Any,
) -> Iterator[dict[str, Any]]:
    """Records matching every given filter (`filter_clauses`' keywords), oldest first (or newest
    first), as dicts.

    `item` is a Box id, `type:id` (file:123) or an item name; `denied=True` keeps records whose decision
    was deny, `denied=False` the others. The index catches up with the JSONL before answering.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise AuditError(f"no audit log at {directory}: pass --dir or set BOX_MCP_DATA_DIR")
    where, params = filter_clauses(**filters)
    try:
        conn = connect(directory)
        try:
            catch_up(conn, directory)
        finally:
            conn.close()
    except (sqlite3.Error, OSError):
        # No write access to the index (an auditor's read-only copy, say): index in memory instead.
        conn = connect(directory, in_memory=True)
        try:
            catch_up(conn, directory)
            return iter(list(_select(conn, where, params, limit, newest_first)))
        finally:
            conn.close()
    return _pages(directory, where, params, limit, newest_first)


def _select(
    conn: sqlite3.Connection, where: list[str], params: list[Any], limit: int | None, newest_first: bool
) -> Iterator[dict[str, Any]]:
    sql = "SELECT json FROM records"  # clauses are fixed strings; values are bound
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    for (text,) in conn.execute(sql, params):
        yield json.loads(text)


def _pages(
    directory: Path, where: list[str], params: list[Any], limit: int | None, newest_first: bool
) -> Iterator[dict[str, Any]]:
    # One short-lived connection per page, so an abandoned iterator holds nothing open.
    cursor_seq: int | None = None
    left = limit
    order = "DESC" if newest_first else "ASC"
    while left is None or left > 0:
        clauses = list(where)
        page_params = list(params)
        if cursor_seq is not None:
            clauses.append("seq < ?" if newest_first else "seq > ?")
            page_params.append(cursor_seq)
        size = PAGE if left is None else min(PAGE, left)
        sql = "SELECT seq, json FROM records"  # clauses are fixed strings; values are bound
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY seq {order} LIMIT {size}"
        conn = sqlite3.connect(directory / INDEX_NAME, timeout=10.0)
        try:
            rows = conn.execute(sql, page_params).fetchall()
        finally:
            conn.close()
        for seq, text in rows:
            yield json.loads(text)
            cursor_seq = seq
        if left is not None:
            left -= len(rows)
        if len(rows) < size:
            return
