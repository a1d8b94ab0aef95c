"""Throwaway PostgreSQL databases for tests, on the machine's server (127.0.0.1:5432, trust auth, user
postgres; BOX_MCP_TEST_POSTGRES_URL names another admin connection).

Each database gets a random name that also carries the xdist worker, so parallel workers never share
one; it is dropped (WITH FORCE: a test's stray connection does not keep it alive) when the test ends.
With no server answering, a test skips saying so, except under CI=true, where it fails: CI has one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

ADMIN_URL = os.environ.get("BOX_MCP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = (
            f"no PostgreSQL answers at {ADMIN_URL} ({' '.join(str(exc).split())[:200]}); start one "
            "on 127.0.0.1:5432 (trust auth, user postgres) or set BOX_MCP_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {reason}", pytrace=False)
        pytest.skip(reason)


def database_url(name: str) -> str:
    """The URL of database `name` on the admin connection's server."""
    base, _, _ = ADMIN_URL.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name


@contextmanager
def fresh_database(purpose: str) -> Iterator[str]:
    """A new, empty database for `purpose` (letters and _); yields its URL, drops it afterwards."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"box_mcp_test_{purpose}_{worker}_{secrets.token_hex(4)}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # name: our letters, digits and _ only
    try:
        yield database_url(name)
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
