"""Remote sign-in exactly as a URL-only MCP client does it, against the real `box-mcp serve --transport http`.

The MCP python SDK's own OAuth client provider does discovery (401 challenge -> protected resource
metadata -> authorization server metadata), registration (dynamic registration, and separately a
Client ID Metadata Document), PKCE and `resource`; the browser's part (box-mcp's consent page, then the
emulator's Box sign-in page) is driven over HTTP by tests/e2e/browser.py. The server runs with only
box-mcp's Box OAuth app configured (BOX_OAUTH_CLIENT_ID/SECRET: no service account, no developer
token), as a policy for people needs. Then: tools/list is the person's per the policy, a call runs as
that person's Box user (the emulator answers who_am_i for the token's user), refresh works, revocation
stops it, and nothing secret leaks into a response, a redirect, the server's log or the audit log.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from pydantic import AnyUrl

from tests.e2e.browser import Browser, approve_all
from tests.server.hostile_servers import (
    HEADERS,
    assert_audit_verifies,
    audit_records,
    encode,
    http_server,
    init_message,
    rpc_message,
    tool_call,
)
from tests.state_mode import state_env

pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:33418/callback"
TEAM_POLICY = (
    Path(__file__).resolve().parents[2] / "policies" / "examples" / "team.yaml"
)  # nothing listens: the walk stops at the redirect to it


def people_policy(tmp_path: Path, *, writable: str = "0") -> Path:
    path = tmp_path / "people.yaml"
    path.write_text(
        "version: 1\n"
        "agents:\n"
        "  everyone:\n"
        "    description: each signed-in person, as their own Box user\n"
        "    acts_as: person\n"
        "    people: {domains: [acme.example]}\n"
        "rules:\n"
        "  - {id: everyone-reads, effect: permit, agents: everyone, access: read}\n"
        "  - id: bob-writes\n"
        "    effect: permit\n"
        "    agents: everyone\n"
        "    access: write\n"
        f"    within: '{writable}'\n"
        "    people: {logins: [bob@acme.example]}\n"
        "  - id: no-open-links\n"
        "    effect: forbid\n"
        "    agents: '*'\n"
        "    when: {shared_link_access: [open]}\n"
    )
    return path


def oauth_env(emulator: Any) -> dict[str, str]:
    oauth = emulator.credentials["oauth"]
    return {
        "BOX_OAUTH_CLIENT_ID": oauth["client_id"],
        "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"],
        "BOX_DEVELOPER_TOKEN": "",  # empty is unset: this server has no credential but the OAuth app
    }


class Memory:
    """The SDK's TokenStorage, in memory; keeps every token it was given (for the leak scan)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        self.seen: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.seen.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Person:
    """One person's MCP client: the SDK's OAuth provider, answering the browser part as `login`."""

    def __init__(
        self, server_url: str, box_url: str, login: str, *, client_metadata_url: str | None = None
    ) -> None:
        self.storage = Memory()
        self.login = login
        self.box_url = box_url
        self.server_url = server_url
        self.visits: list[Any] = []
        self._final: str | None = None
        self.provider = OAuthClientProvider(
            server_url=server_url,
            client_metadata=OAuthClientMetadata(
                redirect_uris=[AnyUrl(REDIRECT)],
                client_name="box-mcp e2e client",
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=self.storage,
            redirect_handler=self._redirect,
            callback_handler=self._callback,
            client_metadata_url=client_metadata_url,
        )

    async def _redirect(self, url: str) -> None:
        base = urlsplit(self.server_url)
        async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
            browser = Browser(http, origins=[f"{base.scheme}://{base.netloc}", self.box_url])
            visit = await browser.walk(url, approve_all(self.login))
        self.visits.append(visit)
        assert visit.final is not None, f"the sign-in stopped at {visit.pages[-1:]}"
        self._final = visit.final

    async def _callback(self) -> AuthorizationCodeResult:
        assert self._final is not None
        query = {k: v[0] for k, v in parse_qs(urlsplit(self._final).query).items()}
        assert "code" in query, f"the sign-in ended with {query}"
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Client]:
        async with httpx2.AsyncClient(auth=self.provider, timeout=30) as http:
            async with Client(streamable_http_client(self.server_url, http_client=http)) as client:
                yield client


async def _who(client: Client) -> dict[str, Any]:
    result = await client.call_tool("who_am_i", {})
    assert not result.is_error, result.content
    return dict(result.structured_content or {})


def _audit_records(data: Path) -> list[dict[str, Any]]:
    assert_audit_verifies(data)
    return list(audit_records(data))


def _vault(data: Path) -> Any:
    """The vault the server used: the data dir's SQLite one, or the test's database (tests/state_mode.py)."""
    from box_mcp.broker.broker import open_vault
    from box_mcp.config import Settings

    return open_vault(Settings.load(env=state_env(), data_dir=data))


def _vault_secrets(data: Path) -> list[str]:
    """The Box tokens box-mcp holds for signed-in people (decrypted with the vault key)."""
    vault = _vault(data)
    try:
        return [
            t
            for r in vault.list()
            if r.key.startswith("person:")
            for t in (r.access_token, r.refresh_token)
            if t
        ]
    finally:
        vault.close()


def _oauth_dump(data: Path) -> str:
    """Everything the OAuth store keeps at rest, as text: the SQLite file, or the database's oauth_ tables."""
    url = state_env().get("BOX_MCP_DATABASE_URL")
    if url is None:
        oauth_db = sqlite3.connect(data / "oauth.sqlite3")
        try:
            return "\n".join(oauth_db.iterdump())
        finally:
            oauth_db.close()
    import psycopg

    with psycopg.connect(url, autocommit=True) as db:
        tables = [r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'oauth_%'")]
        assert tables, "no OAuth tables in the test's database"
        return "\n".join(
            str(row[0])
            for table in tables
            for row in db.execute(f"SELECT row_to_json(t)::text FROM {table} t")  # noqa: S608 - catalog names
        )


async def test_a_url_only_client_signs_in_by_registration_and_runs_as_its_person(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "server.log"
    with log.open("wb") as err:
        async with http_server(
            emulator, data, "--policy", str(people_policy(tmp_path)), env=oauth_env(emulator), stderr=err
        ) as server:
            base = server.url.removesuffix("/mcp")
            async with httpx2.AsyncClient() as http:
                bare = await http.post(server.url, content=encode(init_message()), headers=HEADERS)
                prm = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
                root_prm = (await http.get(f"{base}/.well-known/oauth-protected-resource")).json()
                meta = (await http.get(f"{base}/.well-known/oauth-authorization-server")).json()
            # Discovery: the challenge names the metadata; no error without a token (RFC 6750 §3.1).
            assert bare.status_code == 401
            challenge = bare.headers["www-authenticate"]
            assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge
            assert "error=" not in challenge
            assert prm["resource"] == server.url == root_prm["resource"]
            assert prm["authorization_servers"] == [base]
            assert meta["issuer"] == base
            assert meta["code_challenge_methods_supported"] == ["S256"]
            assert meta["authorization_response_iss_parameter_supported"] is True
            assert meta["client_id_metadata_document_supported"] is True
            assert "none" in meta["token_endpoint_auth_methods_supported"]
            assert meta["registration_endpoint"] == f"{base}/register"
            assert meta["revocation_endpoint"] == f"{base}/revoke"

            bob = Person(server.url, emulator.base_url, "bob@acme.example")
            async with bob.session() as client:
                names = {t.name for t in (await client.list_tools()).tools}
                me = await _who(client)
            assert me["login"] == "bob@acme.example"  # Box answered for bob's own token
            assert me["id"] == emulator.user_id("bob")
            assert "who_am_i" in names and "create_folder" in names  # bob-writes lets bob write
            assert bob.storage.client is not None and bob.storage.client.client_id  # registered by DCR

            carol = Person(server.url, emulator.base_url, "carol@acme.example")
            async with carol.session() as client:
                carol_names = {t.name for t in (await client.list_tools()).tools}
                assert (await _who(client))["login"] == "carol@acme.example"
                denied = await client.call_tool("create_folder", {"parent_id": "0", "name": "carol was here"})
            assert "create_folder" not in carol_names  # only bob may write: the policy names people
            assert denied.is_error

            # Refresh through the SDK: the access token is treated as expired, the client rotates.
            first = bob.storage.tokens
            assert first is not None and first.refresh_token
            bob.provider.context.token_expiry_time = time.time() - 1
            async with bob.session() as client:
                assert (await _who(client))["login"] == "bob@acme.example"
            second = bob.storage.tokens
            assert second is not None and second.access_token != first.access_token
            assert second.refresh_token != first.refresh_token  # rotated

            # Revocation (RFC 7009) stops it: the next request is 401 with error="invalid_token".
            assert bob.storage.client is not None
            async with httpx2.AsyncClient() as http:
                revoked = await http.post(
                    f"{base}/revoke",
                    data={"token": second.access_token, "client_id": bob.storage.client.client_id},
                )
                assert revoked.status_code == 200
                after = await http.post(
                    server.url,
                    content=encode(init_message()),
                    headers=HEADERS | {"Authorization": f"Bearer {second.access_token}"},
                )
                # The refresh token of that family is dead too.
                refreshed = await http.post(
                    f"{base}/token",
                    data={
                        "grant_type": "refresh_token",
                        "refresh_token": second.refresh_token or "",
                        "client_id": bob.storage.client.client_id,
                    },
                )
            assert after.status_code == 401 and 'error="invalid_token"' in after.headers["www-authenticate"]
            assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
            box_secrets = _vault_secrets(data)

    # Every call record names the person, the MCP client and the agent.
    calls = [r for r in _audit_records(data) if r.get("kind") == "call" and r.get("tool") == "who_am_i"]
    assert calls and all(r["agent"] == "everyone" for r in calls)
    people = {r["person"]["login"] for r in calls}
    assert people == {"bob@acme.example", "carol@acme.example"}
    assert all(r["person"]["client_id"] for r in calls)
    sign_ins = [r for r in _audit_records(data) if r.get("kind") == "sign_in"]
    assert {r["detail"]["step"] for r in sign_ins} >= {"consented", "signed_in"}

    # The leak scan: no Box token, no box-mcp token, no client secret anywhere a person or an operator reads.
    secrets = [
        *box_secrets,
        emulator.credentials["oauth"]["client_secret"],
        *(t.access_token for p in (bob, carol) for t in p.storage.seen),
        *(t.refresh_token or "" for p in (bob, carol) for t in p.storage.seen),
    ]
    assert len(box_secrets) >= 4  # bob's and carol's Box access and refresh tokens
    readable = log.read_text() + "\n".join(json.dumps(r) for r in _audit_records(data))
    readable += "\n".join(
        f"{url} {status} {text}" for p in (bob, carol) for v in p.visits for url, status, text in v.pages
    )
    readable += "\n".join(v.final or "" for p in (bob, carol) for v in p.visits)
    for secret in filter(None, secrets):
        assert secret not in readable
    dump = _oauth_dump(data)
    for secret in filter(None, secrets):
        assert secret not in dump  # tokens are stored only as hashes; Box's are in the vault, encrypted


async def test_a_client_id_metadata_document_client_signs_in_without_registering(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK's client insists on an https client id URL; box-mcp bound to loopback accepts a loopback
    # http one (as RFC 8252 does for redirects), so the client-side check is relaxed for this test only.
    import mcp.client.auth.oauth2 as sdk_oauth

    monkeypatch.setattr(sdk_oauth, "is_valid_client_metadata_url", lambda url: bool(url))
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from box_mcp._serving import bind, serving

    sock = bind(0, "127.0.0.1")
    sock.listen(16)
    doc_url = f"http://127.0.0.1:{sock.getsockname()[1]}/clients/e2e.json"
    fetched: list[str] = []

    async def document(request: Any) -> JSONResponse:
        fetched.append(str(request.url))
        return JSONResponse(
            {
                "client_id": doc_url,
                "client_name": "CIMD e2e client",
                "redirect_uris": [REDIRECT],
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
                "token_endpoint_auth_method": "none",
            }
        )

    app = Starlette(routes=[Route("/clients/e2e.json", document)])
    data = tmp_path / "data"
    async with serving(app, sock):
        async with http_server(
            emulator, data, "--policy", str(people_policy(tmp_path)), env=oauth_env(emulator)
        ) as server:
            ada = Person(server.url, emulator.base_url, "ada@acme.example", client_metadata_url=doc_url)
            async with ada.session() as client:
                assert (await _who(client))["login"] == "ada@acme.example"
            assert ada.storage.client is not None and ada.storage.client.client_id == doc_url
            consent = next(text for v in ada.visits for url, _, text in v.pages if "/oauth/consent" in url)
            assert (
                "CIMD e2e client" in consent and "127.0.0.1" in consent
            )  # names the client and its redirect host
    assert fetched  # box-mcp fetched the document itself
    calls = [r for r in _audit_records(data) if r.get("kind") == "call" and r.get("tool") == "who_am_i"]
    assert calls[-1]["person"]["client_id"] == doc_url


async def test_a_person_whose_box_grant_is_gone_is_sent_to_reconnect(emulator: Any, tmp_path: Path) -> None:
    """The URL-mode path: Box revoked the grant; a legacy client that declared URL elicitation gets
    -32042 with box-mcp's connect page; one that did not gets a tool error naming it; the connect page
    refuses another Box account and stores the right one, after which the same token works again."""
    data = tmp_path / "data"
    async with http_server(
        emulator, data, "--policy", str(people_policy(tmp_path)), env=oauth_env(emulator)
    ) as server:
        bob = Person(server.url, emulator.base_url, "bob@acme.example")
        async with bob.session() as client:
            await _who(client)
        token = bob.storage.tokens
        assert token is not None
        # Box forgets the grant (the person revoked box-mcp in Box's settings): revoke it at the emulator.
        vault = _vault(data)
        grant = vault.get(f"person:{emulator.user_id('bob')}")
        vault.close()
        assert grant is not None and grant.refresh_token
        oauth = emulator.credentials["oauth"]
        async with httpx2.AsyncClient() as http:
            for t in (grant.refresh_token, grant.access_token):
                await http.post(
                    f"{emulator.base_url}/oauth2/revoke",
                    data={
                        "token": t or "",
                        "client_id": oauth["client_id"],
                        "client_secret": oauth["client_secret"],
                    },
                )
            auth = {"Authorization": f"Bearer {token.access_token}"}
            answers = {}
            for name, caps in (("url", {"elicitation": {"url": {}}}), ("none", {})):
                init = init_message()
                init["params"]["capabilities"] = caps
                opened = await http.post(server.url, content=encode(init), headers=HEADERS | auth)
                assert opened.status_code == 200, opened.text
                session = HEADERS | auth | {"mcp-session-id": opened.headers["mcp-session-id"]}
                session["mcp-protocol-version"] = init["params"]["protocolVersion"]
                await http.post(
                    server.url,
                    json={"jsonrpc": "2.0", "method": "notifications/initialized"},
                    headers=session,
                )
                answers[name] = rpc_message(
                    await http.post(server.url, content=encode(tool_call(2, "who_am_i", {})), headers=session)
                )
        error = answers["url"]["error"]
        assert error["code"] == -32042
        connect = error["data"]["elicitations"][0]["url"]
        assert connect.startswith(server.url.removesuffix("/mcp") + "/connect/box?request=")
        assert "bob" not in connect and emulator.user_id("bob") not in connect  # no personal data in the URL
        text = answers["none"]["result"]["content"][0]["text"]
        assert answers["none"]["result"]["isError"] and "/connect/box?request=" in text

        base = urlsplit(server.url)
        async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
            wrong = Browser(http, origins=[f"{base.scheme}://{base.netloc}", emulator.base_url])
            visit = await wrong.walk(connect, approve_all("carol@acme.example"))
            assert visit.stopped is not None and visit.stopped.status_code == 403
            assert "different Box account" in visit.pages[-1][2]
            right = Browser(http, origins=[f"{base.scheme}://{base.netloc}", emulator.base_url])
            fresh = connect.split("?")[0]  # the first link was used by the wrong account: ask for a new one
            async with bob.session() as client:
                again = await client.call_tool("who_am_i", {})
            assert again.is_error
            link = next(w for w in again.content[0].text.split() if "/connect/box?request=" in w)  # type: ignore[union-attr]
            assert link.startswith(fresh)
            visit = await right.walk(link.rstrip("."), approve_all("bob@acme.example"))
            assert visit.pages[-1][1] == 200 and "connected again" in visit.pages[-1][2]
        async with bob.session() as client:
            assert (await _who(client))["login"] == "bob@acme.example"


async def test_the_demo_policy_for_people_starts_with_only_the_oauth_app(
    emulator: Any, tmp_path: Path
) -> None:
    """policies/examples/team.yaml with only BOX_OAUTH_CLIENT_ID/SECRET set: it starts and serves."""
    team = TEAM_POLICY
    data = tmp_path / "data"
    async with http_server(emulator, data, "--policy", str(team), env=oauth_env(emulator)) as server:
        async with httpx2.AsyncClient() as http:
            assert (await http.get(server.url.removesuffix("/mcp") + "/healthz")).status_code == 200
            bare = await http.post(server.url, content=encode(init_message()), headers=HEADERS)
        assert bare.status_code == 401 and "resource_metadata=" in bare.headers["www-authenticate"]


async def test_the_operator_lists_people_and_signs_one_out_everywhere(emulator: Any, tmp_path: Path) -> None:
    """`box-mcp auth status` names people and clients; `auth logout --person` revokes the Box grant at
    Box and every box-mcp token of that person, and the running server refuses them at once."""
    import sys

    from tests.server.hostile_servers import server_env

    data = tmp_path / "data"
    async with http_server(
        emulator, data, "--policy", str(people_policy(tmp_path)), env=oauth_env(emulator)
    ) as server:
        bob = Person(server.url, emulator.base_url, "bob@acme.example")
        async with bob.session() as client:
            await _who(client)
        vault = _vault(data)
        grant = vault.get(f"person:{emulator.user_id('bob')}")
        vault.close()
        assert grant is not None and grant.refresh_token
        grant_refresh = grant.refresh_token
        env = server_env(emulator, data, **oauth_env(emulator))
        cli = [sys.executable, "-m", "box_mcp.cli", "auth"]
        with anyio.fail_after(60):
            status = await anyio.run_process(
                [*cli, "status", "--box-url", emulator.base_url], env=env, check=False
            )
            out = await anyio.run_process(
                [*cli, "logout", "--person", "bob@acme.example", "--box-url", emulator.base_url],
                env=env,
                check=False,
            )
        listed = status.stdout.decode()
        assert status.returncode == 0, status.stderr.decode()
        assert "bob@acme.example" in listed and "box-mcp e2e client" in listed
        assert out.returncode == 0, out.stderr.decode()
        assert "revoked at Box" in out.stdout.decode() and "1 MCP sign-in(s) revoked" in out.stdout.decode()
        token = bob.storage.tokens
        assert token is not None
        async with httpx2.AsyncClient() as http:
            for _ in range(40):  # the server's token cache lives 2 s: bounded wait
                answer = await http.post(
                    server.url,
                    content=encode(init_message()),
                    headers=HEADERS | {"Authorization": f"Bearer {token.access_token}"},
                )
                if answer.status_code == 401:
                    break
                await anyio.sleep(0.1)
            assert answer.status_code == 401
            oauth = emulator.credentials["oauth"]
            box = await http.post(
                f"{emulator.base_url}/oauth2/token",
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": grant_refresh,
                    "client_id": oauth["client_id"],
                    "client_secret": oauth["client_secret"],
                },
            )
        assert box.status_code == 400  # Box no longer honours the grant
    assert _vault_secrets(data) == []


async def test_behind_a_proxy_the_public_url_names_everything(emulator: Any, tmp_path: Path) -> None:
    """--public-url (a tunnel or reverse proxy in front): metadata, the challenge and the Box return use
    it, and its host is accepted on /mcp (other hosts still get 421)."""
    public = "https://box-mcp.example.com"
    args = ("--policy", str(people_policy(tmp_path)), "--public-url", public)
    log = tmp_path / "server.log"
    with log.open("wb") as err:
        async with http_server(
            emulator, tmp_path / "data", *args, env=oauth_env(emulator), stderr=err
        ) as server:
            base = server.url.removesuffix("/mcp")
            proxied = {"Host": "box-mcp.example.com"}
            async with httpx2.AsyncClient() as http:
                prm = (
                    await http.get(f"{base}/.well-known/oauth-protected-resource/mcp", headers=proxied)
                ).json()
                meta = (await http.get(f"{base}/.well-known/oauth-authorization-server")).json()
                bare = await http.post(server.url, content=encode(init_message()), headers=HEADERS | proxied)
                stranger = await http.post(
                    server.url, content=encode(init_message()), headers=HEADERS | {"Host": "evil.example"}
                )
    assert prm["resource"] == f"{public}/mcp" and prm["authorization_servers"] == [public]
    assert meta["issuer"] == public and meta["authorization_endpoint"] == f"{public}/authorize"
    assert bare.status_code == 401
    assert (
        f'resource_metadata="{public}/.well-known/oauth-protected-resource/mcp"'
        in bare.headers["www-authenticate"]
    )
    assert stranger.status_code == 421
    said = log.read_text()
    assert f"people connect by URL {public}/mcp" in said and f"{public}/oauth/box/callback" in said


async def test_the_policy_decides_which_clients_may_sign_in(emulator: Any, tmp_path: Path) -> None:
    """`sign_in:` in the policy: only clients redirecting to listed hosts register; with registration off
    a registration is refused, naming the setting to change."""
    policy = people_policy(tmp_path)
    text = policy.read_text() + "sign_in:\n  redirect_hosts: [claude.ai, claude.com]\n"
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(text)
    closed = tmp_path / "closed.yaml"
    closed.write_text(policy.read_text() + "sign_in:\n  registration: false\n")
    body = {"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none", "client_name": "x"}
    claude = body | {"redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]}
    answers = {}
    for name, path in (("hosts", hosts), ("closed", closed)):
        async with http_server(
            emulator, tmp_path / name, "--policy", str(path), env=oauth_env(emulator)
        ) as server:
            base = server.url.removesuffix("/mcp")
            async with httpx2.AsyncClient() as http:
                answers[name] = (
                    await http.post(f"{base}/register", json=body),
                    await http.post(f"{base}/register", json=claude),
                )
    local, listed = answers["hosts"]
    assert local.status_code == 400 and "sign_in.redirect_hosts" in local.json()["error_description"]
    assert listed.status_code == 201
    for refused in answers["closed"]:
        assert refused.status_code == 400 and "sign_in.registration" in refused.json()["error_description"]
