"""Box's token endpoint failing: a busy or broken Box is not reported as refused credentials, and an
unreachable one is named by URL with the setting to check."""

from __future__ import annotations

import httpx2
import pytest

from box_mcp.broker.tokens import BoxEndpoints, TokenEndpoint, TokenEndpointUnavailable, TokenRequestError
from tests.broker.token_faults import FakeSleeps

pytestmark = pytest.mark.anyio


class _Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _request(handler, box_url: str = "http://127.0.0.1:8088") -> Exception:
    """One grant, sent once (retries have tests/broker/test_token_retries.py)."""
    retry = FakeSleeps(_Clock()).policy(max_attempts=1)
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        endpoint = TokenEndpoint(http, BoxEndpoints.for_box_url(box_url), retry=retry)
        with pytest.raises((TokenRequestError, TokenEndpointUnavailable)) as info:
            await endpoint.request({"grant_type": "client_credentials"}, what="the client credentials grant")
    return info.value


async def test_a_503_from_the_token_endpoint_is_not_called_a_refusal() -> None:
    err = await _request(lambda r: httpx2.Response(503, json={"error": "unavailable"}))
    assert isinstance(err, TokenRequestError) and err.status == 503 and not err.refused
    assert str(err) == (
        "Box's token endpoint could not answer the client credentials grant (503: unavailable) after 1 "
        "attempt over 0.0 s. Fix: retry later; if it keeps happening, Box may be degraded. The credentials "
        "were not refused."
    )


async def test_a_400_from_the_token_endpoint_is_a_refusal() -> None:
    body = {"error": "invalid_client", "error_description": "The client credentials are invalid"}
    err = await _request(lambda r: httpx2.Response(400, json=body))
    assert isinstance(err, TokenRequestError) and err.refused
    assert str(err) == (
        "Box refused the client credentials grant: invalid_client (The client credentials are invalid)"
    )


async def test_an_unreachable_token_endpoint_names_the_url_and_the_setting() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        cause = ConnectionRefusedError(111, "Connect call failed")
        raise httpx2.ConnectError("All connection attempts failed") from cause

    err = await _request(refuse)
    assert isinstance(err, TokenEndpointUnavailable)
    assert str(err) == (
        "cannot reach Box at http://127.0.0.1:8088/ (connection refused) to get an access token after 1 "
        "attempt over 0.0 s. "
        "Fix: check --box-url / BOX_MCP_BOX_URL, or that the emulator is running (box-mcp emulator)."
    )


async def test_an_error_description_quoting_a_url_loses_its_query() -> None:
    body = {"error": "invalid_request", "error_description": "see https://account.box.com/x?state=SECRET1"}
    err = await _request(lambda r: httpx2.Response(400, json=body))
    assert "SECRET1" not in str(err) and "https://account.box.com/…" in str(err)
