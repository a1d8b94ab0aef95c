"""The vault: stored grants (access and refresh tokens encrypted at rest) behind a store interface.

`SQLiteVault` is the embedded default (one file, mode 0600, synchronous=FULL so a commit is on disk
when `put` returns). `box_mcp.state.vault.PostgresVault` implements the same `VaultStore` protocol on
PostgreSQL: `put` is one transaction with a compare-and-set on `generation`, because refresh-token
rotation relies on it. Both seal tokens with `seal` and read rows with `row_to_record`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import SecretStr

from box_mcp.broker.crypto import Cipher, load_or_create_key
from box_mcp.errors import BrokerError

Status = Literal["ok", "needs_sign_in"]
VAULT_FILE = "vault.sqlite3"


class VaultConflict(BrokerError):
    """Another writer changed the grant first (another process refreshed it); reload and retry."""


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """One stored identity: its current tokens, who it is, and whether it still works."""

    key: str  # "user:<label>", "service_account", ...
    kind: str  # user_grant | service_account | developer_token
    access_token: str | None = field(default=None, repr=False)
    access_expires_at: float = 0.0
    refresh_token: str | None = field(default=None, repr=False)
    client_id: str | None = None
    user_id: str | None = None
    user_login: str | None = None
    status: Status = "ok"
    status_detail: str = ""
    generation: int = 0  # bumped by every put; the compare-and-set guard
    updated_at: float = 0.0


class VaultStore(Protocol):
    def get(self, key: str) -> GrantRecord | None: ...

    def put(self, record: GrantRecord, *, expect_generation: int | None) -> GrantRecord:
        """Store `record` in one durable transaction. With `expect_generation`, fail with VaultConflict
        unless the stored generation is still that one (None: unconditional). Returns what was stored."""
        ...

    def delete(self, key: str) -> bool: ...

    def list(self) -> list[GrantRecord]: ...

    def rotation_lock(self, key: str) -> AbstractContextManager[None]:
        """Mutual exclusion across processes for refreshing one grant (blocking; run in a thread).
        PostgreSQL: a transaction-scoped advisory lock, or SELECT ... FOR UPDATE on the row."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS grants (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    access_token BLOB,
    access_expires_at REAL NOT NULL,
    refresh_token BLOB,
    client_id TEXT,
    user_id TEXT,
    user_login TEXT,
    status TEXT NOT NULL,
    status_detail TEXT NOT NULL,
    generation INTEGER NOT NULL,
    updated_at REAL NOT NULL
)
"""


# The columns of a stored grant, in order; every store keeps them so (row_to_record reads this order).
COLUMNS = (
    "key, kind, access_token, access_expires_at, refresh_token, client_id, user_id, user_login,"
    " status, status_detail, generation, updated_at"
)


def _aad(key: str, column: str) -> str:
    # Binds a ciphertext to its row and column: moved elsewhere, it does not decrypt.
    return f"box-mcp-vault/{key}/{column}"


def seal(cipher: Cipher, key: str, column: str, value: str | None) -> bytes | None:
    """A token encrypted for one grant's column (None stays None); every store seals the same way."""
    return None if value is None else cipher.encrypt(value, _aad(key, column))


def _unseal(cipher: Cipher, key: str, column: str, blob: object) -> str | None:
    return None if blob is None else cipher.decrypt(bytes(blob), _aad(key, column))  # type: ignore[call-overload]


def row_to_record(cipher: Cipher, row: Sequence[Any]) -> GrantRecord:
    """A stored row (COLUMNS order), its tokens decrypted."""
    key = str(row[0])
    return GrantRecord(
        key=key,
        kind=str(row[1]),
        access_token=_unseal(cipher, key, "access_token", row[2]),
        access_expires_at=float(row[3]),
        refresh_token=_unseal(cipher, key, "refresh_token", row[4]),
        client_id=row[5],
        user_id=row[6],
        user_login=row[7],
        status="needs_sign_in" if row[8] == "needs_sign_in" else "ok",
        status_detail=str(row[9]),
        generation=int(row[10]),
        updated_at=float(row[11]),
    )


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite opens it, so no moment exists where it is world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


class SQLiteVault:
    """VaultStore on one SQLite file; thread-safe (one connection under a lock)."""

    def __init__(self, path: Path, cipher: Cipher) -> None:
        _create_private(path)
        self.path = path
        self._cipher = cipher
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so each put is one write transaction.
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    @classmethod
    def open(cls, data_dir: Path, vault_key: SecretStr | None = None) -> SQLiteVault:
        """The vault in `data_dir`, keyed by `vault_key` (Settings.vault_key) or DATA_DIR/vault.key."""
        return cls(data_dir / VAULT_FILE, Cipher(load_or_create_key(data_dir, vault_key)))

    def __repr__(self) -> str:
        return f"SQLiteVault({str(self.path)!r})"

    def _seal(self, key: str, column: str, value: str | None) -> bytes | None:
        return seal(self._cipher, key, column, value)

    def _row_to_record(self, row: tuple[object, ...]) -> GrantRecord:
        return row_to_record(self._cipher, row)

    def get(self, key: str) -> GrantRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM grants WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._row_to_record(row)

    def list(self) -> list[GrantRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM grants ORDER BY key").fetchall()
        return [self._row_to_record(row) for row in rows]

    def put(self, record: GrantRecord, *, expect_generation: int | None) -> GrantRecord:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT generation FROM grants WHERE key = ?", (record.key,)
                ).fetchone()
                current = 0 if row is None else int(row[0])
                if expect_generation is not None and current != expect_generation:
                    raise VaultConflict(f"the stored grant {record.key!r} changed while it was refreshed")
                stored = replace(record, generation=current + 1, updated_at=time.time())
                self._db.execute(
                    "INSERT INTO grants (key, kind, access_token, access_expires_at, refresh_token,"
                    " client_id, user_id, user_login, status, status_detail, generation, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET kind=excluded.kind, access_token=excluded.access_token,"
                    " access_expires_at=excluded.access_expires_at, refresh_token=excluded.refresh_token,"
                    " client_id=excluded.client_id, user_id=excluded.user_id, user_login=excluded.user_login,"
                    " status=excluded.status, status_detail=excluded.status_detail,"
                    " generation=excluded.generation, updated_at=excluded.updated_at",
                    (
                        stored.key,
                        stored.kind,
                        self._seal(stored.key, "access_token", stored.access_token),
                        stored.access_expires_at,
                        self._seal(stored.key, "refresh_token", stored.refresh_token),
                        stored.client_id,
                        stored.user_id,
                        stored.user_login,
                        stored.status,
                        stored.status_detail[:500],
                        stored.generation,
                        stored.updated_at,
                    ),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return stored

    @contextmanager
    def rotation_lock(self, key: str) -> Iterator[None]:
        # One lock file for all grants: rotations are rare, and flock is released if the process dies.
        fd = os.open(self.path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def delete(self, key: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM grants WHERE key = ?", (key,))
        return cursor.rowcount > 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
