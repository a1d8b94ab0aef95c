"""The vault keeps tokens encrypted at rest (a 0600 file; PostgreSQL rows), refuses the wrong key, and
compare-and-sets every write: each `vaults` test runs on both backends (tests/broker/conftest.py)."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from box_mcp.broker.crypto import VaultKeyMismatch, load_or_create_key, new_key_text
from box_mcp.broker.vault import GrantRecord, SQLiteVault, VaultConflict, VaultStore
from box_mcp.errors import ConfigError

if TYPE_CHECKING:
    from tests.broker.conftest import VaultBackend

SECRET_AT = "AT-vault-test-0123456789"
SECRET_RT = "RT-vault-test-9876543210"


def _record(**kw: object) -> GrantRecord:
    base = dict(
        key="user:default",
        kind="user_grant",
        access_token=SECRET_AT,
        access_expires_at=5.0,
        refresh_token=SECRET_RT,
        client_id="cid",
        user_id="11",
        user_login="ada@example.com",
    )
    base.update(kw)
    return GrantRecord(**base)  # type: ignore[arg-type]


def test_stored_grant_round_trips_and_is_encrypted_at_rest(vaults: VaultBackend) -> None:
    vault = vaults.open(SecretStr(new_key_text()))
    stored = vault.put(_record(), expect_generation=None)
    assert stored.generation == 1
    got = vault.get("user:default")
    assert got is not None and got.access_token == SECRET_AT and got.refresh_token == SECRET_RT
    assert (got.client_id, got.user_id, got.user_login) == ("cid", "11", "ada@example.com")
    vault.close()
    raw = vaults.stored_bytes()
    assert b"ada@example.com" in raw  # the storage was read: the tokens are in it, but not in clear
    assert SECRET_AT.encode() not in raw and SECRET_RT.encode() not in raw


def test_vault_file_and_key_file_are_private(tmp_path: Path) -> None:
    vault = SQLiteVault.open(tmp_path / "data")
    vault.put(_record(), expect_generation=None)
    vault.close()
    for name in ("vault.sqlite3", "vault.key"):
        assert stat.S_IMODE((tmp_path / "data" / name).stat().st_mode) == 0o600, name


def test_key_file_is_reused_on_the_second_run(tmp_path: Path) -> None:
    assert load_or_create_key(tmp_path) == load_or_create_key(tmp_path)


def test_two_processes_creating_the_key_at_once_agree_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first creator is held between making its key and finishing the file; the second must not
    # read a half-written key file, and both must end with the same key.
    import threading

    from box_mcp.broker import crypto

    first_inside, second_done = threading.Event(), threading.Event()
    calls: list[int] = []
    real_new_key = crypto.new_key_text

    def held_new_key() -> str:
        calls.append(1)
        if len(calls) == 1:
            first_inside.set()
            assert second_done.wait(10)
        return real_new_key()

    monkeypatch.setattr(crypto, "new_key_text", held_new_key)
    results: dict[str, object] = {}

    def first() -> None:
        results["first"] = load_or_create_key(tmp_path)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert first_inside.wait(10)
        try:
            results["second"] = load_or_create_key(tmp_path)
        except ConfigError as exc:
            results["second"] = exc
    finally:
        second_done.set()
        thread.join(10)
    assert isinstance(results["second"], bytes), results["second"]
    assert results["first"] == results["second"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vault.key"]
    assert stat.S_IMODE((tmp_path / "vault.key").stat().st_mode) == 0o600


def test_world_readable_key_file_is_refused(tmp_path: Path) -> None:
    load_or_create_key(tmp_path)
    os.chmod(tmp_path / "vault.key", 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(tmp_path)


def test_malformed_vault_key_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BOX_MCP_VAULT_KEY"):
        load_or_create_key(tmp_path, SecretStr("too-short"))


def test_wrong_key_cannot_read_the_vault(vaults: VaultBackend) -> None:
    vault = vaults.open(SecretStr(new_key_text()))
    vault.put(_record(), expect_generation=None)
    vault.close()
    other = vaults.open(SecretStr(new_key_text()))
    with pytest.raises(VaultKeyMismatch, match="restore"):
        other.get("user:default")
    other.close()


def test_ciphertext_moved_to_another_row_does_not_decrypt(vaults: VaultBackend) -> None:
    vault = vaults.open(SecretStr(new_key_text()))
    vault.put(_record(), expect_generation=None)
    vault.put(_record(key="user:other", refresh_token="x"), expect_generation=None)
    table = vaults.table
    vaults.execute(
        f"UPDATE {table} SET refresh_token = (SELECT refresh_token FROM {table}"  # noqa: S608
        " WHERE key='user:default') WHERE key='user:other'"
    )
    with pytest.raises(VaultKeyMismatch):
        vault.get("user:other")
    vault.close()


def test_put_with_a_stale_generation_is_a_conflict(vaults: VaultBackend) -> None:
    vault = vaults.open(SecretStr(new_key_text()))
    first = vault.put(_record(), expect_generation=None)
    vault.put(_record(refresh_token="RT-2"), expect_generation=first.generation)
    with pytest.raises(VaultConflict):
        vault.put(_record(refresh_token="RT-3"), expect_generation=first.generation)
    got = vault.get("user:default")
    assert got is not None and got.refresh_token == "RT-2" and got.generation == 2
    vault.close()


def test_a_missing_grant_counts_as_generation_zero(vaults: VaultBackend) -> None:
    vault = vaults.open(SecretStr(new_key_text()))
    with pytest.raises(VaultConflict):
        vault.put(_record(), expect_generation=3)
    assert vault.get("user:default") is None
    assert vault.put(_record(), expect_generation=0).generation == 1
    with pytest.raises(VaultConflict):  # created meanwhile: 0 no longer holds
        vault.put(_record(refresh_token="RT-2"), expect_generation=0)
    assert vault.put(_record(refresh_token="RT-3"), expect_generation=None).generation == 2
    vault.close()


def test_of_two_concurrent_writers_with_one_generation_exactly_one_wins(vaults: VaultBackend) -> None:
    # Two processes that read generation 1 and both rotated: only one write may land.
    key = SecretStr(new_key_text())
    first = vaults.open(key)
    base = first.put(_record(), expect_generation=None)
    second = vaults.open(key)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def write(vault: VaultStore, token: str) -> None:
        barrier.wait(10)
        try:
            vault.put(_record(refresh_token=token), expect_generation=base.generation)
            outcomes.append(token)
        except VaultConflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(v, t)) for v, t in ((first, "RT-A"), (second, "RT-B"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert outcomes.count("conflict") == 1, outcomes
    got = second.get("user:default")
    winner = next(o for o in outcomes if o != "conflict")
    assert got is not None and got.refresh_token == winner and got.generation == 2
    first.close()
    second.close()


def test_grants_list_in_key_order_and_delete_says_whether_one_was_there(vaults: VaultBackend) -> None:
    vault = vaults.open(SecretStr(new_key_text()))
    vault.put(_record(key="user:b"), expect_generation=None)
    vault.put(_record(key="user:a", status="needs_sign_in", status_detail="x" * 900), expect_generation=None)
    listed = vault.list()
    assert [r.key for r in listed] == ["user:a", "user:b"]
    assert listed[0].status == "needs_sign_in" and listed[0].status_detail == "x" * 500
    assert vault.delete("user:a") is True and vault.delete("user:a") is False
    assert [r.key for r in vault.list()] == ["user:b"]
    vault.close()


def test_records_never_show_tokens_in_repr(vaults: VaultBackend) -> None:
    vault = vaults.open(SecretStr(new_key_text()))
    vault.put(_record(), expect_generation=None)
    text = repr(vault.list()) + repr(vault)
    assert SECRET_AT not in text and SECRET_RT not in text
    vault.close()
