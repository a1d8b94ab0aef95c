"""What makes an approval trustworthy beyond one process: the key that seals approval rounds'
request_state, and the store of approval records (`box_mcp.approval_records`: each lets one call
through, once).

Both live in the deployment's state: by default a 0600 key file and a 0600 SQLite file in the data dir
(so approvals survive a restart); with BOX_MCP_DATABASE_URL, rows in PostgreSQL
(`box_mcp.state.approvals`), so every replica seals with one key and sees every decision and use.
A data dir from before approval records keeps its key file; its SQLite file just gets the new table
(the old `approvals_used` table of spent ids is left as it was, unread).
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from box_mcp.approval_records import ApprovalStore, SQLiteApprovalStore
from box_mcp.config import Settings
from box_mcp.errors import ConfigError

KEY_FILE = "request_state.key"
LEDGER_FILE = "approvals.sqlite3"  # approval records (table approval_requests)


@dataclass(frozen=True)
class ApprovalState:
    """The deployment's request-state key (>= 32 bytes) and its store of approval records."""

    key: bytes = field(repr=False)
    store: ApprovalStore


def open_approval_state(settings: Settings) -> ApprovalState:
    """PostgreSQL when BOX_MCP_DATABASE_URL is set (needs BOX_MCP_VAULT_KEY, which seals the key row),
    else the data dir's key file and SQLite store."""
    if settings.database_url is not None:
        from box_mcp.state.approvals import PostgresApprovals  # psycopg only for a deployment that uses it

        store = PostgresApprovals.open(settings.database_url, settings.vault_key)
        try:
            return ApprovalState(store.request_state_key(), store)
        except BaseException:
            store.close()
            raise
    data = Path(settings.data_dir)
    return ApprovalState(load_or_create_key_file(data), SQLiteApprovalStore(data / LEDGER_FILE))


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
