"""Which state the suite runs on: `make test` keeps the embedded default (SQLite and files in each
test's data dir); `make test STATE=postgresql` (BOX_MCP_TEST_STATE=postgresql) runs the same tests with
every deployment on PostgreSQL: each test gets an empty schema in its worker's own database
(tests/state/pg.py's server), BOX_MCP_DATABASE_URL and BOX_MCP_VAULT_KEY are set for it in-process and
handed to every server a test starts (`state_env`), and the audit helpers read the chain from the
database. Tests about the file layout itself (`@pytest.mark.file_state`) run only on the default."""

from __future__ import annotations

import os
from typing import Any

STATE = os.environ.get("BOX_MCP_TEST_STATE", "sqlite")
if STATE not in ("sqlite", "postgresql"):
    raise RuntimeError(f"BOX_MCP_TEST_STATE={STATE!r}: use sqlite (the default) or postgresql")
ON_POSTGRES = STATE == "postgresql"

_current: dict[str, str] = {}


def set_current(env: dict[str, str]) -> None:
    _current.clear()
    _current.update(env)


def state_env() -> dict[str, str]:
    """The variables that put a server this test starts on the test's state (empty on the default)."""
    return dict(_current)


def database_records() -> list[dict[str, Any]] | None:
    """Every audit record of this test's database, oldest first; None on the default state, or when
    no deployment of this test kept its audit there (one built on explicit settings, say)."""
    if not ON_POSTGRES or "BOX_MCP_DATABASE_URL" not in _current:
        return None
    from pydantic import SecretStr

    from box_mcp.errors import AuditError
    from box_mcp.state.audit import PostgresAuditReader

    try:
        with PostgresAuditReader.open(SecretStr(_current["BOX_MCP_DATABASE_URL"])) as reader:
            return list(reader.query())
    except AuditError:  # no audit tables: nothing of this test wrote its audit there
        return None
