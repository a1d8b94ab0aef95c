"""Rate limits shared by replicas: time per `check` on PostgreSQL (one round trip, advisory-locked) against
the in-process limiter and against a bare `SELECT 1` round trip on the same pool, measured in the same
run; and checks/s when 16 concurrent calls of one agent contend for its lock.

Run: python bench/shared_limits.py   (PostgreSQL on 127.0.0.1:5432, or BOX_MCP_BENCH_POSTGRES_URL naming
an admin connection; the bench makes a throwaway database and drops it)
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import psycopg
from _common import Results, parser, pct
from pydantic import SecretStr

from box_mcp.policy.limits import RateLimiter
from box_mcp.policy.model import RateLimits
from box_mcp.state.limits import PostgresRateLimiter

ADMIN = os.environ.get("BOX_MCP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
LIMITS = RateLimits(calls_per_minute=10_000_000, writes_per_minute=10_000_000)  # every call admitted


async def timed(n: int, step: Callable[[int], Awaitable[object]]) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        await step(i)
        out.append((time.perf_counter_ns() - t0) / 1000)
    return out


async def main(quick: bool, out: Results, url: str) -> None:
    n = 300 if quick else 5000
    memory = RateLimiter()
    limiter = await PostgresRateLimiter.open(SecretStr(url))
    try:
        floor_conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        try:

            async def select_one(i: int) -> object:
                return await (await floor_conn.execute("SELECT 1")).fetchone()

            async def shared(i: int) -> object:
                return await limiter.check(f"agent-{i % 20}", LIMITS, i % 3 == 0)

            async def local(i: int) -> object:
                return await memory.check(f"agent-{i % 20}", LIMITS, i % 3 == 0)

            await timed(50, shared)  # warm: connections open, statements prepared
            base = await timed(n, select_one)
            pg = await timed(n, shared)
            mem = await timed(n, local)
        finally:
            await floor_conn.close()
        per_task = 20 if quick else 200

        async def contend() -> None:
            for _ in range(per_task):
                await limiter.check("one-agent", LIMITS, False)

        t0 = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(contend)
        rate = 16 * per_task / (time.perf_counter() - t0)
    finally:
        await limiter.aclose()
    out.say("time per rate-limit check, microseconds (loopback PostgreSQL)")
    for name, xs in (("SELECT 1 round trip", base), ("PostgreSQL check", pg), ("in-process check", mem)):
        out.say(f"  {name:<22} p50 {statistics.median(xs):8.1f}  p99 {pct(xs, 99):8.1f}")
    out.figure("PostgreSQL check p50", statistics.median(pg), "us", 1000.0)
    out.ratio("PostgreSQL check / SELECT 1 round trip p50", statistics.median(pg) / statistics.median(base))
    out.figure("checks/s, 16 concurrent calls of one agent", rate, "checks/s")


def entry() -> int:
    args = parser(__doc__).parse_args()
    out = Results("shared_limits", args)
    name = f"box_mcp_bench_limits_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # our own letters and digits
    try:
        anyio.run(main, args.quick, out, ADMIN.partition("?")[0].rsplit("/", 1)[0] + "/" + name)
    finally:
        with psycopg.connect(ADMIN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return out.finish()


if __name__ == "__main__":
    sys.exit(entry())
