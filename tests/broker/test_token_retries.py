"""The token endpoint sends a grant again when Box is busy (429) or failing (5xx, connection errors):
Retry-After honoured, bounded back-off, one deadline, and an error that says what was tried and what to
do. Every grant is re-sent, a single-use one too (tokens.SINGLE_USE_GRANTS says why); when a re-sent
single-use grant is then refused, the error says an earlier attempt may have used it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import httpx2
import pytest

from box_mcp.broker.tokens import (
    JWT_BEARER_GRANT,
    BoxEndpoints,
    TokenEndpoint,
    TokenEndpointUnavailable,
    TokenRequestError,
)
from tests.broker.token_faults import FakeSleeps

if TYPE_CHECKING:
    from conftest import FakeClock

pytestmark = pytest.mark.anyio
CCG = {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "CS-secret-123"}
REFRESH = {
    "grant_type": "refresh_token",
    "refresh_token": "RT-secret-456",
    "client_id": "cid",
    "client_secret": "CS-secret-123",
}
JWT = {
    "grant_type": JWT_BEARER_GRANT,
    "assertion": "eyJ-assertion-secret-789",
    "client_id": "cid",
    "client_secret": "CS-secret-123",
}
OK = {"access_token": "AT-1", "expires_in": 3600}
Answer = httpx2.Response | Exception


def _script(answers: list[Answer]) -> tuple[Callable[[httpx2.Request], httpx2.Response], list[str]]:
    """A token endpoint answering from `answers` in turn (an exception is raised as the transport's);
    the list returned collects the grant_type of every request."""
    sent: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(dict(httpx2.QueryParams(request.content.decode()))["grant_type"])
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, sent


def _429(retry_after: str | None = None) -> httpx2.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx2.Response(
        429, json={"type": "error", "status": 429, "code": "rate_limit_exceeded"}, headers=headers
    )


async def _send(
    answers: list[Answer], form: dict[str, str], clock: FakeClock, sleeps: FakeSleeps, **policy: float
) -> tuple[TokenEndpoint, list[str], object]:
    """Send `form` once through a fresh endpoint; returns it, the grants Box saw, and the Token or error."""
    handler, sent = _script(answers)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        endpoint = TokenEndpoint(
            http,
            BoxEndpoints.for_box_url("http://127.0.0.1:8088"),
            clock=clock,
            retry=sleeps.policy(**policy),
        )
        try:
            result: object = await endpoint.request(form, what="the client credentials grant")
        except (TokenRequestError, TokenEndpointUnavailable) as exc:
            result = exc
    return endpoint, sent, result


@pytest.fixture
def sleeps(clock: FakeClock) -> FakeSleeps:
    return FakeSleeps(clock)


async def test_a_429_waits_as_long_as_box_asks_and_the_third_attempt_gets_the_token(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    started = clock.now
    endpoint, sent, token = await _send(
        [_429("3"), _429("3"), httpx2.Response(200, json=OK)], CCG, clock, sleeps
    )
    assert sleeps.sleeps == [3.0, 3.0] and sent == ["client_credentials"] * 3 and endpoint.requests == 3
    # The lifetime counts from the attempt that got it, not from the first one.
    assert getattr(token, "expires_at", None) == started + 6 + 3600


async def test_5xx_and_connection_errors_back_off_within_the_cap_then_the_grant_succeeds(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    answers: list[Answer] = [
        httpx2.ConnectError("refused"),
        httpx2.Response(502),
        httpx2.ReadError("reset"),
        httpx2.Response(200, json=OK),
    ]
    _, sent, token = await _send(answers, JWT, clock, sleeps)
    assert getattr(token, "access_token", None) == "AT-1" and len(sent) == 4
    assert len(sleeps.sleeps) == 3
    assert all(0 <= s <= min(8.0, 0.5 * 2**n) for n, s in enumerate(sleeps.sleeps))  # full jitter


async def test_rate_limited_to_the_end_says_how_often_over_how_long_and_what_to_do(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    _, sent, err = await _send([_429("2") for _ in range(4)], CCG, clock, sleeps)
    assert isinstance(err, TokenRequestError) and err.status == 429 and not err.refused
    assert len(sent) == 4 and sleeps.sleeps == [2.0, 2.0, 2.0]
    assert str(err) == (
        "Box's token service is rate-limiting this app (429) and gave no token for the client credentials "
        "grant after 4 attempts over 6.0 s. Fix: retry later; the credentials were not refused."
    )


async def test_a_retry_after_past_the_deadline_ends_at_once_and_says_so(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    _, sent, err = await _send([_429("120")], CCG, clock, sleeps)
    assert len(sent) == 1 and sleeps.sleeps == []
    assert "after 1 attempt over 0.0 s; Box asked to wait 120 s more, past box-mcp's deadline" in str(err)


async def test_the_deadline_bounds_every_attempt_and_wait_together(
    clock: FakeClock, sleeps: FakeSleeps
) -> None:
    started = clock.now
    _, sent, err = await _send(
        [httpx2.Response(503) for _ in range(50)],
        CCG,
        clock,
        sleeps,
        max_attempts=50,
        deadline=5.0,
        backoff_base=1.0,
    )
    assert isinstance(err, TokenRequestError) and err.status == 503
    assert clock.now - started <= 5.0 and 1 < len(sent) < 50
    assert f"after {len(sent)} attempts over" in str(err)


async def test_no_answer_within_the_deadline_ends_the_request(clock: FakeClock, sleeps: FakeSleeps) -> None:
    async def silent(request: httpx2.Request) -> httpx2.Response:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(silent)) as http:
        endpoint = TokenEndpoint(http, BoxEndpoints(), clock=clock, retry=sleeps.policy(deadline=0.01))
        with pytest.raises(TokenEndpointUnavailable) as caught:
            await endpoint.request(REFRESH, what="refreshing the sign-in of 'default'")
    assert endpoint.requests == 1  # the deadline is spent: no second attempt
    assert caught.value.after_lost == "no answer in time"
    assert str(caught.value).startswith(
        "Box's token endpoint did not answer refreshing the sign-in of 'default' within the 0.01 s deadline"
    )


async def test_a_refusal_is_sent_once(clock: FakeClock, sleeps: FakeSleeps) -> None:
    refused = httpx2.Response(400, json={"error": "invalid_client", "error_description": "bad secret"})
    _, sent, err = await _send([refused], CCG, clock, sleeps)
    assert len(sent) == 1 and isinstance(err, TokenRequestError) and err.refused


@pytest.mark.parametrize(
    ("form", "first", "lost"),
    [
        (REFRESH, httpx2.Response(503), "HTTP 503"),  # Box may have rotated it before failing
        (REFRESH, httpx2.ReadError("reset"), "ReadError"),  # the answer was cut off
        (REFRESH, _429("0"), None),  # Box's rate limiter answers before the grant is looked at
        (REFRESH, httpx2.ConnectError("refused"), None),  # never sent
        (CCG, httpx2.Response(503), None),  # a duplicate client-credentials grant costs nothing
    ],
)
async def test_a_resent_single_use_grant_that_is_refused_says_an_earlier_attempt_may_have_used_it(
    form: dict[str, str], first: Answer, lost: str | None, clock: FakeClock, sleeps: FakeSleeps
) -> None:
    invalid = httpx2.Response(400, json={"error": "invalid_grant", "error_description": "Invalid token"})
    _, sent, err = await _send([first, invalid], form, clock, sleeps)
    assert len(sent) == 2  # re-sent in every case: see tokens.SINGLE_USE_GRANTS
    assert isinstance(err, TokenRequestError) and err.error == "invalid_grant" and err.after_lost == lost
    earlier = f"An earlier attempt of this request failed ({lost}) after reaching Box"
    assert (earlier in str(err)) is (lost is not None)


@pytest.mark.parametrize("form", [CCG, REFRESH, JWT], ids=["ccg", "refresh", "jwt"])
async def test_no_secret_of_the_form_reaches_an_error_or_a_log(
    form: dict[str, str], clock: FakeClock, sleeps: FakeSleeps, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[list[Answer]] = [
        [_429("1")] * 4,
        [httpx2.Response(503, json={"error": "unavailable"})] * 4,
        [httpx2.ReadError("reset")] * 4,
        [httpx2.ConnectError("refused")] * 4,
        [httpx2.Response(503), httpx2.Response(400, json={"error": "invalid_grant"})],
    ]
    texts = []
    for answers in failures:
        _, _, err = await _send(list(answers), form, clock, sleeps)
        assert isinstance(err, TokenRequestError | TokenEndpointUnavailable)
        texts.append(f"{err} {err!r}")
    seen = " ".join(texts) + caplog.text
    assert "attempt 1 of 4" in caplog.text  # the retries are logged ...
    for secret in ("CS-secret-123", "RT-secret-456", "eyJ-assertion-secret-789"):
        assert secret not in seen  # ... and nothing of the form is
