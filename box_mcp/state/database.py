"""Connecting to PostgreSQL: one URL (a secret: it may hold a password), errors that never show it.

`connect` opens one connection (migrations, advisory locks); `open_pool` the pool a store's calls share.
Both run the schema migrations first, so whatever connects sees the schema this code expects.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlsplit

import psycopg
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from box_mcp.config import mask_url
from box_mcp.errors import BoxMCPError

CONNECT_TIMEOUT = 10  # seconds; a database that does not answer fails start-up rather than hanging it
POOL_WAIT = 10.0  # seconds a call waits for a working connection (e.g. PostgreSQL restarting) before failing
POOL_SIZE = 8


class DatabaseError(BoxMCPError):
    """PostgreSQL cannot be reached or used; the message names the (masked) URL and what to check."""


def describe(url: SecretStr, exc: BaseException) -> str:
    """What went wrong talking to the database at `url`, in words fit for a log: the password masked
    wherever the driver's message might repeat it."""
    text = url.get_secret_value()
    detail = " ".join(str(exc).split()) or type(exc).__name__
    for password in _passwords(text):
        detail = detail.replace(password, "***")
    return f"PostgreSQL at {mask_url(text)}: {detail[:300]}"


def _passwords(text: str) -> list[str]:
    parts = urlsplit(text)
    found = [unquote(parts.password)] if parts.password else []
    found += [value for name, value in parse_qsl(parts.query) if name.lower() == "password" and value]
    return [p for candidate in found for p in (candidate, quote(candidate, safe="")) if p]


def connect(url: SecretStr) -> psycopg.Connection[tuple[object, ...]]:
    """One autocommit connection, or DatabaseError saying how to fix the URL or the server."""
    try:
        return psycopg.connect(url.get_secret_value(), autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        raise DatabaseError(
            f"cannot connect to {describe(url, exc)}; check BOX_MCP_DATABASE_URL (--database-url) and that "
            "the server is running and accepts this user"
        ) from None


def migrated(url: SecretStr) -> psycopg.Connection[tuple[object, ...]]:
    """An autocommit connection to a database whose schema this code's migrations have been applied to
    (under the advisory lock); DatabaseError when it cannot be reached or migrated."""
    from box_mcp.state.migrations import migrate

    conn = connect(url)
    try:
        migrate(conn)
    except psycopg.Error as exc:  # the connection broke while migrating
        conn.close()
        raise DatabaseError(f"cannot migrate the schema of {describe(url, exc)}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def open_pool(url: SecretStr, *, name: str) -> ConnectionPool:
    """Migrate the schema (once per process start, under the advisory lock), then open a pool of
    autocommit connections; a store runs its own transactions on them."""
    migrated(url).close()
    # check: a connection the server dropped (a PostgreSQL restart, a failover) is replaced when it is
    # taken from the pool, so the next call after a restart succeeds instead of failing once more.
    pool = ConnectionPool(
        url.get_secret_value(),
        min_size=1,
        max_size=POOL_SIZE,
        name=name,
        open=False,
        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
        check=ConnectionPool.check_connection,
        timeout=POOL_WAIT,
    )
    try:
        pool.open(wait=True, timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:  # PoolTimeout included
        pool.close()
        raise DatabaseError(f"cannot open a connection pool to {describe(url, exc)}") from None
    return pool
