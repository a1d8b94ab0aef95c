"""Remote sign-in with the official TypeScript MCP SDK (`@modelcontextprotocol/sdk`, tests/e2e/node) as
the URL-only client, against the real `box-mcp serve --transport http` and the emulator: so that the
OAuth server interoperates with a client box-mcp did not write. Discovery, DCR, PKCE and `resource` are
the SDK's; the browser's part is tests/e2e/browser.py. Then tools/list and a call as the person's own
Box user, refresh (rotation), revocation, and a leak scan of the server's log and the audit log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2
import pytest

from tests.e2e.browser import Browser, approve_all
from tests.e2e.node_client import ts_client
from tests.e2e.test_remote_sign_in import oauth_env, people_policy
from tests.server.hostile_servers import audit_records, http_server

pytestmark = pytest.mark.anyio


async def test_the_typescript_sdk_signs_in_by_url_and_runs_as_its_person(
    emulator: Any, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    log = tmp_path / "server.log"
    with log.open("wb") as err:
        async with http_server(
            emulator, data, "--policy", str(people_policy(tmp_path)), env=oauth_env(emulator), stderr=err
        ) as server:
            base = urlsplit(server.url)
            async with ts_client(server.url) as ts:
                authorize = await ts.until("authorize", seconds=60)  # the first run may wait for npm ci
                assert authorize["url"].startswith(f"{base.scheme}://{base.netloc}/authorize?")
                query = authorize["url"].split("?", 1)[1]
                assert "code_challenge_method=S256" in query and "resource=" in query
                async with httpx2.AsyncClient(follow_redirects=False, timeout=20) as http:
                    browser = Browser(http, origins=[f"{base.scheme}://{base.netloc}", emulator.base_url])
                    visit = await browser.walk(authorize["url"], approve_all("bob@acme.example"))
                assert visit.final is not None and "code=" in visit.final and "iss=" in visit.final
                await ts.send({"callback": visit.final})
                tools = await ts.until("tools")
                call = await ts.until("call")
                assert "create_folder" in tools["names"] and "who_am_i" in tools["names"]
                assert call["result"]["structured"]["login"] == "bob@acme.example"
                assert call["result"]["structured"]["id"] == emulator.user_id("bob")

                await ts.send({"cmd": "refresh"})
                refreshed = await ts.until("refreshed")
                assert refreshed["outcome"] == "AUTHORIZED" and refreshed["changed"] is True
                await ts.send({"cmd": "call", "tool": "who_am_i", "args": {}})
                assert (await ts.until("call"))["result"]["structured"]["login"] == "bob@acme.example"

                await ts.send({"cmd": "client"})
                client_id = (await ts.until("client"))["client_id"]
                await ts.send({"cmd": "tokens"})
                tokens = (await ts.until("tokens"))["tokens"]
                async with httpx2.AsyncClient(timeout=20) as http:
                    revoked = await http.post(
                        server.url.removesuffix("/mcp") + "/revoke",
                        data={"token": tokens["refresh_token"], "client_id": client_id},
                    )
                assert revoked.status_code == 200
                await ts.send({"cmd": "call", "tool": "who_am_i", "args": {}})
                failed = await ts.until("call_failed")  # the SDK tried to refresh, then to sign in again
                assert failed["tool"] == "who_am_i"
                await ts.send({"cmd": "quit"})
    secrets = [
        tokens["access_token"],
        tokens["refresh_token"],
        emulator.credentials["oauth"]["client_secret"],
    ]
    readable = log.read_text() + "\n".join(json.dumps(r) for r in audit_records(data))
    readable += "\n".join(line for line in ts.seen if '"event":"tokens"' not in line)
    for secret in secrets:
        assert secret not in readable
    calls = [r for r in audit_records(data) if r.get("kind") == "call" and r.get("tool") == "who_am_i"]
    assert {r["person"]["login"] for r in calls} == {"bob@acme.example"}
    assert all(r["person"]["client_id"] == client_id for r in calls)
