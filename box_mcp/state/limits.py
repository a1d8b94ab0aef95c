"""Rate limits on PostgreSQL: one sliding-window budget per agent for every replica on the database.

`PostgresRateLimiter.check` is one statement, one round trip: the `rate_limit_check` function (schema
migration 4) takes a transaction-scoped advisory lock on the agent, counts its calls and writes in the
window, and records the call only if it is admitted, so two replicas racing for an agent's last call
admit exactly one. Windows run on the database's clock, the one clock every replica shares.

The counters are not durable state: their table is UNLOGGED and the function commits without waiting for
a WAL flush, so a PostgreSQL crash forgets at most the last minute of counting, and a call pays for no
disk sync. The pool is async (the gate checks on the event loop) and skips the pool's per-checkout ping
(a second round trip): a connection PostgreSQL dropped fails the statement, and the check is retried once
on a fresh one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import psycopg
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from box_mcp.config import mask_url
from box_mcp.policy.limits import WINDOW, Budget, limited, refusal
from box_mcp.policy.model import RateLimits
from box_mcp.state.database import CONNECT_TIMEOUT, POOL_SIZE, POOL_WAIT, DatabaseError, connect, describe

log = logging.getLogger("box_mcp.state.limits")

# The eight-argument rate_limit_check (migration 10) also counts Box AI calls.
_CHECK = "SELECT refused, oldest, checked_at FROM rate_limit_check(%s, %s, %s, %s, %s, %s, %s, %s)"

UNREACHABLE = (
    "the deployment's rate-limit counters (in its database) cannot be reached right now, so the call was "
    "not run; nothing was sent to Box. Retry in a few seconds."
)


class PostgresRateLimiter:
    """`Limiter` on PostgreSQL, shared by every process with the same BOX_MCP_DATABASE_URL.

    `clock` (seconds) replaces the database's clock, for tests that move time; every process on one
    database must then use the same clock."""

    def __init__(self, url: SecretStr, pool: AsyncConnectionPool, clock: Callable[[], float] | None) -> None:
        self._url = url
        self._pool = pool
        self._clock = clock

    @classmethod
    async def open(
        cls, url: SecretStr, *, clock: Callable[[], float] | None = None, wait: float = POOL_WAIT
    ) -> PostgresRateLimiter:
        """Migrate the schema, then open the pool; DatabaseError (naming the masked URL) if either fails.
        `wait`: how long a check waits for a working connection (PostgreSQL restarting) before refusing."""
        from box_mcp.state.migrations import migrate

        try:
            with connect(url) as conn:
                migrate(conn)
        except psycopg.Error as exc:
            raise DatabaseError(f"cannot migrate the schema of {describe(url, exc)}") from None
        pool: AsyncConnectionPool = AsyncConnectionPool(
            url.get_secret_value(),
            min_size=1,
            max_size=POOL_SIZE,
            name="box-mcp-rate-limits",
            open=False,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            timeout=wait,
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except psycopg.Error as exc:  # PoolTimeout included
            await pool.close()
            raise DatabaseError(f"cannot open a connection pool to {describe(url, exc)}") from None
        return cls(url, pool, clock)

    def __repr__(self) -> str:
        return f"PostgresRateLimiter({mask_url(self._url.get_secret_value())!r})"

    async def check(self, agent: str, limits: RateLimits, is_write: bool, is_ai: bool = False) -> str | None:
        if not limited(limits, is_write, is_ai):
            return None  # nothing to count: no round trip
        now = self._clock() if self._clock is not None else None
        ai = limits.ai_calls_per_minute
        params = (agent, limits.calls_per_minute, limits.writes_per_minute, is_write, ai, is_ai, now, WINDOW)
        row: tuple[object, ...] | None = None
        for attempt in range(2):  # a connection PostgreSQL dropped (a restart) fails once; then a fresh one
            try:
                async with self._pool.connection() as conn:
                    row = await (await conn.execute(_CHECK, params)).fetchone()
                break
            except psycopg.OperationalError as exc:
                if attempt == 1:
                    return self._unreachable(exc)
            except psycopg.Error as exc:  # PoolTimeout included: nothing answered within POOL_WAIT
                return self._unreachable(exc)
        if row is None:
            return self._unreachable(None)
        refused, oldest, checked_at = row
        if refused is None:
            return None
        what = cast(Budget, str(refused))
        limit = {"calls": limits.calls_per_minute, "writes": limits.writes_per_minute}.get(what, ai)
        assert limit is not None  # the function refuses only on a limit it was given
        return refusal(agent, what, limit, _seconds(oldest), float(cast(float, checked_at)))

    def _unreachable(self, exc: psycopg.Error | None) -> str:
        detail = describe(self._url, exc) if exc is not None else "no answer from rate_limit_check"
        log.error("rate limits could not be checked: %s", detail)
        return UNREACHABLE

    async def aclose(self) -> None:
        await self._pool.close()


def _seconds(value: object) -> float | None:
    return None if value is None else float(cast(float, value))


def recent_usage(url: SecretStr, agent: str) -> tuple[int, int] | None:
    """(calls, writes) the shared budget counted for `agent` in the last window (what the console
    shows); None when the database cannot be read. The rows older than the window may linger until the
    agent's next call: they are not counted."""
    try:
        conn = connect(url)
    except DatabaseError:
        return None
    try:
        row = conn.execute(
            "SELECT count(*) FILTER (WHERE counts_call), count(*) FILTER (WHERE counts_write) "
            "FROM rate_limit_events WHERE agent = %s AND at > extract(epoch FROM clock_timestamp()) - %s",
            (agent, WINDOW),
        ).fetchone()
    except psycopg.Error:
        return None
    finally:
        conn.close()
    return (int(cast(int, row[0])), int(cast(int, row[1]))) if row is not None else None
