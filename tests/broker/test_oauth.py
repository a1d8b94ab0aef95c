"""`auth login` pieces: PKCE + state in the URL, the loopback receiver, the code exchange, logout."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest

from box_mcp.broker.oauth import LoopbackReceiver, authorization_request, login, logout
from box_mcp.broker.tokens import BoxEndpoints, TokenEndpoint
from box_mcp.broker.vault import SQLiteVault
from box_mcp.config import Settings
from box_mcp.errors import BrokerError, ConfigError

if TYPE_CHECKING:
    from conftest import FakeBox


def test_authorize_url_carries_pkce_s256_and_state() -> None:
    req = authorization_request(
        "https://account.box.com/api/oauth2/authorize",
        client_id="cid",
        redirect_uri="http://127.0.0.1:5000/callback",
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}
    digest = base64.urlsafe_b64encode(hashlib.sha256(req.code_verifier.encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == digest.decode() and query["code_challenge_method"] == "S256"
    assert query["state"] == req.state and len(req.state) >= 32 and 43 <= len(req.code_verifier) <= 128
    assert query["response_type"] == "code" and query["redirect_uri"] == "http://127.0.0.1:5000/callback"
    assert req.code_verifier not in repr(req) and req.state not in repr(req)


@pytest.mark.anyio
async def test_receiver_ignores_wrong_state_and_stray_paths_then_takes_the_code() -> None:
    receiver = await LoopbackReceiver.start()
    receiver.state = "expected-state"
    answers: list[int] = []

    async def browser() -> None:
        async with httpx2.AsyncClient() as http:
            for url in (
                f"http://127.0.0.1:{receiver.port}/favicon.ico",
                f"{receiver.redirect_uri}?code=evil&state=forged",
                f"{receiver.redirect_uri}?code=good-code&state=expected-state",
            ):
                answers.append((await http.get(url)).status_code)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(browser)
            code = await receiver.wait_for_code(10)
    assert code == "good-code" and answers == [404, 400, 200]


@pytest.mark.anyio
async def test_denied_consent_is_reported() -> None:
    receiver = await LoopbackReceiver.start()
    receiver.state = "s"

    async def browser() -> None:
        async with httpx2.AsyncClient() as http:
            await http.get(f"{receiver.redirect_uri}?error=access_denied&state=s")

    failures: list[BrokerError] = []
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(browser)
            try:
                await receiver.wait_for_code(10)
            except BrokerError as exc:
                failures.append(exc)
    assert len(failures) == 1 and "access_denied" in str(failures[0])


@pytest.mark.anyio
async def test_login_exchanges_the_code_and_stores_who_signed_in_then_logout_revokes(
    tmp_path: Path, fake_box: FakeBox, vault_env: dict[str, str]
) -> None:
    vault = SQLiteVault.open(tmp_path, Settings.load(env=vault_env).vault_key)

    async def browser(url: str) -> None:  # plays Box's consent page: approve, redirect with code
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        fake_box.codes["the-code"] = ""  # filled below once the verifier is known
        async with httpx2.AsyncClient() as http:
            await http.get(f"{query['redirect_uri']}?code=the-code&state={query['state']}")

    # The fake checks the verifier against what login sends: capture it from the exchange itself.
    inner = fake_box.handler

    def handler(request: httpx2.Request) -> httpx2.Response:
        form = dict(parse_qs(request.content.decode()))
        if form.get("grant_type") == ["authorization_code"]:
            fake_box.codes["the-code"] = form["code_verifier"][0]
        return inner(request)

    async with httpx2.AsyncClient(transport=httpx2.MockTransport(handler)) as http:
        endpoint = TokenEndpoint(http, BoxEndpoints(), clock=fake_box.clock)
        with anyio.fail_after(10):
            record = await login(
                endpoint=endpoint,
                http=http,
                vault=vault,
                label="default",
                client_id="cid",
                client_secret="csecret",
                open_browser=browser,
                wait_seconds=10,
            )
        assert record.user_login == "ada@example.com" and record.user_id == "11"
        stored = vault.get("user:default")
        assert stored is not None and stored.refresh_token in fake_box.live_refresh
        assert await logout(
            endpoint=endpoint, vault=vault, label="default", client_id="cid", client_secret="csecret"
        )
    assert stored.refresh_token in fake_box.revoked and vault.get("user:default") is None
    vault.close()


@pytest.mark.anyio
async def test_receiver_survives_a_connection_closed_without_a_request_then_takes_the_code() -> None:
    # Browsers open speculative connections and close them unused; that must not end the sign-in.
    receiver = await LoopbackReceiver.start()
    receiver.state = "st"

    async def browser() -> None:
        for _ in range(2):
            stream = await anyio.connect_tcp("127.0.0.1", receiver.port)
            await stream.aclose()
        stream = await anyio.connect_tcp("127.0.0.1", receiver.port)
        async with stream:
            await stream.send(b"GET /callback?state=st HTTP/1.1\r\nHost: x\r\n")  # half a request
        async with httpx2.AsyncClient() as http:
            await http.get(f"{receiver.redirect_uri}?code=the-code&state=st")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(browser)
            code = await receiver.wait_for_code(10)
    assert code == "the-code"


@pytest.mark.anyio
async def test_receiver_gives_up_when_no_sign_in_arrives() -> None:
    receiver = await LoopbackReceiver.start()
    receiver.state = "s"
    with pytest.raises(BrokerError, match="no sign-in arrived"):
        await receiver.wait_for_code(0.2)
    with pytest.raises(OSError):  # the port is released: nothing answers there any more
        await anyio.connect_tcp("127.0.0.1", receiver.port)


@pytest.mark.anyio
async def test_receiver_takes_the_code_only_from_a_get() -> None:
    receiver = await LoopbackReceiver.start()
    receiver.state = "s"
    answers: list[int] = []

    async def browser() -> None:
        async with httpx2.AsyncClient() as http:
            answers.append((await http.post(f"{receiver.redirect_uri}?code=posted&state=s")).status_code)
            answers.append((await http.head(f"{receiver.redirect_uri}?code=headed&state=s")).status_code)
            got = await http.get(f"{receiver.redirect_uri}?code=the-code&state=s")
            answers.append(got.status_code)
            assert "Signed in to Box" in got.text and got.headers["cache-control"] == "no-store"

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(browser)
            code = await receiver.wait_for_code(10)
    assert code == "the-code" and answers == [405, 405, 200]


@pytest.mark.anyio
async def test_a_busy_redirect_port_is_a_config_error() -> None:
    holder = await LoopbackReceiver.start()
    with pytest.raises(ConfigError, match=f"port {holder.port} on 127.0.0.1 is busy"):
        await LoopbackReceiver.start(holder.port)
    with pytest.raises(BrokerError):  # serving for no time releases the port
        await holder.wait_for_code(0)
