"""What only the PostgreSQL vault has: a database URL that is a secret, a required shared key, a rotation
lock across processes, and clear errors when the database is not there. (What both vaults share is
tested on both in tests/broker/test_vault.py.)"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest
from pydantic import SecretStr

from box_mcp.broker.broker import open_vault, vault_location
from box_mcp.broker.crypto import new_key_text
from box_mcp.broker.vault import GrantRecord
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.errors import BrokerError, ConfigError
from box_mcp.state.database import DatabaseError
from box_mcp.state.vault import ROTATION_LOCK_CLASS, PostgresVault

PASSWORD = "hunter2-db-secret"  # trust auth ignores it; it must still never be shown


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1)


def test_the_database_url_never_shows_its_password(database: str, tmp_path: Path) -> None:
    url = _with_password(database)
    settings = Settings.load(
        env={"BOX_MCP_DATABASE_URL": url, "BOX_MCP_VAULT_KEY": new_key_text()}, data_dir=tmp_path
    )
    assert PASSWORD not in repr(settings) and PASSWORD not in str(settings)
    assert settings.database_url_display == url.replace(PASSWORD, "***")
    assert vault_location(settings) == settings.database_url_display
    vault = open_vault(settings)
    try:
        assert isinstance(vault, PostgresVault)
        assert repr(vault) == f"PostgresVault({settings.database_url_display!r})"
    finally:
        vault.close()
    assert not (tmp_path / "vault.sqlite3").exists() and not (tmp_path / "vault.key").exists()


def test_an_unreachable_database_fails_with_the_masked_url_and_what_to_check() -> None:
    url = SecretStr(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as caught:
        PostgresVault.open(url, SecretStr(new_key_text()))
    text = str(caught.value)
    assert PASSWORD not in text and caught.value.__cause__ is None
    assert "postgresql://postgres:***@127.0.0.1:1/nowhere" in text and "BOX_MCP_DATABASE_URL" in text


def test_a_bad_database_url_names_the_setting_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="--database-url or BOX_MCP_DATABASE_URL") as caught:
        Settings.load(env={"BOX_MCP_DATABASE_URL": f"mysql://root:{PASSWORD}@db/x"})
    assert PASSWORD not in str(caught.value)


def test_the_shared_vault_needs_the_shared_key(database: str) -> None:
    with pytest.raises(ConfigError, match="set BOX_MCP_VAULT_KEY"):
        PostgresVault.open(SecretStr(database), None)


@pytest.mark.anyio
async def test_a_deployment_on_an_unreachable_database_stops_at_start(tmp_path: Path) -> None:
    settings = Settings.load(
        env={
            "BOX_MCP_DATABASE_URL": f"postgresql://u:{PASSWORD}@127.0.0.1:1/x",
            "BOX_MCP_VAULT_KEY": new_key_text(),
            "BOX_DEVELOPER_TOKEN": "dt",
        },
        data_dir=tmp_path,
    )
    with pytest.raises(DatabaseError, match="cannot connect") as caught:
        async with open_deployment(settings, transport="stdio"):
            pass
    assert PASSWORD not in str(caught.value)


def _lock_waiters(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = %s::bigint::oid",
            (ROTATION_LOCK_CLASS,),
        ).fetchone()
    return int(str(row[0])) if row else 0


def test_the_rotation_lock_excludes_another_process_until_released(database: str) -> None:
    # Two vaults on one database stand for two replicas: the second waits for the first's rotation.
    key = SecretStr(new_key_text())
    first, second = PostgresVault.open(SecretStr(database), key), PostgresVault.open(SecretStr(database), key)
    order: list[str] = []
    try:
        with first.rotation_lock("user:default"):
            with second.rotation_lock("user:other"):  # another grant: no waiting
                order.append("other grant")

            def rotate() -> None:
                with second.rotation_lock("user:default"):
                    order.append("second")

            thread = threading.Thread(target=rotate)
            thread.start()
            for _ in range(2000):  # until the second is seen waiting on the lock
                if _lock_waiters(database) == 1:
                    break
            assert _lock_waiters(database) == 1
            order.append("first")
        thread.join(30)
        assert order == ["other grant", "first", "second"]
    finally:
        first.close()
        second.close()


def test_connections_the_server_dropped_are_replaced(database: str) -> None:
    # A PostgreSQL restart ends every session: the next call works on a new connection.
    vault = PostgresVault.open(SecretStr(database), SecretStr(new_key_text()))
    try:
        vault.put(GrantRecord(key="user:x", kind="user_grant"), expect_generation=None)
        with psycopg.connect(database, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert ended is not None and int(str(ended[0])) >= 1
        got = vault.get("user:x")
        assert got is not None and got.generation == 1
    finally:
        vault.close()


def test_a_vault_whose_database_went_away_fails_calls_with_the_masked_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from box_mcp.state import database as db
    from tests.state.pg import fresh_database

    monkeypatch.setattr(db, "POOL_WAIT", 0.5)  # how long a call waits for the database to come back
    with fresh_database("gone") as url:
        vault = PostgresVault.open(SecretStr(_with_password(url)), SecretStr(new_key_text()))
    try:  # the database was dropped (WITH FORCE) under the open vault
        with pytest.raises(
            BrokerError,
            match=r"token vault could not read a stored grant: PostgreSQL at "
            r"postgresql://postgres:\*\*\*@",
        ) as caught:
            vault.get("user:x")
        assert PASSWORD not in str(caught.value)
    finally:
        vault.close()
