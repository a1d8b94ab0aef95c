"""A fake Box token endpoint (httpx2.MockTransport) with Box's rotation rules, and a hand-driven clock."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import httpx2
import pytest

from box_mcp.broker.crypto import new_key_text


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
        body: dict[str, object] = {"access_token": access, "expires_in": self.ttl, "token_type": "bearer",
                                   "restricted_to": []}
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
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler), base_url="https://api.box.com")


def _error(code: str, description: str) -> httpx2.Response:
    return httpx2.Response(400, json={"error": code, "error_description": description})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_box(clock: FakeClock) -> FakeBox:
    return FakeBox(clock=clock)


@pytest.fixture
def vault_env(tmp_path: Path) -> dict[str, str]:
    return {"BOX_MCP_VAULT_KEY": new_key_text()}
