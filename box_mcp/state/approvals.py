"""Approvals on PostgreSQL: the deployment's request-state key and the ledger of used approvals
(`box_mcp.ledger.ApprovalLedger`), shared by every process with the same BOX_MCP_DATABASE_URL.

The key is made once: each replica inserts a fresh one ON CONFLICT DO NOTHING and reads back whichever
won, so all of them seal and unseal approval rounds alike. It is stored sealed with the vault key
(BOX_MCP_VAULT_KEY, which every replica already shares), so a copy of the database alone cannot forge an
approval round. A use is one INSERT ... ON CONFLICT DO NOTHING: of two replicas given the same approval
at once, exactly one inserts the row and lets its call through.
"""

from __future__ import annotations

import base64
import time
from pathlib import Path

import psycopg
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from box_mcp.broker.crypto import Cipher, load_or_create_key
from box_mcp.config import mask_url
from box_mcp.errors import ConfigError
from box_mcp.ledger import PRUNE_BATCH, digest, new_key
from box_mcp.state.database import DatabaseError, describe, open_pool

KEY_NAME = "approvals"
_AAD = "request_state_keys:" + KEY_NAME  # binds the sealed key to its row

_INSERT_KEY = "INSERT INTO request_state_keys (name, sealed) VALUES (%s, %s) ON CONFLICT (name) DO NOTHING"
_SELECT_KEY = "SELECT sealed FROM request_state_keys WHERE name = %s"
_PRUNE = (
    "DELETE FROM approvals_used WHERE digest = ANY(ARRAY(SELECT digest FROM approvals_used"
    " WHERE expires_at < %s LIMIT %s FOR UPDATE SKIP LOCKED))"
)
_USE = "INSERT INTO approvals_used (digest, expires_at) VALUES (%s, %s) ON CONFLICT (digest) DO NOTHING"


class PostgresApprovals:
    """ApprovalLedger on PostgreSQL, and the keeper of the request-state key; thread-safe (a pool)."""

    def __init__(self, url: SecretStr, cipher: Cipher) -> None:
        self._url = url
        self._cipher = cipher
        self._pool: ConnectionPool = open_pool(url, name="box-mcp-approvals")

    @classmethod
    def open(cls, url: SecretStr, vault_key: SecretStr | None) -> PostgresApprovals:
        if vault_key is None or not vault_key.get_secret_value():
            raise ConfigError(
                "BOX_MCP_DATABASE_URL keeps approvals in PostgreSQL, their sealing key sealed with the vault "
                "key: set BOX_MCP_VAULT_KEY (the same in every box-mcp process on the database)"
            )
        return cls(url, Cipher(load_or_create_key(Path(), vault_key)))

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

    def consume(self, approval_id: str, expires_at: float) -> bool:
        try:
            with self._pool.connection() as conn, conn.transaction():
                conn.execute(_PRUNE, (time.time(), PRUNE_BATCH))
                cursor = conn.execute(_USE, (digest(approval_id), expires_at))
        except psycopg.Error as exc:
            where = describe(self._url, exc)
            raise DatabaseError(f"cannot record the use of an approval in {where}") from None
        return cursor.rowcount == 1

    def close(self) -> None:
        self._pool.close()
