"""The console in process, on a real deployment (tests/console/conftest.py): sign-in and its limits,
sessions, CSRF, the security headers and the Host/Origin guard, the audit's filters and records,
approvals and who may decide them, agents, policy and identities."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from box_mcp.broker.vault import GrantRecord
from box_mcp.console.auth import SESSION_COOKIE, Sealer, Session, derive_key
from box_mcp.console.data import AuditFilters
from box_mcp.console.wiring import console_for
from tests.console.conftest import ADMIN_KEY, AGENT_KEY, BASE, csrf_of, held, policy_text

pytestmark = pytest.mark.anyio

PAGES = (
    "/console/",
    "/console/audit",
    "/console/approvals",
    "/console/agents",
    "/console/policy",
    "/console/identities",
)


def _set_cookie(response: httpx2.Response, name: str) -> str:
    return next(c for c in response.headers.get_list("set-cookie") if c.startswith(name + "="))


def _forged(c: Any, login: str, *, user_id: str = "42", groups: tuple[str, ...] = ()) -> str:
    """A Box sign-in session as the console seals one (same deployment key): what a browser holds after
    signing in with Box as `login`."""
    assert c.deployment.console_secret is not None
    sealer = Sealer(derive_key(c.deployment.console_secret))
    session = Session.new("box", login, login=login, user_id=user_id, groups=groups)
    return sealer.seal(session.to_dict(), "session")


async def test_signed_out_every_page_sends_you_to_sign_in_and_headers_are_strict(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        for path in PAGES:
            r = await c.http.get(path)
            assert r.status_code == 303, path
            target = urlsplit(r.headers["location"])
            assert target.path == "/console/signin" and parse_qs(target.query)["next"] == [path]
        assert (await c.http.get("/console")).headers["location"] == "/console/"
        page = await c.http.get("/console/signin")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "<script>" not in page.text and " style=" not in page.text  # no inline script or style
        css = await c.http.get("/console/static/console.css")
        assert css.status_code == 200 and "text/css" in css.headers["content-type"]


async def test_an_admin_key_signs_in_with_a_sealed_strict_cookie_and_is_audited(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        signed = await c.sign_in()
        assert signed.status_code == 303 and signed.headers["location"] == "/console/audit"
        cookie = _set_cookie(signed, SESSION_COOKIE)
        attrs = cookie.lower()
        assert "httponly" in attrs and "samesite=strict" in attrs and "path=/console" in attrs
        assert "max-age=28800" in attrs
        assert "secure" not in attrs  # plain http on loopback: a browser would drop a Secure cookie
        assert "admin-key" not in cookie and "ops" not in cookie.split(";")[0]  # sealed, not readable
        for path in PAGES:
            assert (await c.http.get(path)).status_code == 200, path
        assert "admin-key:ops" in (await c.http.get("/console/")).text
        records = await c.records("console")
        assert [r["detail"]["action"] for r in records] == ["signed_in"]
        assert records[0]["detail"]["who"] == "admin-key:ops"
        out = await c.http.post(
            "/console/signout", data={"csrf": csrf_of((await c.http.get("/console/")).text)}
        )
        assert out.status_code == 303
        assert (await c.http.get("/console/audit")).status_code == 303  # signed out


def test_cookies_are_secure_unless_plain_http_on_loopback() -> None:
    from box_mcp.console.wiring import secure_cookies

    assert not secure_cookies("http://127.0.0.1:8000")
    assert not secure_cookies("http://localhost:8000")
    assert secure_cookies("https://127.0.0.1:8000")
    assert secure_cookies("http://10.0.0.5:8000")
    assert secure_cookies("https://box-mcp.example.com")


async def test_wrong_keys_are_refused_audited_without_the_key_and_rate_limited(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        for attempt in range(5):
            r = await c.sign_in(f"bmcp_wrong_{attempt}")
            assert r.status_code == 401 and "not a console admin key" in r.text
            assert SESSION_COOKIE + "=" not in r.headers.get("set-cookie", "")
        blocked = await c.sign_in(ADMIN_KEY)  # even the right key waits: the window is per client
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in blocked.text
        agent_key = await c.sign_in(AGENT_KEY)
        assert agent_key.status_code == 429
        records = await c.records("console")
        refused = [r for r in records if r["detail"]["action"] == "sign_in_refused"]
        assert len(refused) == 7 and {r["detail"]["why"] for r in refused} == {"unknown key", "rate_limited"}
        text = repr(records)
        assert "bmcp_wrong" not in text and ADMIN_KEY not in text


async def test_an_agent_key_is_not_a_console_key(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        assert (await c.sign_in(AGENT_KEY)).status_code == 401


async def test_every_post_needs_the_csrf_token(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        bare = await c.http.post("/console/signin", data={"key": ADMIN_KEY})
        assert bare.status_code == 403 and "Form expired" in bare.text
        await c.sign_in()
        request = held()
        c.approvals.create(request)
        for path, data in (
            ("/console/policy", {"agent": "bot", "tool": "who_am_i"}),
            (f"/console/approvals/{request.id}", {"decision": "approve"}),
            ("/console/identities/revoke", {"grant": "user:x"}),
            ("/console/signout", {}),
        ):
            for token in (None, "forged"):
                fields = data | ({"csrf": token} if token else {})
                r = await c.http.post(path, data=fields)
                assert r.status_code == 403, (path, token)
        assert c.approvals.get(request.id).status == "pending"
        assert (await c.http.get("/console/audit")).status_code == 200  # still signed in


async def test_the_host_and_origin_guard_covers_the_console(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        evil_host = await c.http.get("/console/signin", headers={"Host": "evil.example"})
        assert evil_host.status_code == 421
        page = await c.http.get("/console/signin")
        form = {"csrf": csrf_of(page.text), "key": ADMIN_KEY}
        cross = await c.http.post("/console/signin", data=form, headers={"Origin": "http://evil.example"})
        assert cross.status_code == 403 and "Invalid Origin" in cross.text
        null_cross = await c.http.post(
            "/console/signin", data=form, headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"}
        )
        assert null_cross.status_code == 403 and "Invalid Origin" in null_cross.text
        # The console's own pages send `Origin: null` (Referrer-Policy: no-referrer) from the same origin.
        own = await c.http.post(
            "/console/signin", data=form, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
        )
        assert own.status_code == 303
        mcp_null = await c.http.post("/mcp", content=b"{}", headers={"Origin": "null"})
        assert mcp_null.status_code == 403  # /mcp keeps the exact rule


async def test_the_audit_filters_pages_and_shows_a_record_in_full(make_console: Any, emulator: Any) -> None:
    async with make_console() as c:
        await c.sign_in()
        readme = emulator.credentials["files"]["Engineering/README.md"]
        every = (await c.http.get("/console/audit")).text
        assert "get_file_details" in every and "who_am_i" in every and "chain verified" in every
        denied = (await c.http.get("/console/audit", params={"denied": "1"})).text
        rows = re.findall(r"<tr>\s*<td class=\"num\">.*?</tr>", denied, re.S)
        assert rows and all("who_am_i" in r and "denied" in r for r in rows)
        by_tool = (await c.http.get("/console/audit", params={"tool": "get_file_details"})).text
        assert "get_file_details" in by_tool and "who_am_i</td>" not in by_tool
        by_item = (await c.http.get("/console/audit", params={"item": f"file:{readme}"})).text
        assert "README.md" in by_item and "who_am_i</td>" not in by_item
        recent = (await c.http.get("/console/audit", params={"since": "1h", "agent": "bot"})).text
        assert "get_file_details" in recent
        future = (await c.http.get("/console/audit", params={"since": "2999-01-01"})).text
        assert "No record matches these filters" in future
        nobody = (await c.http.get("/console/audit", params={"person": "nobody@acme.example"})).text
        assert "No record matches these filters" in nobody
        bad = await c.http.get("/console/audit", params={"since": "yesterday-ish"})
        assert bad.status_code == 200 and "cannot read the time" in bad.text

        record_id = re.search(r'href="/console/audit/([0-9A-Z]+)"', by_tool).group(1)
        full = await c.http.get(f"/console/audit/{record_id}")
        assert full.status_code == 200 and record_id in full.text and "&#34;hash&#34;" in full.text
        assert (await c.http.get("/console/audit/0000000000000000000000000A")).status_code == 404
        assert (await c.http.get("/console/audit/not-an-id")).status_code == 404

        source = console_for(c.deployment, BASE).audit
        first = source.page(AuditFilters(), size=2)
        assert len(first.records) == 2 and first.next_before is not None
        second = source.page(AuditFilters(), before=first.next_before, size=2)
        assert second.records and second.records[0]["seq"] < first.records[-1]["seq"]
        listing = (await c.http.get("/console/audit")).text
        assert "Older records" not in listing  # fewer records than one page


async def test_an_admin_approves_and_a_denial_needs_a_reason(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        await c.sign_in()
        first, second = held(), held(tool="move_file")
        c.approvals.create(first)
        c.approvals.create(second)
        listing = await c.http.get("/console/approvals")
        assert first.id in listing.text and second.id in listing.text
        feed = (await c.http.get("/console/approvals.json")).json()
        assert set(feed["pending"]) == {first.id, second.id}
        page = await c.http.get(f"/console/approvals/{first.id}")
        assert "deletes-need-approval" in page.text and "write file:123" in page.text
        token = csrf_of(page.text)
        no_reason = await c.http.post(
            f"/console/approvals/{first.id}", data={"csrf": token, "decision": "deny"}
        )
        assert no_reason.status_code == 400 and "Say why" in no_reason.text
        approved = await c.http.post(
            f"/console/approvals/{first.id}", data={"csrf": token, "decision": "approve", "note": "fine"}
        )
        assert approved.status_code == 303
        decided = c.approvals.get(first.id)
        assert decided.status == "approved" and decided.decided_by == "admin-key:ops"
        assert decided.decision_note == "fine"
        again = await c.http.post(
            f"/console/approvals/{first.id}", data={"csrf": token, "decision": "deny", "note": "no"}
        )
        assert again.status_code == 409 and "approved" in again.text
        denied = await c.http.post(
            f"/console/approvals/{second.id}", data={"csrf": token, "decision": "deny", "note": "not today"}
        )
        assert denied.status_code == 303 and c.approvals.get(second.id).status == "denied"
        history = (await c.http.get("/console/approvals")).text
        assert "not today" in history and "Nothing is waiting" in history
        steps = [(r["detail"]["action"], r["detail"]["by"]) for r in await c.records("approval")]
        assert steps == [("approved", "admin-key:ops"), ("denied", "admin-key:ops")]
        assert (await c.http.get("/console/approvals/apr_unknown")).status_code == 404


async def test_a_box_approver_decides_only_the_requests_that_name_them(make_console: Any) -> None:
    async with make_console(calls=False) as c:
        for_admins = held(approvers=("admin",))
        for_pat = held(approvers=("pat@acme.example",))
        for_group = held(approvers=("group:777",))
        for_caller = held(approvers=("caller",), person_id="42", person_login="pat@acme.example")
        for r in (for_admins, for_pat, for_group, for_caller):
            c.approvals.create(r)
        c.http.cookies.set(SESSION_COOKIE, _forged(c, "pat@acme.example", groups=("777",)), path="/console")
        home = await c.http.get("/console/")
        assert home.status_code == 303 and home.headers["location"] == "/console/approvals"
        listing = (await c.http.get("/console/approvals")).text
        assert for_pat.id in listing and for_group.id in listing and for_caller.id in listing
        assert for_admins.id not in listing
        assert (await c.http.get("/console/audit")).status_code == 403  # admins only
        assert (await c.http.get(f"/console/approvals/{for_admins.id}")).status_code == 404
        token = csrf_of((await c.http.get(f"/console/approvals/{for_pat.id}")).text)
        refused = await c.http.post(
            f"/console/approvals/{for_admins.id}", data={"csrf": token, "decision": "approve"}
        )
        assert refused.status_code == 403 and c.approvals.get(for_admins.id).status == "pending"
        for request in (for_pat, for_group, for_caller):
            ok = await c.http.post(
                f"/console/approvals/{request.id}", data={"csrf": token, "decision": "approve"}
            )
            assert ok.status_code == 303
            assert c.approvals.get(request.id).decided_by == "pat@acme.example"
        # Someone the policy names nowhere holds no session, whatever the cookie says.
        c.http.cookies.clear()
        c.http.cookies.set(SESSION_COOKIE, _forged(c, "eve@acme.example"), path="/console")
        assert (await c.http.get("/console/approvals")).status_code == 303


async def test_a_session_ends_when_its_key_leaves_the_policy_or_is_tampered_with(
    make_console: Any, emulator: Any
) -> None:
    async with make_console(calls=False) as c:
        await c.sign_in()
        value = c.http.cookies.get(SESSION_COOKIE)
        tampered = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
        c.http.cookies.clear()
        c.http.cookies.set(SESSION_COOKIE, tampered, path="/console")
        assert (await c.http.get("/console/audit")).status_code == 303
        c.http.cookies.clear()
        c.http.cookies.set(SESSION_COOKIE, value, path="/console")
        assert (await c.http.get("/console/audit")).status_code == 200
        c.policy.write_text(policy_text(emulator, admins="people: [root@acme.example]"))
        assert c.deployment.store is not None and c.deployment.store.reload()
        assert (await c.http.get("/console/audit")).status_code == 303


async def test_agents_policy_and_identities_pages(make_console: Any, emulator: Any) -> None:
    oauth = emulator.credentials["oauth"]
    env = {"BOX_OAUTH_CLIENT_ID": oauth["client_id"], "BOX_OAUTH_CLIENT_SECRET": oauth["client_secret"]}
    async with make_console(env=env) as c:
        await c.sign_in()
        agents = (await c.http.get("/console/agents")).text
        assert "bot" in agents and "May read with every tool, anywhere" in agents
        assert "Never with who_am_i" in agents and "Needs approval to use delete_file" in agents
        assert "100 calls/min" in agents and "calls, 0 writes in the last minute" in agents
        assert "As-User" in agents and "none recorded" not in agents
        policy = await c.http.get("/console/policy")
        assert "version " in policy.text and "policy.yaml" in policy.text
        token = csrf_of(policy.text)
        denied = await c.http.post(
            "/console/policy", data={"csrf": token, "agent": "bot", "tool": "who_am_i"}
        )
        assert (
            denied.status_code == 200 and 'class="verdict deny"' in denied.text and "no-whoami" in denied.text
        )
        held_call = await c.http.post(
            "/console/policy",
            data={"csrf": token, "agent": "bot", "tool": "delete_file", "arguments": '{"file_id": "5"}'},
        )
        assert (
            'class="verdict approval_required"' in held_call.text
            and "deletes-need-approval" in held_call.text
        )
        bad_json = await c.http.post(
            "/console/policy", data={"csrf": token, "agent": "bot", "tool": "who_am_i", "arguments": "{oops"}
        )
        assert bad_json.status_code == 400 and "not valid JSON" in bad_json.text
        unknown = await c.http.post("/console/policy", data={"csrf": token, "agent": "bot", "tool": "nope"})
        assert unknown.status_code == 400 and "unknown tool" in unknown.text

        empty = (await c.http.get("/console/identities")).text
        assert "No Box sign-in is stored" in empty
        vault = c.deployment.broker.vault
        vault.put(
            GrantRecord(
                key="user:legal",
                kind="user_grant",
                access_token="SECRET-ACCESS-TOKEN",
                access_expires_at=time.time() + 3000,
                refresh_token="SECRET-REFRESH-TOKEN",
                client_id=oauth["client_id"],
                user_id="99",
                user_login="legal@acme.example",
            ),
            expect_generation=None,
        )
        listed = (await c.http.get("/console/identities")).text
        assert "user:legal" in listed and "legal@acme.example" in listed and "valid 49 min" in listed
        assert "SECRET" not in listed
        revoked = await c.http.post(
            "/console/identities/revoke", data={"csrf": csrf_of(listed), "grant": "user:legal"}
        )
        assert revoked.status_code == 200 and "Revoked user:legal at Box" in revoked.text
        assert vault.get("user:legal") is None
        vault.put(
            GrantRecord(key="user:stale", kind="user_grant", refresh_token="R", client_id="another-app"),
            expect_generation=None,
        )
        refused = await c.http.post(
            "/console/identities/revoke", data={"csrf": csrf_of(listed), "grant": "user:stale"}
        )
        assert "Not revoked: Box refused" in refused.text and vault.get("user:stale") is not None
        actions = [r["detail"]["action"] for r in await c.records("console")]
        assert actions[-1] == "revoked"
