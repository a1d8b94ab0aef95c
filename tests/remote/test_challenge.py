"""The /mcp gate's answers without a usable token (RFC 6750 §3.1, RFC 9728 §5.1), in process: which
status, which challenge, and never an error code when no token was sent."""

from __future__ import annotations

import httpx2
import pytest
from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, request_response

from box_mcp.http.oauth import ChallengeMiddleware, RemoteURLs
from box_mcp.identity import CallerToken, Person

pytestmark = pytest.mark.anyio
URLS = RemoteURLs("https://box-mcp.example.com")
BOB = Person(box_user_id="7", login="bob@acme.example", client_id="https://client.example/c.json")


class Tokens:
    async def verify_token(self, token: str) -> CallerToken | None:
        return {
            "good": CallerToken(token="d", client_id="c", scopes=["box"], agent="everyone", person=BOB),
            "unscoped": CallerToken(token="d", client_id="c", scopes=[], agent="everyone", person=BOB),
            "nobody": CallerToken(token="d", client_id="c", scopes=["box"], agent=None, person=BOB),
            "key": CallerToken(token="d", client_id="agent-a", scopes=[], agent="agent-a"),
        }.get(token)


async def ok(request: Request) -> PlainTextResponse:
    return PlainTextResponse("served")


def app() -> Starlette:
    return Starlette(
        routes=[Route("/mcp", ChallengeMiddleware(request_response(ok), urls=URLS), methods=["POST"])],
        middleware=[Middleware(AuthenticationMiddleware, backend=BearerAuthBackend(Tokens()))],
    )


@pytest.mark.parametrize(
    ("header", "status", "error"),
    [
        (None, 401, None),
        ("Basic Zm9vOmJhcg==", 401, None),
        ("Bearer wrong", 401, "invalid_token"),
        ("Bearer unscoped", 403, "insufficient_scope"),
        ("Bearer nobody", 403, "access_denied"),
        ("Bearer good", 200, None),
        ("Bearer key", 200, None),  # an API key: no person, no scope needed
    ],
)
async def test_each_caller_gets_the_answer_the_rfcs_give(
    header: str | None, status: int, error: str | None
) -> None:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app())) as http:
        answer = await http.post("http://testserver/mcp", headers={"Authorization": header} if header else {})
    assert answer.status_code == status
    if status == 200:
        assert answer.text == "served"
        return
    assert answer.json()["error"] == (error or "unauthorized")
    challenge = answer.headers.get("www-authenticate", "")
    if status == 401:
        assert challenge.startswith('Bearer realm="box-mcp"')
        assert f'resource_metadata="{URLS.resource_metadata}"' in challenge and 'scope="box"' in challenge
        assert ("error=" in challenge) is (error is not None)
    elif error == "insufficient_scope":
        assert 'error="insufficient_scope"' in challenge and 'scope="box"' in challenge
    else:
        assert "policy gives this Box account no agent" in answer.json()["error_description"]
