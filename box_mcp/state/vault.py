"""The token vault on PostgreSQL: `VaultStore` as `SQLiteVault` implements it, shared by every process
that has the same BOX_MCP_DATABASE_URL.

Tokens are sealed exactly as in SQLite (AES-GCM with the vault key, bound to row and column), so every
replica needs the same key: BOX_MCP_VAULT_KEY is required here. `put` is one statement per outcome
inside one transaction, with the compare-and-set on `generation` done by PostgreSQL. `rotation_lock`
is a session advisory lock on a connection of its own: released when the rotation ends or, if the
process dies, when PostgreSQL sees its connection close.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from box_mcp.broker.crypto import Cipher, load_or_create_key
from box_mcp.broker.vault import COLUMNS, GrantRecord, VaultConflict, row_to_record, seal
from box_mcp.config import mask_url
from box_mcp.errors import BrokerError, ConfigError
from box_mcp.state.database import connect, describe, open_pool

# pg_advisory_lock(int, int) namespace for "rotating a vault grant"; the second int is hashtext(key).
ROTATION_LOCK_CLASS = 0x766C7400  # "vlt"

_UPDATE = (
    "UPDATE vault_grants SET kind=%(kind)s, access_token=%(access_token)s,"
    " access_expires_at=%(access_expires_at)s, refresh_token=%(refresh_token)s, client_id=%(client_id)s,"
    " user_id=%(user_id)s, user_login=%(user_login)s, status=%(status)s, status_detail=%(status_detail)s,"
    " generation=generation + 1, updated_at=%(updated_at)s"
    " WHERE key=%(key)s AND (%(expect)s::bigint IS NULL OR generation=%(expect)s::bigint)"
    " RETURNING generation"
)
# COLUMNS is a constant of broker.vault, never input: these f-strings build fixed SQL.
_SELECT = f"SELECT {COLUMNS} FROM vault_grants"  # noqa: S608
_INSERT = (
    f"INSERT INTO vault_grants ({COLUMNS}) VALUES (%(key)s, %(kind)s, %(access_token)s,"  # noqa: S608
    " %(access_expires_at)s, %(refresh_token)s, %(client_id)s, %(user_id)s, %(user_login)s, %(status)s,"
    " %(status_detail)s, 1, %(updated_at)s) ON CONFLICT (key) DO NOTHING RETURNING generation"
)


class PostgresVault:
    """VaultStore on PostgreSQL; thread-safe (a connection pool)."""

    def __init__(self, url: SecretStr, cipher: Cipher) -> None:
        self._url = url
        self._cipher = cipher
        self._pool: ConnectionPool = open_pool(url, name="box-mcp-vault")

    @classmethod
    def open(cls, url: SecretStr, vault_key: SecretStr | None) -> PostgresVault:
        """The vault in the database at `url`, keyed by `vault_key` (Settings.vault_key, required)."""
        if vault_key is None or not vault_key.get_secret_value():
            raise ConfigError(
                "BOX_MCP_DATABASE_URL keeps the token vault in PostgreSQL, shared by every box-mcp process "
                "on it, so they all need one key: set BOX_MCP_VAULT_KEY (the same in each; make one with "
                '`python -c "import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32))'
                '.decode())"`)'
            )
        # A key given is decoded and checked as for SQLite; no key file (and no data dir) is involved.
        return cls(url, Cipher(load_or_create_key(Path(), vault_key)))

    def __repr__(self) -> str:
        return f"PostgresVault({mask_url(self._url.get_secret_value())!r})"

    def _failed(self, what: str, exc: psycopg.Error) -> BrokerError:
        return BrokerError(
            f"the token vault could not {what}: {describe(self._url, exc)}; check that "
            "PostgreSQL is up, then retry"
        )

    def get(self, key: str) -> GrantRecord | None:
        try:
            with self._pool.connection() as conn:
                row = conn.execute(_SELECT + " WHERE key = %s", (key,)).fetchone()
        except psycopg.Error as exc:
            raise self._failed("read a stored grant", exc) from None
        return None if row is None else row_to_record(self._cipher, row)

    def list(self) -> list[GrantRecord]:
        try:
            with self._pool.connection() as conn:
                rows = conn.execute(_SELECT + " ORDER BY key").fetchall()
        except psycopg.Error as exc:
            raise self._failed("list the stored grants", exc) from None
        return [row_to_record(self._cipher, row) for row in rows]

    def put(self, record: GrantRecord, *, expect_generation: int | None) -> GrantRecord:
        updated_at = time.time()
        params: dict[str, object] = {
            "key": record.key,
            "kind": record.kind,
            "access_token": seal(self._cipher, record.key, "access_token", record.access_token),
            "access_expires_at": record.access_expires_at,
            "refresh_token": seal(self._cipher, record.key, "refresh_token", record.refresh_token),
            "client_id": record.client_id,
            "user_id": record.user_id,
            "user_login": record.user_login,
            "status": record.status,
            "status_detail": record.status_detail[:500],
            "updated_at": updated_at,
            "expect": expect_generation,
        }
        try:
            with self._pool.connection() as conn, conn.transaction():
                generation = self._store(conn, params, expect_generation)
        except psycopg.Error as exc:
            raise self._failed("store a grant", exc) from None
        if generation is None:
            raise VaultConflict(f"the stored grant {record.key!r} changed while it was refreshed")
        return replace(record, generation=generation, updated_at=updated_at)

    def _store(
        self, conn: psycopg.Connection[tuple[object, ...]], params: dict[str, object], expect: int | None
    ) -> int | None:
        """The new generation, or None for a failed compare-and-set. A missing row counts as
        generation 0, as in SQLite: only expect None or 0 may create it."""
        for _ in range(3):  # a row deleted or created between the two statements: look again
            row = conn.execute(_UPDATE, params).fetchone()
            if row is not None:
                return int(str(row[0]))
            if expect not in (None, 0):
                return None
            row = conn.execute(_INSERT, params).fetchone()
            if row is not None:
                return int(str(row[0]))
            if expect == 0:
                return None  # someone created it first: generation 0 no longer holds
        return None

    @contextmanager
    def rotation_lock(self, key: str) -> Iterator[None]:
        # Its own connection, not the pool's: a rotation holding the lock still reads and writes through
        # the pool, and a pool exhausted by lock holders would wait on itself.
        conn = connect(self._url)
        try:
            try:
                conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (ROTATION_LOCK_CLASS, key))
            except psycopg.Error as exc:
                raise self._failed("take the rotation lock", exc) from None
            yield
        finally:
            conn.close()  # ends the session, which releases its advisory locks

    def delete(self, key: str) -> bool:
        try:
            with self._pool.connection() as conn:
                cursor = conn.execute("DELETE FROM vault_grants WHERE key = %s", (key,))
        except psycopg.Error as exc:
            raise self._failed("delete a stored grant", exc) from None
        return cursor.rowcount > 0

    def close(self) -> None:
        self._pool.close()
