"""box-mcp's authorization server through the MCP SDK's own handlers (/register, /authorize, /token,
/revoke) over the real store, with a clock the tests move: expiry, single use, rotation, reuse
detection, registration limits, hashing at rest. The browser part (consent, Box) is played by calling
the store as the sign-in pages do; tests/e2e/test_remote_sign_in*.py run it through the real server.
Every test runs against both stores: SQLite (one process) and PostgreSQL (replicas; a fresh database).
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest
from starlette.applications import Starlette

from box_mcp.http.oauth import RemoteURLs, auth_routes
from box_mcp.remote import records
from box_mcp.remote.cimd import CIMDResolver
from box_mcp.remote.provider import BoxMCPAuthProvider
from box_mcp.remote.records import OAuthStateStore, digest
from box_mcp.remote.store import OAuthStore
from tests.state.pg import fresh_database

pytestmark = pytest.mark.anyio
BASE = "http://127.0.0.1:8000"
REDIRECT = "http://127.0.0.1:5000/callback"


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class AS:
    http: httpx2.AsyncClient
    store: OAuthStateStore
    clock: Clock
    path: Path  # the SQLite file (sqlite), or nothing there (postgresql)
    backend: str
    database: str | None = None

    def dump(self) -> str:
        """Everything the store keeps at rest, as text: what a stolen database would show."""
        if self.database is None:
            assert isinstance(self.store, OAuthStore)
            return "\n".join(self.store._db.iterdump())
        import psycopg

        with psycopg.connect(self.database, autocommit=True) as db:
            tables = [
                str(r[0])
                for r in db.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'oauth_%'"
                ).fetchall()
            ]
            assert len(tables) == 8, tables
            return "\n".join(
                str(r[0])
                for table in tables
                for r in db.execute(f"SELECT row_to_json(t)::text FROM {table} t").fetchall()  # noqa: S608
            )

    async def register(self, *redirects: str, **extra: Any) -> dict[str, Any]:
        body = {
            "redirect_uris": list(redirects or (REDIRECT,)),
            "client_name": "t",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
        } | extra
        answer = await self.http.post(f"{BASE}/register", json=body)
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def code(self, client_id: str, *, person: str = "42", redirect: str = REDIRECT) -> tuple[str, str]:
        """/authorize, then what the consent page and the Box callback do: (code, verifier)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": "s1",
            "resource": f"{BASE}/mcp",
        }
        answer = await self.http.get(f"{BASE}/authorize?{urlencode(query)}")
        assert answer.status_code == 302, answer.text
        consent = urlsplit(answer.headers["location"])
        assert consent.path == "/oauth/consent"
        request_id = parse_qs(consent.query)["request"][0]
        pending = self.store.pending(request_id)
        assert pending is not None and pending.resource == f"{BASE}/mcp" and pending.scopes == ("box",)
        assert self.store.consent(request_id, box_state="box-state-" + request_id[:8], box_verifier="v")
        assert not self.store.consent(request_id, box_state="again", box_verifier="v")  # answered once
        taken = self.store.take_by_box_state("box-state-" + request_id[:8])
        assert taken is not None and self.store.take_by_box_state("box-state-" + request_id[:8]) is None
        return self.store.issue_code(taken, person_id=person), verifier

    async def token(self, form: dict[str, str], auth: tuple[str, str] | None = None) -> httpx2.Response:
        return await self.http.post(f"{BASE}/token", data=form, auth=auth)

    async def redeem(self, client_id: str, code: str, verifier: str, **extra: str) -> httpx2.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": client_id,
            "code_verifier": verifier,
        } | extra
        return await self.token(form)


@pytest.fixture(scope="module")
def oauth_database() -> Iterator[str]:
    """One fresh database for this module's PostgreSQL runs (emptied before each: see `server`); a new
    database per test would spend seconds creating and dropping them."""
    with fresh_database("oauth") as database:
        yield database


def emptied_vault(database: str) -> str:
    import psycopg

    with psycopg.connect(database, autocommit=True) as db:
        tables = db.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'oauth_%'").fetchall()
        if tables:  # the first test finds none: the store migrates the schema when it opens
            db.execute(f"TRUNCATE {', '.join(str(t[0]) for t in tables)}")
    return database


@pytest.fixture(params=["sqlite", "postgresql"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AS]:
    if request.param == "sqlite":
        async for running in _server(tmp_path, None):
            yield running
    else:
        database = emptied_vault(request.getfixturevalue("oauth_database"))
        async for running in _server(tmp_path, database):
            yield running


async def _server(tmp_path: Path, database: str | None) -> AsyncIterator[AS]:
    clock = Clock()
    store: OAuthStateStore
    if database is None:
        store = OAuthStore.open(tmp_path, clock=clock)
    else:
        from pydantic import SecretStr

        from box_mcp.state.oauth import PostgresOAuthStore

        store = PostgresOAuthStore.open(SecretStr(database), clock=clock)
    urls = RemoteURLs(BASE)
    async with httpx2.AsyncClient() as fetcher:
        provider = BoxMCPAuthProvider(
            store, issuer=BASE, resource=urls.resource, cimd=CIMDResolver(fetcher, allow_loopback=True)
        )
        app = Starlette(routes=auth_routes(provider, urls, registration=True, consent_path="/oauth/consent"))
        async with httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=app), follow_redirects=False
        ) as http:
            backend = "sqlite" if database is None else "postgresql"
            yield AS(http, store, clock, tmp_path / "oauth.sqlite3", backend, database)
    store.close()


async def test_the_whole_grant_expires_rotates_and_revokes(server: AS) -> None:
    client = (await server.register())["client_id"]
    code, verifier = await server.code(client)
    tokens = (await server.redeem(client, code, verifier)).json()
    assert tokens["access_token"].startswith("bmcp_at_") and tokens["refresh_token"].startswith("bmcp_rt_")
    assert tokens["expires_in"] == 3600 and tokens["scope"] == "box"
    access = server.store.load_access(tokens["access_token"])
    assert access is not None and access.person_id == "42" and access.resource == f"{BASE}/mcp"

    server.clock.now += 3601  # the access token expires; the refresh token does not
    assert server.store.load_access(tokens["access_token"]) is None
    rotated = await server.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client}
    )
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()
    assert server.store.load_access(fresh["access_token"]) is not None

    revoke = await server.http.post(
        f"{BASE}/revoke", data={"token": fresh["refresh_token"], "client_id": client}
    )
    assert revoke.status_code == 200
    assert server.store.load_access(fresh["access_token"]) is None  # the whole family
    again = await server.token(
        {"grant_type": "refresh_token", "refresh_token": fresh["refresh_token"], "client_id": client}
    )
    assert again.json()["error"] == "invalid_grant"


async def test_codes_are_short_lived_and_single_use(server: AS) -> None:
    client = (await server.register())["client_id"]
    code, verifier = await server.code(client)
    server.clock.now += 121
    late = await server.redeem(client, code, verifier)
    assert late.status_code == 400 and "expired" in late.json()["error_description"]

    code, verifier = await server.code(client)
    first = (await server.redeem(client, code, verifier)).json()
    replay = await server.redeem(client, code, verifier)
    assert replay.json()["error"] == "invalid_grant" and "already used" in replay.json()["error_description"]
    assert server.store.load_access(first["access_token"]) is None  # RFC 6749 §10.5

    other = (await server.register())["client_id"]
    code, verifier = await server.code(client)
    stolen = await server.redeem(other, code, verifier)  # another client's code
    assert stolen.json()["error"] == "invalid_grant"


async def test_a_reused_refresh_token_revokes_its_family_and_nothing_else(server: AS) -> None:
    client = (await server.register())["client_id"]
    mine = (await server.redeem(client, *await server.code(client))).json()
    theirs = (await server.redeem(client, *await server.code(client, person="43"))).json()
    rotated = (
        await server.token(
            {"grant_type": "refresh_token", "refresh_token": mine["refresh_token"], "client_id": client}
        )
    ).json()
    reuse = await server.token(
        {"grant_type": "refresh_token", "refresh_token": mine["refresh_token"], "client_id": client}
    )
    assert reuse.json()["error"] == "invalid_grant" and "revoked" in reuse.json()["error_description"]
    assert server.store.load_access(rotated["access_token"]) is None
    assert server.store.load_access(theirs["access_token"]) is not None  # another sign-in is untouched


async def test_refresh_tokens_expire_when_idle(server: AS) -> None:
    client = (await server.register())["client_id"]
    tokens = (await server.redeem(client, *await server.code(client))).json()
    server.clock.now += records.REFRESH_IDLE_SECONDS + 1
    late = await server.token(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client}
    )
    assert late.json()["error"] == "invalid_grant"


async def test_confidential_clients_get_a_derived_secret_that_is_never_stored(server: AS) -> None:
    registered = await server.register(token_endpoint_auth_method="client_secret_post")
    secret = registered["client_secret"]
    assert secret == server.store.client_secret_for(registered["client_id"])
    code, verifier = await server.code(registered["client_id"])
    wrong = await server.redeem(registered["client_id"], code, verifier, client_secret="nope")
    assert wrong.status_code == 401
    right = await server.redeem(registered["client_id"], code, verifier, client_secret=secret)
    assert right.status_code == 200, right.text
    assert secret not in server.dump()


async def test_tokens_codes_and_links_are_stored_only_as_hashes(server: AS) -> None:
    client = (await server.register())["client_id"]
    code, verifier = await server.code(client)
    tokens = (await server.redeem(client, code, verifier)).json()
    link = server.store.begin_connect("42")
    if server.backend == "sqlite":
        raw = server.path.read_bytes() + (
            server.path.with_name("oauth.sqlite3-wal").read_bytes()
            if server.path.with_name("oauth.sqlite3-wal").exists()
            else b""
        )
        assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600
    else:
        raw = server.dump().encode()
        assert digest(tokens["access_token"]).encode() in raw  # the dump does show what is kept
    for secret in (code, tokens["access_token"], tokens["refresh_token"], link):
        assert secret.encode() not in raw
    assert "bmcp_" not in repr(server.store.load_access(tokens["access_token"]))


async def test_redirect_uris_match_exactly_but_loopback_on_any_port(server: AS) -> None:
    client = (await server.register())["client_id"]
    other = (await server.register("https://other.example/cb"))["client_id"]
    assert other
    query = {
        "response_type": "code",
        "client_id": client,
        "code_challenge": "x" * 43,
        "resource": f"{BASE}/mcp",
    }
    for redirect, status in (
        ("http://127.0.0.1:6000/callback", 302),
        ("http://127.0.0.1:6000/callback/", 400),
        ("http://127.0.0.1:6000/other", 400),
        ("http://localhost:5000/callback", 400),  # registered as 127.0.0.1: the host is exact
        ("https://other.example/cb", 400),
    ):
        answer = await server.http.get(f"{BASE}/authorize?{urlencode(query | {'redirect_uri': redirect})}")
        assert answer.status_code == status, (redirect, answer.text)


async def test_registration_refuses_bad_redirects_and_floods(
    server: AS, monkeypatch: pytest.MonkeyPatch
) -> None:
    for bad in ("http://evil.example/cb", "javascript:alert(1)"):
        answer = await server.http.post(
            f"{BASE}/register",
            json={
                "redirect_uris": [bad],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code"],
            },
        )
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_redirect_uri", answer.text
    monkeypatch.setattr(records, "MAX_REGISTRATIONS_PER_MINUTE", 3)
    for _ in range(3):
        await server.register()
    flood = await server.http.post(
        f"{BASE}/register", json={"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"}
    )
    assert flood.status_code == 400 and "too many registrations" in flood.text
    server.clock.now += 61
    await server.register()  # a minute later it is fine again


async def test_unused_registrations_expire(server: AS) -> None:
    idle = (await server.register())["client_id"]
    used = (await server.register())["client_id"]
    await server.redeem(used, *await server.code(used))
    server.clock.now += records.UNUSED_CLIENT_SECONDS + 1
    assert server.store.get_client(idle) is None
    assert server.store.get_client(used) is not None
    server.clock.now += records.IDLE_CLIENT_SECONDS
    assert server.store.get_client(used) is None


async def test_the_resource_is_required_and_must_be_this_server(server: AS) -> None:
    client = (await server.register())["client_id"]
    base = {
        "response_type": "code",
        "client_id": client,
        "redirect_uri": REDIRECT,
        "code_challenge": "x" * 43,
        "state": "s",
    }
    for resource in (None, "https://elsewhere.example/mcp", f"{BASE}/other"):
        query = base | ({"resource": resource} if resource else {})
        answer = await server.http.get(f"{BASE}/authorize?{urlencode(query)}")
        assert answer.status_code == 302
        said = parse_qs(urlsplit(answer.headers["location"]).query)
        assert said["error"] == ["invalid_target"] and said["state"] == ["s"] and said["iss"] == [BASE]
    ok = await server.http.get(f"{BASE}/authorize?{urlencode(base | {'resource': f'{BASE}/mcp/'})}")
    assert ok.status_code == 302 and urlsplit(ok.headers["location"]).path == "/oauth/consent"


async def test_people_and_clients_are_listed_and_revoked_as_a_whole(server: AS) -> None:
    client = (await server.register())["client_id"]
    tokens = (await server.redeem(client, *await server.code(client, person="42"))).json()
    server.store.upsert_person("42", "ada@acme.example", "Ada", ("777",))
    server.store.upsert_person("42", "ada@acme.example", "Ada A.", ("777", "778"))  # signs in again
    server.clock.now += 120
    server.store.touch_person("42")
    (ada,) = server.store.people()
    assert (ada.name, ada.groups, ada.clients) == ("Ada A.", ("777", "778"), (client,))
    assert ada.last_seen == server.clock.now and ada.first_seen == server.clock.now - 120
    (listed,) = server.store.clients()
    assert listed.client_id == client and listed.kind == "dcr" and listed.redirect_hosts == ("127.0.0.1",)
    assert server.store.revoke_client(client) == 1
    assert server.store.load_access(tokens["access_token"]) is None
    assert server.store.people()[0].clients == ()
    assert server.store.revoke_person("42") == 0  # nothing live is left
    assert server.store.forget_person("42") and server.store.person("42") is None
    assert not server.store.revoke_token("bmcp_at_unknown")


async def test_a_connect_link_is_single_use_and_has_no_code(server: AS) -> None:
    link = server.store.begin_connect("42")
    pending = server.store.pending(link)
    assert pending is not None and pending.purpose == "connect" and pending.person_id == "42"
    assert server.store.consent(link, box_state="st", box_verifier="v")
    assert server.store.pending(link) is None  # answered: the page is not shown again
    taken = server.store.take_by_box_state("st")
    assert taken is not None and taken.person_id == "42" and taken.box_verifier == "v"
    server.clock.now += records.PENDING_SECONDS + 1
    late = server.store.begin_connect("42")
    server.clock.now += records.PENDING_SECONDS + 1
    assert server.store.pending(late) is None
