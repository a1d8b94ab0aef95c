"""What makes an approval trustworthy beyond one process: the key that seals approval rounds'
request_state, and the ledger of approvals already used (an approval lets one call through, once).

Both live in the deployment's state: by default a 0600 key file and a 0600 SQLite file in the data dir
(so approvals survive a restart); with BOX_MCP_DATABASE_URL, rows in PostgreSQL
(`box_mcp.state.approvals`), so every replica seals with one key and sees every use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import sqlite3
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from box_mcp.config import Settings
from box_mcp.errors import BoxMCPError, ConfigError

KEY_FILE = "request_state.key"
LEDGER_FILE = "approvals.sqlite3"
PRUNE_BATCH = 100  # expired rows removed per use: the ledger never grows past what is still live

_SCHEMA = "CREATE TABLE IF NOT EXISTS approvals_used (digest TEXT PRIMARY KEY, expires_at REAL NOT NULL)"


class ApprovalLedger(Protocol):
    def consume(self, approval_id: str, expires_at: float) -> bool:
        """True the first time `approval_id` is used (and it is now spent until `expires_at`, after which
        no sealed request_state can carry it any more); False every later time. BoxMCPError when it
        cannot say (its file or database is unavailable)."""
        ...

    def close(self) -> None: ...


def digest(approval_id: str) -> str:
    """What the ledger keeps of an approval id: never the id itself."""
    return hashlib.sha256(approval_id.encode()).hexdigest()


class MemoryApprovalLedger:
    """This process's memory: for embedders and tests whose request-state key is ephemeral too."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}
        self._lock = threading.Lock()

    def consume(self, approval_id: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            for key in [k for k, exp in self._used.items() if exp < now][:PRUNE_BATCH]:
                del self._used[key]
            key = digest(approval_id)
            if key in self._used:
                return False
            self._used[key] = expires_at
            return True

    def close(self) -> None:
        return None


class SQLiteApprovalLedger:
    """The embedded default: one SQLite file in the data dir (0600), opened on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def __repr__(self) -> str:
        return f"SQLiteApprovalLedger({str(self.path)!r})"

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            _create_private(self.path)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
            db.execute("PRAGMA synchronous=FULL")  # a use is on disk before the call it allows runs
            db.execute(_SCHEMA)
            self._db = db
        return self._db

    def consume(self, approval_id: str, expires_at: float) -> bool:
        try:
            return self._consume(approval_id, expires_at)
        except (sqlite3.Error, OSError) as exc:
            raise BoxMCPError(f"cannot record the use of an approval in {self.path}: {exc}") from None

    def _consume(self, approval_id: str, expires_at: float) -> bool:
        with self._lock:
            db = self._open()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "DELETE FROM approvals_used WHERE rowid IN "
                    "(SELECT rowid FROM approvals_used WHERE expires_at < ? LIMIT ?)",
                    (time.time(), PRUNE_BATCH),
                )
                cursor = db.execute(
                    "INSERT OR IGNORE INTO approvals_used (digest, expires_at) VALUES (?, ?)",
                    (digest(approval_id), expires_at),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return cursor.rowcount == 1

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


@dataclass(frozen=True)
class ApprovalState:
    """The deployment's request-state key (>= 32 bytes) and its ledger of used approvals."""

    key: bytes = field(repr=False)
    ledger: ApprovalLedger


def open_approval_state(settings: Settings) -> ApprovalState:
    """PostgreSQL when BOX_MCP_DATABASE_URL is set (needs BOX_MCP_VAULT_KEY, which seals the key row),
    else the data dir's key file and SQLite ledger."""
    if settings.database_url is not None:
        from box_mcp.state.approvals import PostgresApprovals  # psycopg only for a deployment that uses it

        store = PostgresApprovals.open(settings.database_url, settings.vault_key)
        try:
            return ApprovalState(store.request_state_key(), store)
        except BaseException:
            store.close()
            raise
    data = Path(settings.data_dir)
    return ApprovalState(load_or_create_key_file(data), SQLiteApprovalLedger(data / LEDGER_FILE))


def new_key() -> bytes:
    return os.urandom(32)


def load_or_create_key_file(data_dir: Path) -> bytes:
    """DATA_DIR/request_state.key (32 random bytes, urlsafe base64), created 0600 on first run; when two
    processes start at once, the first link wins and both read that key."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / KEY_FILE
    if not path.exists():
        text = base64.urlsafe_b64encode(new_key()).decode("ascii") + "\n"
        fd, temp = tempfile.mkstemp(prefix=".request-state-key-", dir=data_dir)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(temp, path)
            except FileExistsError:
                pass  # another process made it first: use theirs
        finally:
            os.unlink(temp)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
    try:
        key = base64.urlsafe_b64decode(path.read_text(encoding="ascii").strip().encode("ascii") + b"==")
    except (binascii.Error, ValueError, UnicodeError):
        key = b""
    if len(key) != 32:
        raise ConfigError(
            f"{path} is not a request-state key (urlsafe base64 of 32 bytes): remove it and restart "
            "box-mcp to make a new one (approvals asked before then must be asked again)"
        )
    return key


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite opens it, so no moment exists where it is world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
