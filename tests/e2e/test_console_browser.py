"""The web console in a real browser: Debian's Chromium (/usr/bin/chromium, driven by Playwright for
Python; never a downloaded browser) against a real `box-mcp serve --transport http` on the emulator.

An agent makes calls over MCP with its API key; the browser signs in with the console admin key, sees
the audit, filters it (denied only, by tool), opens a record in full, and visits every page. A
screenshot of each page goes to artifacts/console/<page>.png (1280x800) in every run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.server.hostile_servers import ccg_env, http_server
from tests.state_mode import database_records

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"
ADMIN_KEY = "bmcp_browser_console_admin_key_0123456789abcdef"
AGENT_KEY = "bmcp_browser_console_agent_key_0123456789abcdef"


def _digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _policy(tmp_path: Path, emulator: Any) -> Path:
    ada = emulator.user_id("ada")
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\n"
        f"console: {{admins: {{keys: {{ops: '{_digest(ADMIN_KEY)}'}}}}}}\n"
        "agents:\n"
        f"  docs-bot: {{description: Answers questions from the engineering docs,"
        f" keys: ['{_digest(AGENT_KEY)}'], acts_as: {{as_user: '{ada}'}},"
        " limits: {calls_per_minute: 60}}\n"
        "rules:\n"
        "  - {id: docs-read, effect: permit, agents: [docs-bot], access: read,"
        " description: read what Ada can read}\n"
        "  - {id: no-identity, effect: forbid, agents: [docs-bot], tools: [who_am_i],"
        " description: the bot need not know whose account it uses}\n"
    )
    return path


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    assert CHROMIUM.exists(), (  # noqa: ASYNC240 - one stat before the browser starts
        "Debian's Chromium is missing: run `make test` (it installs it) or apt-get install chromium"
    )
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


async def _agent_calls(url: str, emulator: Any) -> None:
    readme = emulator.credentials["files"]["Engineering/README.md"]
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {AGENT_KEY}"}) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            assert not (await client.call_tool("get_file_details", {"file_id": readme})).is_error
            assert (await client.call_tool("who_am_i", {})).is_error  # forbidden: a denied record
            await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})


async def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def test_an_admin_signs_in_filters_the_audit_and_opens_a_record(
    emulator: Any, tmp_path: Path, browser: Any
) -> None:
    data = tmp_path / "data"
    async with http_server(emulator, data, "--policy", str(_policy(tmp_path, emulator))) as server:
        await _agent_calls(server.url, emulator)
        base = server.url.removesuffix("/mcp")
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(60_000)  # a loaded CI machine: each step waits up to a minute
        page = await context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

        await page.goto(base + "/console/audit")  # signed out: to the sign-in page, and back after
        assert "/console/signin" in page.url
        await _shot(page, "signin")
        await page.fill("#key", "bmcp_wrong_key")
        await page.click("text=Sign in with key")
        assert "not a console admin key" in await page.inner_text("[role=alert]")
        await page.fill("#key", ADMIN_KEY)
        await page.click("text=Sign in with key")
        await page.wait_for_url("**/console/audit")
        cookies = {c["name"]: c for c in await context.cookies()}
        session = cookies["bmcp_console"]
        assert session["httpOnly"] and session["sameSite"] == "Strict" and session["path"] == "/console"

        table = await page.inner_text("#audit-table")
        assert "get_file_details" in table and "who_am_i" in table and "denied" in table
        assert "chain verified" in await page.inner_text(".page-head")
        await _shot(page, "audit")

        await page.check("input[name=denied]")
        await page.click("text=Filter")
        await page.wait_for_url("**denied=1**")
        rows = await page.locator("#audit-table tbody tr").all_inner_texts()
        assert rows and all("who_am_i" in r and "denied" in r for r in rows)

        await page.select_option("select[name=tool]", "get_file_details")
        await page.uncheck("input[name=denied]")
        await page.click("text=Filter")
        await page.wait_for_url("**tool=get_file_details**")
        rows = await page.locator("#audit-table tbody tr").all_inner_texts()
        assert rows and all("get_file_details" in r for r in rows)

        await page.locator("#audit-table tbody tr a").first.click()
        await page.wait_for_url("**/console/audit/*")
        full = await page.inner_text("#record-json")
        assert '"tool": "get_file_details"' in full and '"hash"' in full
        assert AGENT_KEY not in full
        await _shot(page, "record")

        for name in ("agents", "policy", "identities", "approvals"):
            await page.goto(f"{base}/console/{name}")
            assert (await page.inner_text("h1")).strip(), name
            await _shot(page, name)
        await page.goto(base + "/console/agents")
        agents = await page.inner_text("main")
        assert "docs-bot" in agents and "May read" in agents and "Never" in agents

        await page.goto(base + "/console/policy")
        await page.select_option("select[name=agent]", "docs-bot")
        await page.select_option("select[name=tool]", "who_am_i")
        await page.click("#explain button[type=submit]")
        verdict = (await page.inner_text("#verdict")).lower()
        assert "deny" in verdict and "no-identity" in verdict
        await _shot(page, "policy")

        await page.goto(base + "/console/")
        await _shot(page, "overview")
        assert not [e for e in errors if "Content Security Policy" in e], errors
        await context.close()
    records = database_records()
    if records is None:
        log = b"".join(p.read_bytes() for p in (data / "audit").glob("*.jsonl"))
    else:
        log = json.dumps(records).encode()
    assert b'"action":"signed_in"' in log.replace(b" ", b"") and b"sign_in_refused" in log
    assert ADMIN_KEY.encode() not in log and b"bmcp_wrong_key" not in log


def _held_policy(tmp_path: Path, emulator: Any) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\n"
        f"console: {{admins: {{keys: {{ops: '{_digest(ADMIN_KEY)}'}}}}}}\n"
        "agents:\n"
        f"  docs-bot: {{description: Answers questions from the engineering docs,"
        f" keys: ['{_digest(AGENT_KEY)}']}}\n"
        "rules:\n"
        "  - {id: docs-read, effect: permit, agents: [docs-bot], access: read}\n"
        "  - {id: identity-needs-admin, effect: require_approval, agents: [docs-bot], tools: [who_am_i],\n"
        "     description: an admin says yes first, approval: {by: [admin], hold: 120}}\n"
    )
    return path


async def test_an_admin_approves_a_held_call_in_the_browser_and_the_call_completes(
    emulator: Any, tmp_path: Path, browser: Any
) -> None:
    data = tmp_path / "data"
    policy = _held_policy(tmp_path, emulator)
    result: list[Any] = []
    async with http_server(emulator, data, "--policy", str(policy), env=ccg_env(emulator)) as server:
        base = server.url.removesuffix("/mcp")
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(60_000)  # a loaded CI machine: each step waits up to a minute
        page = await context.new_page()
        await page.goto(base + "/console/approvals")
        await page.fill("#key", ADMIN_KEY)
        await page.click("text=Sign in with key")
        await page.wait_for_url("**/console/approvals")
        assert "Nothing is waiting" in await page.inner_text("main")

        # The held call's answer comes when it is decided: the client waits as long as the hold.
        timeout = httpx2.Timeout(150.0, connect=10.0)
        async with httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {AGENT_KEY}"}, timeout=timeout
        ) as http:
            async with Client(streamable_http_client(server.url, http_client=http)) as client:

                async def call() -> None:
                    result.append(await client.call_tool("who_am_i", {}))

                with anyio.fail_after(150):
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(call)
                        # The page polls its JSON feed and reloads itself when a request arrives.
                        await page.wait_for_selector("#pending-table", timeout=60_000)
                        row = await page.inner_text("#pending-table")
                        assert "docs-bot" in row and "who_am_i" in row and "identity-needs-admin" in row
                        await _shot(page, "approvals")
                        await page.click("#pending-table a.button")
                        await page.wait_for_url("**/console/approvals/apr_*")
                        await _shot(page, "approval")
                        await page.click("#deny")  # a denial needs a reason: refused, nothing decided
                        assert "Say why" in await page.inner_text("[role=alert]")
                        await page.fill("#note", "checked with the docs team")
                        await page.click("#approve")
                        await page.wait_for_selector(".tag.st-approved, .tag.st-used")
        [ran] = result
        assert not ran.is_error, ran.content
        await page.goto(base + "/console/approvals")
        history = await page.inner_text("#history-table")
        assert "admin-key:ops" in history and "checked with the docs team" in history
        await page.goto(base + "/console/audit?kind=approval")
        rows = await page.locator("#audit-table tbody tr").all_inner_texts()
        assert any("approved" in r for r in rows), rows
        await context.close()
    records = database_records()
    if records is None:
        records = [
            json.loads(line)
            for p in sorted((data / "audit").glob("*.jsonl"))
            for line in p.read_text().splitlines()
            if line.strip()
        ]
    approved = [r for r in records if r["kind"] == "approval" and r["detail"]["action"] == "approved"]
    assert approved and approved[0]["detail"]["by"] == "admin-key:ops"
    assert approved[0]["detail"]["note"] == "checked with the docs team"
    calls = [
        r
        for r in records
        if r["kind"] == "call"
        and r.get("tool") == "who_am_i"
        and (r.get("outcome") or {}).get("status") == "ok"
    ]
    assert calls and calls[-1]["detail"]["approval"]["by"] == "admin-key:ops"


def _sandbox_policy(tmp_path: Path, emulator: Any) -> Path:
    """A policy directory (sandbox stanzas are files in it) with a console admin and one keyed agent."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "policy.yaml").write_text(
        "version: 1\n"
        f"console: {{admins: {{keys: {{ops: '{_digest(ADMIN_KEY)}'}}}}}}\n"
        "agents:\n"
        f"  docs-bot: {{description: Answers questions from the engineering docs,"
        f" keys: ['{_digest(AGENT_KEY)}'], acts_as: {{as_user: '{emulator.user_id('ada')}'}}}}\n"
        "rules:\n"
        "  - {id: docs-read, effect: permit, agents: [docs-bot], access: read}\n"
    )
    return folder


async def test_an_admin_creates_a_sandbox_in_the_browser_its_agent_works_inside_only_then_it_is_revoked(
    emulator: Any, tmp_path: Path, browser: Any
) -> None:
    from box_mcp import sandbox as sb
    from box_mcp.config import Settings

    data = tmp_path / "data"
    policies = _sandbox_policy(tmp_path, emulator)
    log_path = tmp_path / "server.log"
    readme = emulator.credentials["files"]["Engineering/README.md"]
    with log_path.open("wb") as server_log:
        async with http_server(
            emulator,
            data,
            "--policy",
            str(policies),
            env=ccg_env(emulator),
            stderr=server_log,
        ) as server:
            base = server.url.removesuffix("/mcp")
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            context.set_default_timeout(60_000)  # a loaded CI machine: each step waits up to a minute
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            await page.goto(base + "/console/sandboxes")
            await page.fill("#key", ADMIN_KEY)
            await page.click("text=Sign in with key")
            await page.wait_for_url("**/console/sandboxes")
            assert "No agent sandboxes yet" in await page.inner_text("#sandboxes-empty")
            await _shot(page, "sandboxes-empty")

            # a name in use: the error on the form, what was typed kept
            await page.fill("#sb-name", "docs-bot")
            await page.fill("#sb-folder", "Agents/docs")
            await page.click("#create-sandbox")
            assert "already declared" in await page.inner_text("#create-error")
            assert await page.input_value("#sb-folder") == "Agents/docs"

            await page.fill("#sb-name", "claims")
            await page.fill("#sb-folder", "Agents/claims")
            await page.select_option("#sb-role", "editor")
            await page.click("#create-sandbox")
            await page.wait_for_selector("#api-key")
            key = (await page.inner_text("#api-key")).strip()
            assert key.startswith("bmcp_") and len(key) > 40
            assert "only time it is shown" in await page.inner_text("main")
            await _shot(page, "sandbox-key")

            # the new agent, through the real server, with the key it was just given: no restart
            [made] = sb.read_sandboxes(policies)
            folder = made.record.folder
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
                async with Client(streamable_http_client(server.url, http_client=http)) as client:
                    inside = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": folder})
                    assert not inside.is_error, inside.content
                    made_folder = await client.call_tool(
                        "create_folder", {"name": "intake", "parent_folder_id": folder}
                    )
                    assert not made_folder.is_error, made_folder.content
                    outside = await client.call_tool("get_file_details", {"file_id": readme})
                    assert outside.is_error
                    root = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
                    assert root.is_error

            # the list: never the key again; a second sandbox whose collaboration is removed in Box drifts
            await page.goto(base + "/console/sandboxes")
            await page.fill("#sb-name", "intake")
            await page.fill("#sb-folder", "Agents/intake")
            await page.select_option("#sb-role", "viewer")
            await page.click("#create-sandbox")
            await page.wait_for_selector("#api-key")
            settings = Settings.load(env=ccg_env(emulator), box_url=emulator.base_url, data_dir=data)
            [_, intake] = sb.read_sandboxes(policies)
            async with sb.admin_client(settings) as box:
                await box.delete(f"/collaborations/{intake.record.collaboration}")
            await page.goto(base + "/console/sandboxes")
            table = await page.inner_text("#sandboxes-table")
            assert "claims" in table and "intake" in table
            assert f"collaboration {intake.record.collaboration} was removed in Box" in table
            assert key not in await page.content()
            await _shot(page, "sandboxes")

            await page.click("#sandbox-claims a.button")
            await page.wait_for_url("**/console/sandboxes/claims/revoke")
            assert "Revoke sandbox claims?" in await page.inner_text("main")
            await _shot(page, "sandbox-revoke")
            await page.click("#confirm-revoke")
            assert "Revoked sandbox claims" in await page.inner_text("#notice")
            # revoked: the server refuses the key at once
            async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http:
                refused = await http.post(
                    server.url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                    headers={"Accept": "application/json, text/event-stream"},
                )
                assert refused.status_code == 401
            assert not [e for e in errors if "Content Security Policy" in e], errors
            await context.close()
    records = database_records()
    if records is None:
        records = [
            json.loads(line)
            for p in sorted((data / "audit").glob("*.jsonl"))
            for line in p.read_text().splitlines()
            if line.strip()
        ]
    actions = [
        (r["detail"]["action"], r["detail"].get("sandbox"), r["detail"].get("who"))
        for r in records
        if r["kind"] == "console" and r["detail"]["action"].startswith("sandbox")
    ]
    assert actions == [
        ("sandbox_create_refused", "docs-bot", "admin-key:ops"),
        ("sandbox_created", "claims", "admin-key:ops"),
        ("sandbox_created", "intake", "admin-key:ops"),
        ("sandbox_revoked", "claims", "admin-key:ops"),
    ]
    calls = [r for r in records if r["kind"] == "call" and r.get("agent") == "claims"]
    assert calls, "the new agent's calls are audited under its name"
    assert key not in json.dumps(records)
    assert key not in log_path.read_text(errors="replace")
