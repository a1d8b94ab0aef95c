"""Schema migrations: applied once, in order, under an advisory lock that makes concurrent starts take
turns; a database this code cannot use as it stands stops start-up with a clear error."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from box_mcp.state.migrations import LOCK_KEY, MIGRATIONS, Migration, MigrationError, migrate

EXTRA = (
    *MIGRATIONS,
    # Not idempotent on purpose: applied twice, either would fail.
    Migration(1001, "test table", "CREATE TABLE race_probe (id INTEGER PRIMARY KEY)"),
    Migration(1002, "test row", "INSERT INTO race_probe VALUES (1)"),
)


@contextmanager
def _conn(url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def _applied(url: str) -> list[tuple[object, ...]]:
    with _conn(url) as conn:
        return conn.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()


def _waiting_for_the_lock(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()
    return int(str(row[0])) if row else 0


def test_a_fresh_database_gets_every_migration_once_and_a_second_run_applies_nothing(database: str) -> None:
    with _conn(database) as conn:
        assert migrate(conn) == [m.version for m in MIGRATIONS]
        assert migrate(conn) == []
    assert _applied(database) == [(m.version, m.name) for m in MIGRATIONS]


def test_two_starts_at_once_on_a_fresh_database_both_succeed_and_each_migration_runs_once(
    database: str,
) -> None:
    # The test holds the lock first, so both starts are certainly waiting on it at the same moment
    # (pg_locks shows them) before either may begin: a true race, decided by the lock alone.
    results: dict[str, object] = {}

    def start(name: str) -> None:
        try:
            with _conn(database) as conn:
                results[name] = migrate(conn, EXTRA)
        except Exception as exc:  # reported below, with the other start's outcome
            results[name] = exc

    with _conn(database) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        threads = [threading.Thread(target=start, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        for _ in range(2000):  # until both wait on the lock (each poll is a round trip, no sleep needed)
            if _waiting_for_the_lock(holder) == 2:
                break
        assert _waiting_for_the_lock(holder) == 2, "the two starts never both waited on the advisory lock"
        holder.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    for thread in threads:
        thread.join(30)
    assert all(isinstance(r, list) for r in results.values()), results
    applied = sorted([results["a"], results["b"]], key=len)  # type: ignore[arg-type]
    assert applied == [[], [m.version for m in EXTRA]], results
    assert _applied(database) == [(m.version, m.name) for m in EXTRA]
    with _conn(database) as conn:
        assert conn.execute("SELECT count(*) FROM race_probe").fetchone() == (1,)


def test_two_processes_opening_the_vault_at_once_both_start(database: str) -> None:
    # The same race through the code path a start takes (open_pool migrates first), in two processes.
    import subprocess
    import sys

    code = (
        "import sys; from pydantic import SecretStr; from box_mcp.state.database import open_pool; "
        "open_pool(SecretStr(sys.argv[1]), name='t').close(); print('started')"
    )
    procs = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", code, database],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert _applied(database) == [(m.version, m.name) for m in MIGRATIONS]


def test_a_database_migrated_by_a_newer_box_mcp_stops_start_up(database: str) -> None:
    with _conn(database) as conn:
        migrate(conn, EXTRA)
        with pytest.raises(MigrationError, match=r"newer than this box-mcp knows.*upgrade box-mcp"):
            migrate(conn)


def test_a_released_migration_that_changed_stops_start_up(database: str) -> None:
    with _conn(database) as conn:
        migrate(conn, EXTRA)
        edited = (*MIGRATIONS, EXTRA[-2], Migration(1002, "test row", "INSERT INTO race_probe VALUES (2)"))
        with pytest.raises(MigrationError, match=r"migration 1002 .* differs"):
            migrate(conn, edited)
        assert conn.execute("SELECT id FROM race_probe").fetchall() == [(1,)]


def test_a_failing_migration_leaves_nothing_half_applied_and_releases_the_lock(database: str) -> None:
    broken = (*MIGRATIONS, Migration(1001, "fails", "CREATE TABLE half (id INT); SELECT 1/0"))
    with _conn(database) as conn:
        with pytest.raises(MigrationError, match=r"migration 1001 .fails. failed and was rolled back.*zero"):
            migrate(conn, broken)
        assert conn.execute("SELECT to_regclass('half')").fetchone() == (None,)
    assert _applied(database) == [(m.version, m.name) for m in MIGRATIONS]  # the good ones stay
    with _conn(database) as other:  # the lock was released: another start proceeds
        assert migrate(other) == []


def test_migrations_out_of_order_are_refused(database: str) -> None:
    with _conn(database) as conn, pytest.raises(MigrationError, match="increasing"):
        migrate(conn, (Migration(2, "b", "SELECT 1"), Migration(1, "a", "SELECT 1")))
