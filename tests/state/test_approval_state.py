"""The deployment's approval state: one request-state key for every process, and each approval usable
once, in the data dir (SQLite, a key file) and in PostgreSQL alike."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from box_mcp.broker.crypto import new_key_text
from box_mcp.config import Settings
from box_mcp.errors import ConfigError
from box_mcp.ledger import KEY_FILE, LEDGER_FILE, ApprovalState, load_or_create_key_file, open_approval_state
from box_mcp.state.approvals import PostgresApprovals
from tests.state.pg import fresh_database
from tests.state.test_approval_store import pending

VAULT_KEY = new_key_text()


@pytest.fixture(params=["sqlite", "postgres"])
def states(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[ApprovalState]]:
    """Two processes' approval state on one deployment: one data dir, or one database."""
    opened: list[ApprovalState] = []
    if request.param == "sqlite":
        settings = Settings.load(env={"BOX_MCP_DATA_DIR": str(tmp_path / "data")})
        opened = [open_approval_state(settings) for _ in range(2)]
        try:
            yield opened
        finally:
            for state in opened:
                state.store.close()
        return
    with fresh_database("approvals") as url:
        env = {"BOX_MCP_DATA_DIR": str(tmp_path / "data"), "BOX_MCP_DATABASE_URL": url}
        settings = Settings.load(env=env | {"BOX_MCP_VAULT_KEY": VAULT_KEY})
        opened = [open_approval_state(settings) for _ in range(2)]
        try:
            yield opened
        finally:
            for state in opened:
                state.store.close()


def test_every_process_of_a_deployment_seals_with_one_key(states: list[ApprovalState]) -> None:
    a, b = states
    assert a.key == b.key and len(a.key) == 32
    assert repr(a.key) not in repr(a) and a.key.hex() not in repr(a)  # the key is never in a repr


def test_an_old_data_dir_keeps_its_key_and_gets_the_new_table(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = load_or_create_key_file(data)
    old = sqlite3.connect(data / LEDGER_FILE)  # the file as the ledger of spent ids left it
    old.execute("CREATE TABLE approvals_used (digest TEXT PRIMARY KEY, expires_at REAL NOT NULL)")
    old.execute("INSERT INTO approvals_used VALUES ('x', 1)")
    old.commit()
    old.close()
    os.chmod(data / LEDGER_FILE, 0o600)
    state = open_approval_state(Settings.load(env={"BOX_MCP_DATA_DIR": str(data)}))
    try:
        assert state.key == key
        state.store.create(pending())
        assert len(state.store.list()) == 1
    finally:
        state.store.close()


def test_the_database_key_needs_the_vault_key_and_the_right_one(tmp_path: Path) -> None:
    with fresh_database("approvals_key") as url:
        with pytest.raises(ConfigError, match="BOX_MCP_VAULT_KEY"):
            PostgresApprovals.open(SecretStr(url), None)
        store = PostgresApprovals.open(SecretStr(url), SecretStr(VAULT_KEY))
        store.request_state_key()
        store.close()
        other = PostgresApprovals.open(SecretStr(url), SecretStr(new_key_text()))
        try:
            with pytest.raises(ConfigError, match="BOX_MCP_VAULT_KEY"):
                other.request_state_key()
        finally:
            other.close()


def test_the_key_file_is_private_made_once_and_refused_when_others_can_read_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_or_create_key_file(data)
    assert load_or_create_key_file(data) == first and len(first) == 32
    path = data / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key_file(data)
    os.chmod(path, 0o600)
    path.write_text("not a key\n")
    with pytest.raises(ConfigError, match="not a request-state key"):
        load_or_create_key_file(data)
