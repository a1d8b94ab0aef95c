"""Signing in to the console with Box: box-mcp's Box OAuth app (PKCE and state), the emulator's real
sign-in pages over loopback HTTP, and the console on the deployment's ASGI app. Console admins
(console.admins.people) and the approvers rules name get in; anyone else is refused and audited, and
the console keeps no Box grant either way."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from box_mcp.console.auth import FLOW_COOKIE, SESSION_COOKIE
from tests.console.conftest import BASE, csrf_of
from tests.e2e.browser import Browser, approve_all

pytestmark = pytest.mark.anyio


def _oauth_env(emulator: Any) -> dict[str, str]:
    oauth = emulator.credentials["oauth"]
    return {"BOX_OAUTH_CLIENT_ID": oauth["client_id"], "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"]}


async def _sign_in_with_box(c: Any, emulator: Any, login: str) -> tuple[Browser, httpx2.Response]:
    """What a browser does: the console's button, Box's sign-in page as `login`, back to the console."""
    mounts = {BASE.replace("http://", "all://"): httpx2.ASGITransport(app=c.app)}
    http = httpx2.AsyncClient(mounts=mounts)
    browser = Browser(http, origins=[BASE, emulator.base_url])
    page = await browser.request("GET", BASE + "/console/signin")
    assert "Sign in with Box" in page.text
    start = await browser.request(
        "POST", BASE + "/console/signin/box", {"csrf": csrf_of(page.text), "next": "/console/approvals"}
    )
    assert start.status_code == 303
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["state"]
    assert query["redirect_uri"] == [BASE + "/console/signin/box/callback"]
    assert "form-action 'self' " + emulator.base_url in page.headers["content-security-policy"]
    visit = await browser.walk(authorize, approve_all(login))
    assert visit.stopped is not None
    return browser, visit.stopped


async def test_a_console_admin_signs_in_with_box(make_console: Any, emulator: Any) -> None:
    async with make_console(calls=False, admins="people: [ada@acme.example]", env=_oauth_env(emulator)) as c:
        browser, landed = await _sign_in_with_box(c, emulator, "ada@acme.example")
        assert landed.status_code == 200 and "Continue to the console" in landed.text
        assert 'href="/console/approvals"' in landed.text
        cookie = next(h for h in landed.headers.get_list("set-cookie") if h.startswith(SESSION_COOKIE + "="))
        assert "samesite=strict" in cookie.lower() and "httponly" in cookie.lower()
        audit = await browser.request("GET", BASE + "/console/audit")
        assert audit.status_code == 200 and "ada@acme.example" in audit.text
        assert (await browser.request("GET", BASE + "/console/")).status_code == 200
        records = await c.records("console")
        assert [(r["detail"]["action"], r["detail"].get("via")) for r in records] == [("signed_in", "box")]
        assert c.deployment.broker.vault.list() == []  # the console kept no Box grant
        await browser.http.aclose()


async def test_a_named_approver_signs_in_and_sees_only_approvals(make_console: Any, emulator: Any) -> None:
    async with make_console(calls=False, env=_oauth_env(emulator)) as c:
        c.policy.write_text(c.policy.read_text().replace("pat@acme.example", "bob@acme.example"))
        assert c.deployment.store is not None and c.deployment.store.reload()
        browser, landed = await _sign_in_with_box(c, emulator, "bob@acme.example")
        assert landed.status_code == 200
        assert (await browser.request("GET", BASE + "/console/approvals")).status_code == 200
        assert (await browser.request("GET", BASE + "/console/audit")).status_code == 403
        await browser.http.aclose()


async def test_someone_the_policy_does_not_name_is_refused_and_audited(
    make_console: Any, emulator: Any
) -> None:
    async with make_console(calls=False, env=_oauth_env(emulator)) as c:
        browser, landed = await _sign_in_with_box(c, emulator, "bob@acme.example")
        assert landed.status_code == 403 and "Not a console user" in landed.text
        assert SESSION_COOKIE not in browser.jar.get(BASE, {})
        records = await c.records("console")
        assert records[-1]["detail"]["action"] == "sign_in_refused"
        assert records[-1]["detail"]["login"] == "bob@acme.example"
        assert c.deployment.broker.vault.list() == []
        await browser.http.aclose()


async def test_a_return_from_box_without_the_flow_cookie_is_refused(make_console: Any, emulator: Any) -> None:
    async with make_console(calls=False, env=_oauth_env(emulator)) as c:
        r = await c.http.get("/console/signin/box/callback", params={"code": "x", "state": "y"})
        assert r.status_code == 400 and "did not start in this browser" in r.text
        c.http.cookies.set(FLOW_COOKIE, "garbage", path="/console")
        r = await c.http.get("/console/signin/box/callback", params={"code": "x", "state": "y"})
        assert r.status_code == 400
