"""Per-agent rate limits: calls and writes per minute, sliding windows, refusals not counted; the same
sentences from the in-process limiter and from the one every replica shares in PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import anyio
import psycopg
import pytest
from pydantic import SecretStr

from box_mcp.policy.limits import Limiter, RateLimiter
from box_mcp.policy.model import RateLimits
from box_mcp.state.limits import UNREACHABLE, PostgresRateLimiter
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


MakeLimiter = Callable[[Clock], Awaitable[Limiter]]


@pytest.fixture(params=["memory", "postgres"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    """Limiters on one clock: in this process, or in one fresh PostgreSQL database (each a pool)."""
    async with AsyncExitStack() as stack:
        if request.param == "memory":

            async def memory(clock: Clock) -> Limiter:
                return RateLimiter(clock)

            yield memory
            return
        url = stack.enter_context(fresh_database("limits"))

        async def postgres(clock: Clock) -> Limiter:
            limiter = await PostgresRateLimiter.open(SecretStr(url), clock=clock)
            stack.push_async_callback(limiter.aclose)
            return limiter

        yield postgres


async def test_calls_per_minute_refuses_the_call_over_the_limit_and_says_when_to_retry(
    make_limiter: MakeLimiter,
) -> None:
    clock = Clock()
    limiter = await make_limiter(clock)
    limits = RateLimits(calls_per_minute=2)
    assert await limiter.check("a", limits, False) is None
    clock.now += 10
    assert await limiter.check("a", limits, False) is None
    refusal = await limiter.check("a", limits, False)
    assert refusal == "a reached its limit of 2 calls per minute; retry in 50 s."
    clock.now += 50
    assert await limiter.check("a", limits, False) is None  # the first call left the window


async def test_writes_have_their_own_budget_and_reads_do_not_use_it(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(Clock())
    limits = RateLimits(calls_per_minute=100, writes_per_minute=1)
    assert await limiter.check("a", limits, True) is None
    assert await limiter.check("a", limits, False) is None
    assert (
        await limiter.check("a", limits, True) == "a reached its limit of 1 writes per minute; retry in 60 s."
    )
    assert await limiter.check("b", limits, True) is None  # per agent


async def test_zero_writes_means_read_only_and_no_limits_means_unlimited(make_limiter: MakeLimiter) -> None:
    limiter = await make_limiter(Clock())
    assert (
        await limiter.check("a", RateLimits(writes_per_minute=0), True)
        == "a may make no writes (its limit is 0 per minute)."
    )
    for _ in range(200):
        assert await limiter.check("a", RateLimits(), True) is None


async def test_refused_calls_are_not_counted(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    limiter = await make_limiter(clock)
    limits = RateLimits(calls_per_minute=1)
    assert await limiter.check("a", limits, False) is None
    for _ in range(5):
        assert await limiter.check("a", limits, False) is not None
    clock.now += 60
    assert await limiter.check("a", limits, False) is None


async def test_two_limiters_on_one_database_share_one_budget(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    first, second = await make_limiter(clock), await make_limiter(clock)
    limits = RateLimits(calls_per_minute=3)
    assert await first.check("a", limits, False) is None
    assert await second.check("a", limits, False) is None
    shared = isinstance(first, PostgresRateLimiter)
    clock.now += 5
    assert await first.check("a", limits, False) is None
    fourth = await second.check("a", limits, False)
    if shared:  # replicas count together: the fourth call anywhere is over the limit
        assert fourth == "a reached its limit of 3 calls per minute; retry in 55 s."
    else:  # two processes' memories: each its own budget (why replicas need the database)
        assert fourth is None


def test_processes_racing_on_one_database_admit_exactly_the_limit() -> None:
    """Two limiters (two pools, as two replicas), each in its own thread and event loop, 30 concurrent
    checks each, started together: exactly `limit` are admitted in all."""
    limit, per_thread = 17, 30
    admitted: list[int] = []
    errors: list[BaseException] = []
    with fresh_database("limits_race") as url:
        start = threading.Barrier(2, timeout=30)

        async def replica() -> int:
            limiter = await PostgresRateLimiter.open(SecretStr(url))  # the database's own clock
            try:
                results: list[str | None] = []

                async def one() -> None:
                    results.append(await limiter.check("racer", RateLimits(calls_per_minute=limit), False))

                await anyio.to_thread.run_sync(start.wait)
                with anyio.fail_after(30):
                    async with anyio.create_task_group() as tg:
                        for _ in range(per_thread):
                            tg.start_soon(one)
                assert all(r is None or "reached its limit of 17 calls" in r for r in results)
                return sum(r is None for r in results)
            finally:
                await limiter.aclose()

        def run() -> None:
            try:
                admitted.append(anyio.run(replica))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        assert len(admitted) == 2 and sum(admitted) == limit
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM rate_limit_events WHERE agent = 'racer'").fetchone()
        assert row is not None and row[0] == limit  # refused calls left no row


async def test_rows_that_left_the_window_are_pruned() -> None:
    clock = Clock()
    with fresh_database("limits_prune") as url:
        limiter = await PostgresRateLimiter.open(SecretStr(url), clock=clock)
        try:
            for _ in range(50):
                assert (
                    await limiter.check("a", RateLimits(calls_per_minute=5, writes_per_minute=5), True)
                    is None
                )
                clock.now += 15  # at most four calls are ever in the window
        finally:
            await limiter.aclose()
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM rate_limit_events").fetchone()
    assert row is not None and row[0] <= 5


async def test_a_database_gone_refuses_the_call_saying_why_without_the_url() -> None:
    with fresh_database("limits_gone") as url:
        limiter = await PostgresRateLimiter.open(SecretStr(url), wait=0.5)
        try:
            assert await limiter.check("a", RateLimits(calls_per_minute=5), False) is None
            with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
                admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            with anyio.fail_after(10):
                said = await limiter.check("a", RateLimits(calls_per_minute=5), False)
        finally:
            await limiter.aclose()
    assert said == UNREACHABLE and "postgresql" not in said and "nothing was sent to Box" in said


async def test_ai_calls_per_minute_counts_only_box_ai_calls(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    limiter = await make_limiter(clock)
    limits = RateLimits(ai_calls_per_minute=2)
    assert await limiter.check("a", limits, False, True) is None
    assert await limiter.check("a", limits, True, False) is None  # not a Box AI call: not counted
    clock.now += 10
    assert await limiter.check("a", limits, False, True) is None
    refused = await limiter.check("a", limits, False, True)
    assert refused == "a reached its limit of 2 AI calls per minute; retry in 50 s."
    assert await limiter.check("a", limits, False, False) is None  # other tools go on
    clock.now += 50
    assert await limiter.check("a", limits, False, True) is None  # the first AI call left the window


async def test_no_ai_calls_at_all_and_a_refused_ai_call_costs_no_call(make_limiter: MakeLimiter) -> None:
    clock = Clock()
    limiter = await make_limiter(clock)
    limits = RateLimits(calls_per_minute=2, ai_calls_per_minute=0)
    assert (
        await limiter.check("a", limits, False, True) == "a may make no AI calls (its limit is 0 per minute)."
    )
    assert await limiter.check("a", limits, False) is None
    assert await limiter.check("a", limits, False) is None  # the refused AI call was not counted
    assert await limiter.check("a", limits, False, True) == (
        "a reached its limit of 2 calls per minute; retry in 60 s."
    )
