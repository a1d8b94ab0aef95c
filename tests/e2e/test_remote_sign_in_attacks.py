"""Remote sign-in under attack, against one real `box-mcp serve --transport http` (module-scoped) and the
emulator: each attempt fails closed with an error that says what is wrong, and nothing is issued.

The store-level rules (expiry with a clock, hashing, caps) are unit-tested in tests/remote; here the
attacks go through the doors an attacker has: the HTTP endpoints and the browser pages.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from tests.e2e.browser import Browser, approve_all, forms_of
from tests.e2e.test_remote_sign_in import oauth_env, people_policy
from tests.server.hostile_servers import HEADERS, encode, http_server, init_message

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:33419/callback"
OTHER_REDIRECT = "https://other-client.example/callback"


@dataclass
class Server:
    url: str
    base: str
    box_url: str

    def browser(self, http: httpx2.AsyncClient) -> Browser:
        return Browser(http, origins=[self.base, self.box_url])


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def server(emulator_session: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("attacks")
    async with http_server(
        emulator_session, tmp / "data", "--policy", str(people_policy(tmp)), env=oauth_env(emulator_session)
    ) as running:
        yield Server(running.url, running.url.removesuffix("/mcp"), emulator_session.base_url)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def register(http: httpx2.AsyncClient, server: Server, *redirects: str) -> str:
    answer = await http.post(
        f"{server.base}/register",
        json={
            "redirect_uris": list(redirects or (REDIRECT,)),
            "client_name": "attack test",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        },
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["client_id"])


def authorize_url(server: Server, client_id: str, challenge: str, **extra: str) -> str:
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-" + secrets.token_urlsafe(8),
        "resource": server.url,
        "scope": "box",
    } | extra
    return f"{server.base}/authorize?{urlencode({k: v for k, v in query.items() if v != ''})}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def signed_in_code(
    http: httpx2.AsyncClient, server: Server, client_id: str, challenge: str
) -> dict[str, str]:
    visit = await server.browser(http).walk(
        authorize_url(server, client_id, challenge), approve_all("bob@acme.example")
    )
    assert visit.final is not None, visit.pages[-1:]
    return query_of(visit.final)


async def redeem(
    http: httpx2.AsyncClient, server: Server, client_id: str, code: str, verifier: str
) -> httpx2.Response:
    return await http.post(
        f"{server.base}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
            "resource": server.url,
        },
    )


async def mcp_status(http: httpx2.AsyncClient, server: Server, token: str) -> int:
    answer = await http.post(
        server.url, content=encode(init_message()), headers=HEADERS | {"Authorization": f"Bearer {token}"}
    )
    return answer.status_code


async def test_a_token_for_another_resource_is_never_issued(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=False) as http:
        client = await register(http, server)
        _, challenge = pkce()
        for resource in ("https://evil.example/mcp", ""):
            got = await http.get(authorize_url(server, client, challenge, resource=resource))
            assert got.status_code == 302
            answer = query_of(got.headers["location"])
            assert answer["error"] == "invalid_target", answer
            assert answer["iss"] == server.base  # RFC 9207 on the error redirect too


async def test_redirect_uri_mismatch_and_open_redirects_are_refused_without_redirecting(
    server: Server,
) -> None:
    async with httpx2.AsyncClient(follow_redirects=False) as http:
        client = await register(http, server)
        other = await register(http, server, OTHER_REDIRECT)
        _, challenge = pkce()
        for redirect in (
            "https://evil.example/callback",
            REDIRECT + "/../evil",
            REDIRECT + "?next=https://evil.example",
            "http://127.0.0.1.evil.example:33419/callback",
            "http://user@127.0.0.1:33419/callback",
            OTHER_REDIRECT,  # another client's redirect URI
        ):
            got = await http.get(authorize_url(server, client, challenge, redirect_uri=redirect))
            assert got.status_code == 400, (redirect, got.status_code, got.headers.get("location"))
            assert "redirect" in got.text.lower()
        # Loopback redirects match on any port (RFC 8252 §7.3): the same client on another port is fine.
        moved = await http.get(
            authorize_url(server, client, challenge, redirect_uri="http://127.0.0.1:40001/callback")
        )
        assert moved.status_code == 302 and "/oauth/consent?" in moved.headers["location"]
        assert other


async def test_pkce_is_required_and_only_s256(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=False) as http:
        client = await register(http, server)
        verifier, challenge = pkce()
        plain = await http.get(authorize_url(server, client, verifier, code_challenge_method="plain"))
        missing = await http.get(authorize_url(server, client, ""))
        for got in (plain, missing):
            assert got.status_code in (302, 400)
            said = query_of(got.headers["location"]) if got.status_code == 302 else got.json()
            assert said["error"] == "invalid_request", said
        # A wrong verifier at the token endpoint is refused.
        code = (await signed_in_code(http, server, client, challenge))["code"]
        wrong = await redeem(http, server, client, code, secrets.token_urlsafe(48))
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"


async def test_a_replayed_code_fails_and_revokes_what_it_gave(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
        client = await register(http, server)
        verifier, challenge = pkce()
        code = (await signed_in_code(http, server, client, challenge))["code"]
        first = await redeem(http, server, client, code, verifier)
        assert first.status_code == 200, first.text
        token = first.json()["access_token"]
        assert await mcp_status(http, server, token) == 200
        again = await redeem(http, server, client, code, verifier)
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        assert await mcp_status(http, server, token) == 401  # RFC 6749 §10.5: the first use's tokens die


async def test_a_reused_refresh_token_revokes_the_whole_family(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
        client = await register(http, server)
        verifier, challenge = pkce()
        code = (await signed_in_code(http, server, client, challenge))["code"]
        tokens = (await redeem(http, server, client, code, verifier)).json()

        async def refresh(token: str) -> httpx2.Response:
            return await http.post(
                f"{server.base}/token",
                data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client},
            )

        rotated = await refresh(tokens["refresh_token"])
        assert rotated.status_code == 200
        newest = rotated.json()
        assert newest["refresh_token"] != tokens["refresh_token"]
        stolen = await refresh(tokens["refresh_token"])  # the old one, used again: someone copied it
        assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
        assert await mcp_status(http, server, newest["access_token"]) == 401  # the family is revoked
        assert (await refresh(newest["refresh_token"])).status_code == 400


async def test_the_consent_page_resists_csrf_and_answers_once(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
        client = await register(http, server)
        _, challenge = pkce()
        to_consent = await http.get(authorize_url(server, client, challenge))
        consent_url = to_consent.headers["location"]
        victim = server.browser(http)
        page = await victim.request("GET", consent_url)
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        cookie = page.headers["set-cookie"]
        assert (
            cookie.startswith("__Host-")
            and "Secure" in cookie
            and "HttpOnly" in cookie
            and "Path=/" in cookie
        )
        form = forms_of(page.text)[0][0]
        approve = form.fields | {"decision": "approve"}
        # An attacker's page posts the form: the browser sends no matching cookie / token.
        forged = await http.post(f"{server.base}/oauth/consent", data=approve)
        assert forged.status_code == 403
        other = server.browser(http)
        await other.request("GET", consent_url)  # a second browser: its own cookie
        cross = await other.request("POST", f"{server.base}/oauth/consent", approve)
        assert cross.status_code == 403
        tampered = await victim.request("POST", f"{server.base}/oauth/consent", approve | {"csrf": "0" * 64})
        assert tampered.status_code == 403
        ok = await victim.request("POST", f"{server.base}/oauth/consent", approve)
        assert ok.status_code == 303 and ok.headers["location"].startswith(server.box_url)
        twice = await victim.request("POST", f"{server.base}/oauth/consent", approve)
        assert twice.status_code == 400  # a consent is answered once


async def test_a_replayed_box_return_finds_nothing(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
        client = await register(http, server)
        _, challenge = pkce()
        browser = server.browser(http)
        returns: list[str] = []
        original = browser.request

        async def spy(method: str, url: str, data: dict[str, str] | None = None) -> httpx2.Response:
            if "/oauth/box/callback" in url:
                returns.append(url)
            return await original(method, url, data)

        browser.request = spy  # type: ignore[method-assign]
        visit = await browser.walk(authorize_url(server, client, challenge), approve_all("bob@acme.example"))
        assert visit.final is not None and "code" in query_of(visit.final)
        replay = await original("GET", returns[0])
        assert replay.status_code == 400  # Box's state is single-use
        # The same return in another browser (no flow cookie) is refused before anything else.
        stranger = await http.get(returns[0])
        assert stranger.status_code == 400 and "did not start in this browser" in stranger.text


async def test_client_id_metadata_documents_on_private_addresses_are_refused(server: Server) -> None:
    async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
        _, challenge = pkce()
        for client_id in (
            "https://10.0.0.7/client.json",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/client.json",
            "http://example.com/client.json",  # not https, and not a loopback development URL
        ):
            got = await http.get(authorize_url(server, client_id, challenge))
            assert got.status_code == 400, (client_id, got.status_code)
            assert "client" in got.text.lower()


async def test_foreign_bearer_tokens_are_not_accepted(
    server: Server, emulator_session: Any, tmp_path: Path
) -> None:
    """A Box token (no passthrough, ever) and a token another box-mcp issued are both 401."""
    async with httpx2.AsyncClient(timeout=20) as http:
        assert await mcp_status(http, server, emulator_session.token("bob")) == 401
        assert await mcp_status(http, server, "bmcp_at_" + secrets.token_urlsafe(32)) == 401
