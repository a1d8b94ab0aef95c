"""Broker test fixtures: a fake token endpoint (MockTransport) with Box's rotation rules, a hand-driven clock,
the Box emulator in process with a consent-page "person", and the vault on each backend (SQLite in the
test's directory; PostgreSQL in this worker's throwaway database, tests/state/pg.py)."""

from __future__ import annotations

import html
import itertools
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx2
import psycopg
import pytest
from pydantic import SecretStr

from box_mcp.broker.crypto import new_key_text
from box_mcp.broker.vault import VAULT_FILE, SQLiteVault, VaultStore
from box_mcp.state.migrations import migrate
from tests.state.pg import fresh_database


@dataclass
class FakeClock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeBox:
    """Box's /oauth2/token semantics that the broker depends on, nothing more."""

    clock: FakeClock
    ttl: int = 3600
    live_refresh: set[str] = field(default_factory=set)
    live_access: dict[str, float] = field(default_factory=dict)  # token -> expiry
    grants: list[str] = field(default_factory=list)  # grant_type of every token request, in order
    forms: list[dict[str, str]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    codes: dict[str, str] = field(default_factory=dict)  # authorization code -> expected PKCE verifier
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def issue(self, *, refresh: bool) -> dict[str, object]:
        n = next(self._ids)
        access = f"AT-secret-{n:04d}-xyzzy"
        self.live_access[access] = self.clock.now + self.ttl
        body: dict[str, object] = {
            "access_token": access,
            "expires_in": self.ttl,
            "token_type": "bearer",
            "restricted_to": [],
        }
        if refresh:
            rt = f"RT-secret-{n:04d}-plugh"
            self.live_refresh.add(rt)
            body["refresh_token"] = rt
        return body

    def seed_grant(self) -> tuple[str, str]:
        body = self.issue(refresh=True)
        return str(body["access_token"]), str(body["refresh_token"])

    def api_ok(self, token: str) -> bool:
        """What an API call with `token` would get: True for 200, False for 401."""
        expiry = self.live_access.get(token)
        return expiry is not None and self.clock.now < expiry

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        form = dict(parse_qsl(request.content.decode()))
        if request.url.path == "/oauth2/revoke":
            self.revoked.append(form.get("token", ""))
            self.live_refresh.discard(form.get("token", ""))
            self.live_access.pop(form.get("token", ""), None)
            return httpx2.Response(200)
        if request.url.path == "/2.0/users/me":
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            if not self.api_ok(token):
                return httpx2.Response(401)
            return httpx2.Response(200, json={"type": "user", "id": "11", "login": "ada@example.com"})
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        self.forms.append(form)
        if grant == "refresh_token":
            rt = form.get("refresh_token", "")
            if rt not in self.live_refresh:
                return _error("invalid_grant", "Invalid refresh token")
            self.live_refresh.discard(rt)  # single use
            return httpx2.Response(200, json=self.issue(refresh=True))
        if grant == "authorization_code":
            expected = self.codes.pop(form.get("code", ""), None)
            if expected is None or expected != form.get("code_verifier"):
                return _error("invalid_grant", "bad code or verifier")
            return httpx2.Response(200, json=self.issue(refresh=True))
        if grant == "urn:ietf:params:oauth:grant-type:token-exchange":
            if not self.api_ok(form.get("subject_token", "")):
                return _error("invalid_grant", "Invalid subject token")
            body = self.issue(refresh=False)
            body["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
            return httpx2.Response(200, json=body)
        if grant in ("client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"):
            return httpx2.Response(200, json=self.issue(refresh=False))
        return _error("unsupported_grant_type", "nope")

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(
            transport=httpx2.MockTransport(self.handler), base_url="https://api.box.com"
        )


def _error(code: str, description: str) -> httpx2.Response:
    return httpx2.Response(400, json={"error": code, "error_description": description})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_box(clock: FakeClock) -> FakeBox:
    return FakeBox(clock=clock)


@pytest.fixture(scope="session")
def broker_database() -> Iterator[str]:
    """One PostgreSQL database for this worker's broker tests; each test empties its vault first."""
    with fresh_database("broker") as url:
        yield url


def emptied_vault(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("TRUNCATE vault_grants")
    return url


@pytest.fixture(params=["sqlite", "postgres"])
def vault_backend(request: pytest.FixtureRequest) -> str:
    """Which VaultStore a test runs on: every vault test runs on both."""
    return str(request.param)


@pytest.fixture
def vault_env(tmp_path: Path, vault_backend: str, request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that puts a deployment's vault on `vault_backend` (an empty vault, a new key)."""
    env = {"BOX_MCP_VAULT_KEY": new_key_text()}
    if vault_backend == "postgres":
        env["BOX_MCP_DATABASE_URL"] = emptied_vault(request.getfixturevalue("broker_database"))
    return env


@dataclass
class VaultBackend:
    """A vault test's view of one backend: open a store, and reach under it as an attacker with the
    storage (but not the key) would."""

    name: str
    tmp_path: Path
    url: str | None = None  # the PostgreSQL database (None: SQLite in tmp_path)

    def open(self, key: SecretStr | None) -> VaultStore:
        if self.url is None:
            return SQLiteVault.open(self.tmp_path, key)
        from box_mcp.state.vault import PostgresVault

        return PostgresVault.open(SecretStr(self.url), key)

    @property
    def table(self) -> str:
        return "grants" if self.url is None else "vault_grants"

    def execute(self, sql: str) -> None:
        """Raw SQL on the stored rows (the table is `self.table`)."""
        if self.url is None:
            db = sqlite3.connect(self.tmp_path / VAULT_FILE)
            with db:
                db.execute(sql)
            db.close()
        else:
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(sql.encode())

    def stored_bytes(self) -> bytes:
        """Everything the storage holds about the grants, as bytes (the file; the table's rows)."""
        if self.url is None:
            return (self.tmp_path / VAULT_FILE).read_bytes()
        with psycopg.connect(self.url, autocommit=True) as conn:
            rows = conn.execute("SELECT * FROM vault_grants").fetchall()
        return b"".join(
            bytes(v) if isinstance(v, (bytes, memoryview)) else str(v).encode() for row in rows for v in row
        )


@pytest.fixture
def vaults(tmp_path: Path, vault_backend: str, request: pytest.FixtureRequest) -> VaultBackend:
    if vault_backend == "sqlite":
        return VaultBackend("sqlite", tmp_path)
    return VaultBackend("postgres", tmp_path, emptied_vault(request.getfixturevalue("broker_database")))


class EmuBox:
    """The emulator in process (ASGI transport): the broker's token requests and the Box client's
    API calls both reach it at http://emulator."""

    base_url = "http://emulator"

    def __init__(self) -> None:
        from box_mcp.emulator.app import create_app

        self.app = create_app(memory=True, seed="demo", rate_limits=False, base_url=self.base_url)
        self.state = self.app.state.emulator
        self.credentials: dict[str, Any] = self.state.credentials

    def http(self, **kw: Any) -> httpx2.AsyncClient:
        """A client on the emulator; `kw` as for httpx2.AsyncClient (event_hooks, ...)."""
        return httpx2.AsyncClient(transport=httpx2.ASGITransport(app=self.app), **kw)

    def client(self, source: Any) -> Any:
        from box_mcp.box import BoxClient

        return BoxClient(
            token_source=source,
            base_url=self.base_url,
            transport=httpx2.ASGITransport(app=self.app),
            max_attempts=2,
        )

    def user(self, role: str) -> dict[str, Any]:
        return next(u for u in self.credentials["users"] if u["role"] == role)

    def expire(self, token: str) -> None:
        """The token's hour is up at Box (the broker's own clock does not know yet)."""
        from box_mcp.emulator.store import sha256_hex

        self.state.store.execute("UPDATE tokens SET expires_at = 0 WHERE sha256 = ?", (sha256_hex(token),))

    def close(self) -> None:
        self.state.store.close()  # no lifespan under ASGITransport


@pytest.fixture
def emu() -> Iterator[EmuBox]:
    box = EmuBox()
    yield box
    box.close()


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')
_USER = re.compile(r'<input type="radio" name="user_id" value="([^"]*)"')


async def approve_consent(
    box_http: httpx2.AsyncClient, authorize_url: str, *, user_id: str | None = None, decision: str = "approve"
) -> str:
    """Play the person at the emulator's consent page; returns where Box redirects the browser."""
    page = await box_http.get(authorize_url)
    assert page.status_code == 200, page.text[:300]
    form = {html.unescape(k): html.unescape(v) for k, v in _HIDDEN.findall(page.text)}
    form["user_id"] = user_id or _USER.findall(page.text)[0]
    form["decision"] = decision
    answer = await box_http.post(authorize_url.split("?", 1)[0], data=form)
    assert answer.status_code == 302, answer.text[:300]
    return answer.headers["location"]


def browser_for(emu: EmuBox, *, user_id: str | None = None) -> Any:
    """An `open_browser` for `oauth.login`: consents at the emulator, then follows the redirect to the
    broker's loopback receiver over real TCP."""

    async def open_browser(url: str) -> None:
        async with emu.http() as box_http:
            location = await approve_consent(box_http, url, user_id=user_id)
        async with httpx2.AsyncClient() as loopback:
            await loopback.get(location)

    return open_browser


@pytest.fixture
def consent() -> Any:
    """`browser_for` as a fixture: test modules cannot import conftest at run time."""
    return browser_for


@pytest.fixture
def approve() -> Any:
    """`approve_consent` as a fixture."""
    return approve_consent
