"""The deployment's approval state: one request-state key for every process, and each approval usable
once, in the data dir (SQLite, a key file) and in PostgreSQL alike."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from box_mcp.broker.crypto import new_key_text
from box_mcp.config import Settings
from box_mcp.errors import ConfigError
from box_mcp.ledger import (
    KEY_FILE,
    LEDGER_FILE,
    ApprovalLedger,
    ApprovalState,
    MemoryApprovalLedger,
    digest,
    load_or_create_key_file,
    open_approval_state,
)
from box_mcp.state.approvals import PostgresApprovals
from tests.state.pg import fresh_database

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
                state.ledger.close()
        return
    with fresh_database("approvals") as url:
        env = {"BOX_MCP_DATA_DIR": str(tmp_path / "data"), "BOX_MCP_DATABASE_URL": url}
        settings = Settings.load(env=env | {"BOX_MCP_VAULT_KEY": VAULT_KEY})
        opened = [open_approval_state(settings) for _ in range(2)]
        try:
            yield opened
        finally:
            for state in opened:
                state.ledger.close()


def test_every_process_of_a_deployment_seals_with_one_key(states: list[ApprovalState]) -> None:
    a, b = states
    assert a.key == b.key and len(a.key) == 32
    assert repr(a.key) not in repr(a) and a.key.hex() not in repr(a)  # the key is never in a repr


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_an_approval_is_used_once_and_others_are_independent(kind: str, tmp_path: Path) -> None:
    def check(ledger: ApprovalLedger) -> None:
        later = time.time() + 600
        assert ledger.consume("id-1", later) is True
        assert ledger.consume("id-1", later) is False
        assert ledger.consume("id-2", later) is True

    if kind == "memory":
        check(MemoryApprovalLedger())
        return
    if kind == "sqlite":
        settings = Settings.load(env={"BOX_MCP_DATA_DIR": str(tmp_path / "data")})
        state = open_approval_state(settings)
        check(state.ledger)
        state.ledger.close()
        path = tmp_path / "data" / LEDGER_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        reopened = open_approval_state(settings)  # a restart: the use is remembered
        assert reopened.ledger.consume("id-1", time.time() + 600) is False
        reopened.ledger.close()
        return
    with fresh_database("approvals_once") as url:
        store = PostgresApprovals.open(SecretStr(url), SecretStr(VAULT_KEY))
        try:
            check(store)
        finally:
            store.close()


def test_uses_by_two_processes_at_once_let_exactly_one_through(states: list[ApprovalState]) -> None:
    results: list[bool] = []
    start = threading.Barrier(8, timeout=30)

    def use(ledger: ApprovalLedger) -> None:
        start.wait()
        results.append(ledger.consume("the-one", time.time() + 600))

    threads = [threading.Thread(target=use, args=(states[i % 2].ledger,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == [False] * 7 + [True]


def test_expired_uses_are_pruned_and_only_digests_are_kept(tmp_path: Path) -> None:
    with fresh_database("approvals_prune") as url:
        store = PostgresApprovals.open(SecretStr(url), SecretStr(VAULT_KEY))
        try:
            for i in range(5):
                assert store.consume(f"old-{i}", time.time() - 1)
            assert store.consume("live", time.time() + 600)
            key = store.request_state_key()
        finally:
            store.close()
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT digest FROM approvals_used").fetchall()
            sealed = conn.execute("SELECT sealed FROM request_state_keys").fetchall()
    assert rows == [(digest("live"),)]
    assert len(sealed) == 1 and key not in bytes(sealed[0][0])  # stored sealed with the vault key


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
