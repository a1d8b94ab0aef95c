"""Retries, back-off, Retry-After, deadlines, verify-before-redo and 401 handling, on a mock transport."""

from __future__ import annotations

import anyio
import httpx2
import pytest

from box_mcp.box import BoxAPIError, BoxTransportError

pytestmark = pytest.mark.anyio


def sequence(*answers):
    """A handler answering each request with the next item (a Response, or an exception to raise)."""
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        answer = answers[min(len(seen), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


async def test_429_is_retried_after_the_retry_after_seconds(make_client, fake_time, box_error):
    handler = sequence(
        box_error(429, "rate_limit_exceeded", retry_after=3), httpx2.Response(200, json={"id": "1"})
    )
    client = make_client(handler)
    assert await client.get("/files/1") == {"id": "1"}
    assert fake_time.sleeps == [3.0]
    assert len(handler.seen) == 2


async def test_503_on_a_read_is_retried_with_full_jitter_backoff(make_client, fake_time, box_error):
    handler = sequence(*[box_error(503, "unavailable")] * 3, httpx2.Response(200, json={}))
    client = make_client(handler, backoff_base=1.0, backoff_cap=30.0)
    await client.get("/folders/0")
    assert len(fake_time.sleeps) == 3
    for n, slept in enumerate(fake_time.sleeps, start=1):
        assert 0.0 <= slept <= 2 ** (n - 1)


async def test_retries_stop_at_max_attempts_with_boxs_last_error(make_client, fake_time, box_error):
    handler = sequence(box_error(500, "internal_server_error", "Internal Server Error"))
    client = make_client(handler, max_attempts=3)
    with pytest.raises(BoxAPIError) as info:
        await client.get("/files/1")
    assert info.value.status == 500
    assert len(handler.seen) == 3
    assert "back-off" in str(info.value)


async def test_a_retry_after_beyond_the_deadline_gives_up_at_once(make_client, fake_time, box_error):
    handler = sequence(box_error(429, "rate_limit_exceeded", retry_after=120))
    client = make_client(handler, deadline=60)
    with pytest.raises(BoxAPIError) as info:
        await client.get("/files/1")
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.retry_after == 120
    assert fake_time.sleeps == []
    assert "Retry after 120 s" in str(info.value)


async def test_a_box_that_never_answers_hits_the_deadline(make_client):
    async def handler(request: httpx2.Request) -> httpx2.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    client = make_client(handler, deadline=0.05)
    client.retry.clock = anyio.current_time  # the deadline is real time here
    with anyio.fail_after(5), pytest.raises(BoxTransportError, match="did not answer within"):
        await client.get("/files/1")


async def test_a_create_is_retried_after_429_because_box_did_nothing(make_client, box_error):
    handler = sequence(
        box_error(429, "rate_limit_exceeded", retry_after=1), httpx2.Response(201, json={"id": "9"})
    )
    client = make_client(handler)
    assert await client.post("/folders", json={"name": "a", "parent": {"id": "0"}}) == {"id": "9"}
    assert len(handler.seen) == 2


async def test_a_create_that_gets_503_is_not_redone_without_verify(make_client, box_error):
    handler = sequence(box_error(503, "unavailable"), httpx2.Response(201, json={"id": "9"}))
    client = make_client(handler)
    with pytest.raises(BoxAPIError) as info:
        await client.post("/folders", json={"name": "a", "parent": {"id": "0"}})
    assert info.value.status == 503
    assert len(handler.seen) == 1


async def test_a_create_that_got_503_but_happened_returns_what_verify_found(make_client, box_error):
    handler = sequence(box_error(503, "unavailable"), httpx2.Response(201, json={"id": "dup"}))
    client = make_client(handler)
    checks = []

    async def verify():
        checks.append(1)
        return {"id": "9", "name": "a"}

    result = await client.post("/folders", json={"name": "a"}, verify=verify)
    assert result == {"id": "9", "name": "a"}
    assert checks == [1]
    assert len(handler.seen) == 1


async def test_a_create_that_got_503_and_did_not_happen_is_redone(make_client, box_error):
    handler = sequence(box_error(502, "bad_gateway"), httpx2.Response(201, json={"id": "9"}))
    client = make_client(handler)

    async def verify():
        return None

    assert await client.post("/folders", json={"name": "a"}, verify=verify) == {"id": "9"}
    assert len(handler.seen) == 2


async def test_a_connection_failure_before_sending_is_retried_even_for_a_create(make_client):
    handler = sequence(httpx2.ConnectError("refused"), httpx2.Response(201, json={"id": "9"}))
    client = make_client(handler)
    assert await client.post("/folders", json={"name": "a"}) == {"id": "9"}


async def test_a_create_cut_off_mid_answer_is_reported_not_redone(make_client):
    handler = sequence(httpx2.ReadError("reset"), httpx2.Response(201, json={"id": "9"}))
    client = make_client(handler)
    with pytest.raises(BoxTransportError, match="may or may not have happened"):
        await client.post("/folders", json={"name": "a"})
    assert len(handler.seen) == 1


async def test_a_read_cut_off_mid_answer_is_retried(make_client):
    handler = sequence(httpx2.ReadError("reset"), httpx2.Response(200, json={"id": "1"}))
    client = make_client(handler)
    assert await client.get("/files/1") == {"id": "1"}


async def test_network_down_ends_in_a_transport_error_after_max_attempts(make_client):
    handler = sequence(httpx2.ConnectError("refused"))
    client = make_client(handler, max_attempts=2)
    with pytest.raises(BoxTransportError, match="after 2 attempt"):
        await client.get("/files/1")


async def test_delete_with_if_match_is_retried_on_503_but_plain_delete_is_not(make_client, box_error):
    guarded = sequence(box_error(503, "unavailable"), httpx2.Response(204))
    client = make_client(guarded)
    assert await client.delete("/files/1", if_match="3") is None
    assert guarded.seen[1].headers["If-Match"] == "3"

    plain = sequence(box_error(503, "unavailable"), httpx2.Response(204))
    client = make_client(plain)
    with pytest.raises(BoxAPIError):
        await client.delete("/files/1")
    assert len(plain.seen) == 1


async def test_a_post_marked_idempotent_is_retried_on_500(make_client, box_error):
    handler = sequence(box_error(500, "internal_server_error"), httpx2.Response(200, json={"entries": []}))
    client = make_client(handler)
    await client.post("/metadata_queries/execute_read", json={}, idempotent=True)
    assert len(handler.seen) == 2


class RotatingToken:
    def __init__(self) -> None:
        self.issued = 0
        self.invalidated: list[str] = []

    async def access_token(self) -> str:
        return f"tok-{self.issued}"

    async def invalidate(self, token: str) -> None:
        self.invalidated.append(token)
        self.issued += 1


async def test_a_401_invalidates_the_token_once_and_retries_with_a_fresh_one(make_client, box_error):
    handler = sequence(box_error(401, "unauthorized"), httpx2.Response(200, json={"id": "1"}))
    tokens = RotatingToken()
    client = make_client(handler, token_source=tokens)
    assert await client.get("/users/me") == {"id": "1"}
    assert tokens.invalidated == ["tok-0"]
    assert handler.seen[1].headers["Authorization"] == "Bearer tok-1"


async def test_a_second_401_is_final(make_client, box_error):
    handler = sequence(box_error(401, "invalid_token", "The access token provided is invalid."))
    tokens = RotatingToken()
    client = make_client(handler, token_source=tokens)
    with pytest.raises(BoxAPIError) as info:
        await client.get("/users/me")
    assert info.value.code == "invalid_token"
    assert tokens.invalidated == ["tok-0"]
    assert len(handler.seen) == 2


async def test_a_401_with_a_developer_token_is_not_retried(make_client, box_error):
    handler = sequence(box_error(401, "unauthorized"))
    client = make_client(handler)
    with pytest.raises(BoxAPIError, match="401 unauthorized"):
        await client.get("/users/me")
    assert len(handler.seen) == 1


async def test_a_verify_that_cannot_tell_reports_the_original_failure(make_client, box_error):
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            return box_error(503, "unavailable", "Unavailable")
        return box_error(500, "internal_server_error")

    client = make_client(handler, max_attempts=1)

    async def verify():
        return await client.post("/search", idempotent=True)  # itself fails with a 500

    with pytest.raises(BoxAPIError) as info:
        await client.post("/folders", json={"name": "a"}, verify=verify)
    assert info.value.status == 503


async def test_a_write_on_its_last_attempt_is_still_checked(make_client, box_error):
    handler = sequence(box_error(503, "unavailable"))
    client = make_client(handler, max_attempts=1)

    async def verify():
        return {"id": "9"}

    assert await client.post("/folders", json={"name": "a"}, verify=verify) == {"id": "9"}
    assert len(handler.seen) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("scope", ["asyncio", "anyio"])
async def test_the_request_deadline_raises_timeout_and_leaves_outer_cancels_alone(scope):
    # The client uses asyncio's timeout on asyncio's loop and anyio's scope elsewhere: both must raise
    # TimeoutError at the deadline, and neither may turn a cancel from outside into one.
    from box_mcp.box import client as client_module

    deadline = client_module._fail_after if scope == "asyncio" else client_module._anyio_fail_after
    with pytest.raises(TimeoutError):
        async with deadline(0.01):
            await anyio.sleep(5)
    with anyio.move_on_after(0.01) as outer:
        async with deadline(5):
            await anyio.sleep(5)
    assert outer.cancelled_caught
