"""Which replica holds each handshake-era MCP session, in PostgreSQL: replicas heartbeat their own row,
and a session row names the replica whose in-memory transport serves it.

A legacy (2025-11-25 and older) session lives in one process: its transport holds the GET stream, the
requests awaiting an elicitation answer, and what list_changed and resumability will need. Another
replica that receives one of its requests looks the owner up here and forwards the request
(box_mcp.http.forward). The 2026-07-28 era has no sessions and needs none of this.

Time is the database's (`now()`), never a replica's clock, so skewed clocks cannot make a live replica
look dead. A replica that stops heartbeating is dead after ALIVE_S; its rows go after FORGET_S (its
sessions with them, by cascade). Calls are blocking psycopg on a small pool; async callers use the
`a*` methods, which run them in a worker thread.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import psycopg
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from box_mcp.state.database import DatabaseError, describe, open_pool

log = logging.getLogger("box_mcp.sessions")

HEARTBEAT_S = 2.0  # how often a replica says it is alive (and touches its sessions' last_seen)
ALIVE_S = 10.0  # a replica whose last heartbeat is older than this is dead: its sessions answer 404
FORGET_S = 120.0  # a dead replica's rows (and, by cascade, its sessions') are deleted after this long


@dataclass(frozen=True, slots=True)
class Replica:
    replica_id: str
    url: str
    alive: bool


@dataclass(frozen=True, slots=True)
class Owner:
    """The replica holding a session, as the registry saw it."""

    session_id: str
    replica: Replica


class SessionRegistry:
    """One replica's view of the registry: its own row (`replica_id`, reachable at `url`) and lookups."""

    def __init__(self, pool: ConnectionPool, *, url: str, database_url: SecretStr) -> None:
        self.pool = pool
        self.url = url
        self.replica_id = uuid.uuid4().hex  # a restarted process is a new replica: its sessions died with it
        self._database_url = database_url

    def __repr__(self) -> str:
        return f"SessionRegistry(replica_id={self.replica_id!r}, url={self.url!r})"

    @classmethod
    def open(cls, database_url: SecretStr, *, url: str) -> SessionRegistry:
        """Connect (migrating the schema first); DatabaseError names the masked URL when that fails."""
        return cls(open_pool(database_url, name="box-mcp-sessions"), url=url, database_url=database_url)

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def _transaction(self, what: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
        """A pooled connection in one transaction; a psycopg error (PoolTimeout included: the database
        out of reach for POOL_WAIT seconds) becomes a DatabaseError saying what could not be done."""
        try:
            with self.pool.connection() as conn, conn.transaction():
                yield conn
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot {what} in {describe(self._database_url, exc)}") from None

    def _run(self, what: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        with self._transaction(what) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description is not None else []

    # -- this replica ---------------------------------------------------------------------------

    def register(self) -> None:
        """Insert (or refresh) this replica's row: it is alive from now."""
        self._run(
            "register this replica",
            "INSERT INTO replicas (replica_id, url) VALUES (%s, %s) ON CONFLICT (replica_id) DO UPDATE"
            " SET url = EXCLUDED.url, heartbeat = now()",
            (self.replica_id, self.url),
        )

    def heartbeat(self, touched: Iterable[str] = ()) -> tuple[bool, dict[str, Replica]]:
        """Say this replica is alive, mark `touched` sessions seen, forget long-dead replicas; returns
        (whether this replica's row was still there, every known replica). A missing row means others
        took this replica for dead (the database was out of reach past FORGET_S): the caller registers
        again and re-adds its sessions."""
        with self._transaction("heartbeat") as conn:
            found = conn.execute(
                "UPDATE replicas SET heartbeat = now() WHERE replica_id = %s", (self.replica_id,)
            ).rowcount
            ids = list(touched)
            if ids:
                conn.execute(
                    "UPDATE mcp_sessions SET last_seen = now()"
                    " WHERE replica_id = %s AND session_id = ANY(%s)",
                    (self.replica_id, ids),
                )
            conn.execute(
                "DELETE FROM replicas WHERE heartbeat < now() - make_interval(secs => %s)", (FORGET_S,)
            )
            rows = conn.execute(
                "SELECT replica_id, url, heartbeat > now() - make_interval(secs => %s) FROM replicas",
                (ALIVE_S,),
            ).fetchall()
        return found == 1, {str(r[0]): Replica(str(r[0]), str(r[1]), bool(r[2])) for r in rows}

    def unregister(self) -> None:
        """On shutdown: this replica's row and, by cascade, its sessions' rows go."""
        self._run("unregister this replica", "DELETE FROM replicas WHERE replica_id = %s", (self.replica_id,))

    # -- sessions -------------------------------------------------------------------------------

    def add(self, session_id: str, *, agent: str | None, principal: Mapping[str, Any] | None) -> None:
        """Record that this replica holds `session_id` (opened by `principal`)."""
        self.add_many([(session_id, agent, principal)])

    def add_many(self, sessions: Iterable[tuple[str, str | None, Mapping[str, Any] | None]]) -> None:
        rows = [
            (sid, self.replica_id, agent, None if p is None else json.dumps(dict(p), sort_keys=True))
            for sid, agent, p in sessions
        ]
        if not rows:
            return
        with self._transaction("record a session") as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO mcp_sessions (session_id, replica_id, agent, principal) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (session_id) DO UPDATE SET replica_id = EXCLUDED.replica_id,"
                " agent = EXCLUDED.agent, principal = EXCLUDED.principal, last_seen = now()",
                rows,
            )

    def remove(self, session_id: str) -> None:
        """The session ended here (DELETE, idle expiry): forget it, if it is this replica's."""
        self._run(
            "forget a session",
            "DELETE FROM mcp_sessions WHERE session_id = %s AND replica_id = %s",
            (session_id, self.replica_id),
        )

    def owner(self, session_id: str) -> Owner | None:
        """Who holds `session_id`, with that replica's liveness now; None when no replica does."""
        rows = self._run(
            "look up a session's replica",
            "SELECT r.replica_id, r.url, r.heartbeat > now() - make_interval(secs => %s)"
            " FROM mcp_sessions s JOIN replicas r USING (replica_id) WHERE s.session_id = %s",
            (ALIVE_S, session_id),
        )
        if not rows:
            return None
        replica_id, url, alive = rows[0]
        return Owner(session_id, Replica(str(replica_id), str(url), bool(alive)))

    # -- async faces (a worker thread each: the event loop never waits on the database) -----------

    async def aregister(self) -> None:
        await anyio.to_thread.run_sync(self.register)

    async def aheartbeat(self, touched: Iterable[str] = ()) -> tuple[bool, dict[str, Replica]]:
        ids = list(touched)
        return await anyio.to_thread.run_sync(lambda: self.heartbeat(ids))

    async def aunregister(self) -> None:
        await anyio.to_thread.run_sync(self.unregister)

    async def aadd(self, session_id: str, *, agent: str | None, principal: Mapping[str, Any] | None) -> None:
        await anyio.to_thread.run_sync(lambda: self.add(session_id, agent=agent, principal=principal))

    async def aadd_many(self, sessions: Iterable[tuple[str, str | None, Mapping[str, Any] | None]]) -> None:
        rows = list(sessions)
        await anyio.to_thread.run_sync(lambda: self.add_many(rows))

    async def aremove(self, session_id: str) -> None:
        await anyio.to_thread.run_sync(self.remove, session_id)

    async def aowner(self, session_id: str) -> Owner | None:
        return await anyio.to_thread.run_sync(self.owner, session_id)
