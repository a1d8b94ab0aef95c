"""Per-agent rate limits: calls and writes per minute, sliding windows, refusals not counted."""

from __future__ import annotations

from box_mcp.policy.limits import RateLimiter
from box_mcp.policy.model import RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_calls_per_minute_refuses_the_call_over_the_limit_and_says_when_to_retry():
    clock = Clock()
    limiter = RateLimiter(clock)
    limits = RateLimits(calls_per_minute=2)
    assert limiter.check("a", limits, False) is None
    clock.now += 10
    assert limiter.check("a", limits, False) is None
    refusal = limiter.check("a", limits, False)
    assert refusal == "a reached its limit of 2 calls per minute; retry in 50 s."
    clock.now += 50
    assert limiter.check("a", limits, False) is None  # the first call left the window


def test_writes_have_their_own_budget_and_reads_do_not_use_it():
    clock = Clock()
    limiter = RateLimiter(clock)
    limits = RateLimits(calls_per_minute=100, writes_per_minute=1)
    assert limiter.check("a", limits, True) is None
    assert limiter.check("a", limits, False) is None
    assert "limit of 1 writes per minute" in (limiter.check("a", limits, True) or "")
    assert limiter.check("b", limits, True) is None  # per agent


def test_zero_writes_means_read_only_and_no_limits_means_unlimited():
    limiter = RateLimiter(Clock())
    assert (
        limiter.check("a", RateLimits(writes_per_minute=0), True)
        == "a may make no writes (its limit is 0 per minute)."
    )
    assert all(limiter.check("a", RateLimits(), True) is None for _ in range(1000))


def test_refused_calls_are_not_counted():
    clock = Clock()
    limiter = RateLimiter(clock)
    limits = RateLimits(calls_per_minute=1)
    assert limiter.check("a", limits, False) is None
    for _ in range(5):
        assert limiter.check("a", limits, False) is not None
    clock.now += 60
    assert limiter.check("a", limits, False) is None
