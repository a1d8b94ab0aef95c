"""The session registry on PostgreSQL: which replica holds a session, whether it is alive (by the
database's clock), and what a replica's heartbeat, shutdown and death leave behind."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from pydantic import SecretStr

from box_mcp.state import sessions
from box_mcp.state.database import DatabaseError
from box_mcp.state.sessions import SessionRegistry

ALICE = {"client_id": "alice", "issuer": None, "subject": None}


@pytest.fixture
def pair(database: str) -> Iterator[tuple[SessionRegistry, SessionRegistry]]:
    a = SessionRegistry.open(SecretStr(database), url="http://127.0.0.1:8001")
    b = SessionRegistry.open(SecretStr(database), url="http://127.0.0.1:8002")
    try:
        a.register()
        b.register()
        yield a, b
    finally:
        a.close()
        b.close()


def _age(database: str, replica: SessionRegistry, seconds: float) -> None:
    """Make `replica`'s last heartbeat `seconds` old (as if it had stopped then)."""
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(
            "UPDATE replicas SET heartbeat = now() - make_interval(secs => %s) WHERE replica_id = %s",
            (seconds, replica.replica_id),
        )


def test_a_session_is_found_on_the_replica_that_recorded_it_by_any_replica(
    pair: tuple[SessionRegistry, SessionRegistry],
) -> None:
    a, b = pair
    a.add("s1", agent="alice", principal=ALICE)
    owner = b.owner("s1")
    assert owner is not None
    assert (owner.replica.replica_id, owner.replica.url, owner.replica.alive) == (
        a.replica_id,
        "http://127.0.0.1:8001",
        True,
    )
    assert b.owner("unknown") is None


def test_a_replica_that_stops_heartbeating_is_dead_after_the_alive_window(
    pair: tuple[SessionRegistry, SessionRegistry], database: str
) -> None:
    a, b = pair
    a.add("s1", agent="alice", principal=ALICE)
    _age(database, a, sessions.ALIVE_S + 1)
    owner = b.owner("s1")
    assert owner is not None and not owner.replica.alive
    present, replicas = a.heartbeat()  # it comes back
    assert present and replicas[a.replica_id].alive
    assert b.owner("s1") is not None and b.owner("s1").replica.alive  # type: ignore[union-attr]


def test_a_long_dead_replica_is_forgotten_with_its_sessions_and_comes_back_if_it_was_not_dead(
    pair: tuple[SessionRegistry, SessionRegistry], database: str
) -> None:
    a, b = pair
    a.add("s1", agent="alice", principal=ALICE)
    _age(database, a, sessions.FORGET_S + 1)
    present, replicas = b.heartbeat()
    assert present and a.replica_id not in replicas
    assert b.owner("s1") is None  # gone by cascade: its requests answer 404
    present, _ = a.heartbeat()  # it was only cut off from the database
    assert not present  # so it registers again and re-adds what it holds
    a.register()
    a.add_many([("s1", "alice", ALICE)])
    assert b.owner("s1") is not None


def test_ending_a_session_or_a_replica_removes_its_rows(
    pair: tuple[SessionRegistry, SessionRegistry], database: str
) -> None:
    a, b = pair
    a.add("s1", agent="alice", principal=ALICE)
    a.add("s2", agent="alice", principal=None)
    b.remove("s1")  # not b's: nothing happens
    assert a.owner("s1") is not None
    a.remove("s1")
    assert b.owner("s1") is None
    a.unregister()
    assert b.owner("s2") is None
    with psycopg.connect(database, autocommit=True) as conn:
        rows = conn.execute("SELECT replica_id FROM replicas").fetchall()
        assert rows == [(b.replica_id,)]


def test_heartbeat_marks_the_touched_sessions_seen_and_records_the_principal(
    pair: tuple[SessionRegistry, SessionRegistry], database: str
) -> None:
    a, _ = pair
    a.add("s1", agent="alice", principal=ALICE)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE mcp_sessions SET last_seen = now() - interval '1 hour'")
        a.heartbeat(["s1"])
        row = conn.execute(
            "SELECT agent, principal, last_seen > now() - interval '1 minute' FROM mcp_sessions"
        ).fetchone()
    assert row == ("alice", '{"client_id": "alice", "issuer": null, "subject": null}', True)


def test_an_unreachable_database_is_a_clear_error_without_the_password() -> None:
    url = SecretStr("postgresql://box:s3cret-pw@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as caught:
        SessionRegistry.open(url, url="http://127.0.0.1:8001")
    assert "s3cret-pw" not in str(caught.value) and "BOX_MCP_DATABASE_URL" in str(caught.value)


def test_a_database_gone_after_start_is_a_database_error(database: str) -> None:
    registry = SessionRegistry.open(SecretStr(database), url="http://127.0.0.1:8001")
    registry.register()
    with psycopg.connect(database.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (database.rsplit("/", 1)[1],),
        )
    try:
        # The pool replaces the killed connection when it is taken (check=), so this still works.
        registry.add("s1", agent=None, principal=None)
        assert registry.owner("s1") is not None
    finally:
        registry.close()
    with pytest.raises(DatabaseError, match="cannot look up a session's replica"):
        registry.owner("s1")  # a closed pool: what a call during shutdown sees
