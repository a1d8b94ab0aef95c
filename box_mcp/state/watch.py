"""The watchers' state in PostgreSQL (schema migration 8): webhook delivery ids already accepted, shared
by every replica (Box's retry of a delivery one replica took is a duplicate on all of them), and the
events follower's stream positions."""

from __future__ import annotations

import anyio.to_thread
from psycopg_pool import ConnectionPool
from pydantic import SecretStr

from box_mcp.state.database import open_pool
from box_mcp.watch.state import Position, check_stream

KEEP_DAYS = 7  # Box's retries of one delivery end long before this; older ids are pruned
PRUNE_EVERY = 500  # claims between two prunes


class PostgresSeen:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._claims = 0

    @classmethod
    def open(cls, url: SecretStr) -> PostgresSeen:
        return cls(open_pool(url, name="box-mcp-webhook-deliveries"))

    def close(self) -> None:
        self._pool.close()

    def _claim(self, delivery_id: str) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(
                "INSERT INTO webhook_deliveries_seen (delivery_id) VALUES (%s) "
                "ON CONFLICT (delivery_id) DO NOTHING RETURNING delivery_id",
                (delivery_id,),
            ).fetchone()
            self._claims += 1
            if self._claims % PRUNE_EVERY == 0:
                conn.execute(
                    "DELETE FROM webhook_deliveries_seen "
                    "WHERE received_at < now() - make_interval(days => %s)",
                    (KEEP_DAYS,),
                )
            return row is not None

    async def claim(self, delivery_id: str) -> bool:
        return await anyio.to_thread.run_sync(self._claim, delivery_id)

    def _release(self, delivery_id: str) -> None:
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM webhook_deliveries_seen WHERE delivery_id = %s", (delivery_id,))

    async def release(self, delivery_id: str) -> None:
        await anyio.to_thread.run_sync(self._release, delivery_id)


class PostgresPositions:
    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    @classmethod
    def open(cls, url: SecretStr) -> PostgresPositions:
        return cls(open_pool(url, name="box-mcp-event-positions"))

    def close(self) -> None:
        self._pool.close()

    def _load(self, stream: str) -> Position | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT state FROM event_stream_positions WHERE stream = %s", (check_stream(stream),)
            ).fetchone()
        return Position.from_json(str(row[0])) if row is not None else None

    async def load(self, stream: str) -> Position | None:
        return await anyio.to_thread.run_sync(self._load, stream)

    def _save(self, stream: str, position: Position) -> None:
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO event_stream_positions (stream, state) VALUES (%s, %s) "
                "ON CONFLICT (stream) DO UPDATE SET state = excluded.state, updated = now()",
                (check_stream(stream), position.to_json()),
            )

    async def save(self, stream: str, position: Position) -> None:
        await anyio.to_thread.run_sync(self._save, stream, position)
