"""Approvals on PostgreSQL: the deployment's request-state key and its approval records
(`box_mcp.approval_records.ApprovalStore`, table `approval_requests` of migration 6), shared by every
process with the same BOX_MCP_DATABASE_URL.

The key is made once: each replica inserts a fresh one ON CONFLICT DO NOTHING and reads back whichever
won, so all of them seal and unseal approval rounds alike. It is stored sealed with the vault key
(BOX_MCP_VAULT_KEY, which every replica already shares), so a copy of the database alone cannot forge an
approval round. A decision or a use is one UPDATE guarded by the status it expects (row-locked by
PostgreSQL): of two replicas consuming the same approval at once, exactly one changes the row and lets
its call through; the other reads why it cannot.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from box_mcp.approval_records import (
    COLUMNS,
    KEEP_FOR,
    PRUNE_BATCH,
    ApprovalRequest,
    ApprovalStateError,
    Records,
    Status,
    _limit,
    _status_filter,
    check_decision,
    check_new,
    refusal,
)
from box_mcp.broker.crypto import Cipher, load_or_create_key
from box_mcp.config import mask_url
from box_mcp.errors import ConfigError
from box_mcp.ledger import new_key
from box_mcp.state.database import DatabaseError, describe, open_pool

KEY_NAME = "approvals"
_AAD = "request_state_keys:" + KEY_NAME  # binds the sealed key to its row

_INSERT_KEY = "INSERT INTO request_state_keys (name, sealed) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
_SELECT_KEY = "SELECT sealed FROM request_state_keys WHERE name = %s"
_ALL = ", ".join(COLUMNS)
_SELECT = f"SELECT {_ALL} FROM approval_requests WHERE id = %s"  # noqa: S608 - fixed column names
_PRUNE = (
    "DELETE FROM approval_requests WHERE id = ANY(ARRAY(SELECT id FROM approval_requests"
    " WHERE expires_at < %s LIMIT %s FOR UPDATE SKIP LOCKED))"
)
_INSERT = (
    f"INSERT INTO approval_requests ({_ALL}) VALUES ({', '.join('%s' for _ in COLUMNS)}) "  # noqa: S608 - fixed column names
    "ON CONFLICT (id) DO NOTHING"
)
_DECIDE = (
    "UPDATE approval_requests SET status = %s, decided_by = %s, decided_at = %s, decision_note = %s "
    "WHERE id = %s AND status = 'pending' AND expires_at > %s"
)
_CONSUME = (
    "UPDATE approval_requests SET status = 'used', used_at = %s, call_id = %s "
    "WHERE id = %s AND status = 'approved' AND expires_at > %s AND fingerprint = %s"
)
_FIND = (
    f"SELECT {_ALL} FROM approval_requests WHERE fingerprint = %s AND status IN ('pending', 'approved') "  # noqa: S608 - fixed column names
    "AND expires_at > %s ORDER BY created_at DESC LIMIT 1"
)
_LATEST = f"SELECT {_ALL} FROM approval_requests WHERE fingerprint = %s ORDER BY created_at DESC LIMIT 1"  # noqa: S608
_EXPIRE = (
    "UPDATE approval_requests SET status = 'expired' WHERE status IN ('pending', 'approved') "  # noqa: S608 - fixed column names
    f"AND expires_at <= %s RETURNING {_ALL}"
)
_JSON = frozenset({"arguments", "resources", "rules", "approvers"})


def _row(request: ApprovalRequest) -> tuple[Any, ...]:
    out = []
    for name in COLUMNS:
        value = getattr(request, name)
        out.append(Jsonb(list(value) if isinstance(value, tuple) else value) if name in _JSON else value)
    return tuple(out)


def _record(row: tuple[Any, ...], now: float) -> ApprovalRequest:
    fields = dict(zip(COLUMNS, row, strict=True))
    for name in ("resources", "rules", "approvers"):
        fields[name] = tuple(str(v) for v in fields[name])
    fields["arguments"] = dict(fields["arguments"])
    return ApprovalRequest(**fields).read_at(now)


class PostgresApprovals:
    """ApprovalStore on PostgreSQL, and the keeper of the request-state key; thread-safe (a pool)."""

    def __init__(self, url: SecretStr, cipher: Cipher, clock: Callable[[], float] = time.time) -> None:
        self._url = url
        self._cipher = cipher
        self._clock = clock
        self._pool: ConnectionPool = open_pool(url, name="box-mcp-approvals")

    @classmethod
    def open(
        cls, url: SecretStr, vault_key: SecretStr | None, clock: Callable[[], float] = time.time
    ) -> PostgresApprovals:
        if vault_key is None or not vault_key.get_secret_value():
            raise ConfigError(
                "BOX_MCP_DATABASE_URL keeps approvals in PostgreSQL, their sealing key sealed with the vault "
                "key: set BOX_MCP_VAULT_KEY (the same in every box-mcp process on the database)"
            )
        return cls(url, Cipher(load_or_create_key(Path(), vault_key)), clock)

    def __repr__(self) -> str:
        return f"PostgresApprovals({mask_url(self._url.get_secret_value())!r})"

    def request_state_key(self) -> bytes:
        """The deployment's key: made by the first process to ask, read back by every other."""
        fresh = self._cipher.encrypt(base64.urlsafe_b64encode(new_key()).decode("ascii"), _AAD)
        try:
            with self._pool.connection() as conn:
                conn.execute(_INSERT_KEY, (KEY_NAME, fresh))
                row = conn.execute(_SELECT_KEY, (KEY_NAME,)).fetchone()
        except psycopg.Error as exc:
            where = describe(self._url, exc)
            raise DatabaseError(f"cannot read the request-state key from {where}") from None
        if row is None:  # deleted between the two statements: nothing else deletes it
            raise DatabaseError("the request-state key row vanished as it was read; restart box-mcp")
        text = self._cipher.decrypt(bytes(row[0]), _AAD)
        return base64.urlsafe_b64decode(text.encode("ascii"))

    def _run(self, what: str, work: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        try:
            with self._pool.connection() as conn, conn.transaction():
                return work(conn)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot {what} in {describe(self._url, exc)}") from None

    def _select(self, conn: psycopg.Connection[Any], approval_id: str, now: float) -> ApprovalRequest | None:
        row = conn.execute(_SELECT, (approval_id,)).fetchone()
        return _record(row, now) if row is not None else None

    def create(self, request: ApprovalRequest) -> None:
        check_new(request)

        def work(conn: psycopg.Connection[Any]) -> bool:
            conn.execute(_PRUNE, (self._clock() - KEEP_FOR, PRUNE_BATCH))
            return bool(conn.execute(_INSERT, _row(request)).rowcount == 1)

        if not self._run("store an approval", work):
            raise ApprovalStateError("an approval with this id already exists")

    def get(self, approval_id: str) -> ApprovalRequest | None:
        now = self._clock()
        found: ApprovalRequest | None = self._run(
            "read an approval", lambda c: self._select(c, approval_id, now)
        )
        return found

    def list(self, *, status: Status | None = None, limit: int = 100) -> Records:
        limit = _limit(limit)
        now = self._clock()
        where, params = _status_filter(status, now, "%s")

        def work(conn: psycopg.Connection[Any]) -> Records:
            sql = f"SELECT {_ALL} FROM approval_requests {where} ORDER BY created_at DESC LIMIT %s"  # noqa: S608 - fixed column names
            return [_record(r, now) for r in conn.execute(sql.encode(), (*params, limit)).fetchall()]

        records: list[ApprovalRequest] = self._run("list approvals", work)
        return records

    def decide(self, approval_id: str, *, approve: bool, by: str, note: str) -> ApprovalRequest:
        by, note = check_decision(by, note)
        now = self._clock()

        def work(conn: psycopg.Connection[Any]) -> tuple[int, ApprovalRequest | None]:
            params = ("approved" if approve else "denied", by, now, note or None, approval_id, now)
            changed = conn.execute(_DECIDE, params).rowcount
            return changed, self._select(conn, approval_id, now)

        changed: int
        found: ApprovalRequest | None
        changed, found = self._run("record a decision", work)
        if changed != 1 or found is None:
            raise ApprovalStateError(refusal(found, now))
        return found

    def consume(self, approval_id: str, *, fingerprint: str, call_id: str) -> ApprovalRequest:
        now = self._clock()

        def work(conn: psycopg.Connection[Any]) -> tuple[int, ApprovalRequest | None]:
            changed = conn.execute(_CONSUME, (now, call_id, approval_id, now, fingerprint)).rowcount
            return changed, self._select(conn, approval_id, now)

        changed: int
        found: ApprovalRequest | None
        changed, found = self._run("record the use of an approval", work)
        if changed != 1 or found is None:
            raise ApprovalStateError(refusal(found, now, fingerprint=fingerprint))
        return found

    def find(self, fingerprint: str) -> ApprovalRequest | None:
        now = self._clock()

        def work(conn: psycopg.Connection[Any]) -> ApprovalRequest | None:
            row = conn.execute(_FIND, (fingerprint, now)).fetchone()
            return _record(row, now) if row is not None else None

        found: ApprovalRequest | None = self._run("look up an approval", work)
        return found

    def latest(self, fingerprint: str) -> ApprovalRequest | None:
        now = self._clock()

        def work(conn: psycopg.Connection[Any]) -> ApprovalRequest | None:
            row = conn.execute(_LATEST, (fingerprint,)).fetchone()
            return _record(row, now) if row is not None else None

        found: ApprovalRequest | None = self._run("look up an approval", work)
        return found

    def expire_due(self) -> Records:
        now = self._clock()

        def work(conn: psycopg.Connection[Any]) -> Records:
            return [_record(r, now) for r in conn.execute(_EXPIRE, (now,)).fetchall()]

        due: list[ApprovalRequest] = self._run("expire approvals", work)
        return due

    def close(self) -> None:
        self._pool.close()
