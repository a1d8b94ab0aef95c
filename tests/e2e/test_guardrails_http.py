"""Box's guardrails through the door: a real `box-mcp serve --transport http` with a policy that asks a
person to approve a session's first destructive call and any upload into an externally shared folder,
driven by the SDK's MCP client (whose person approves every prompt), on both protocol eras.

A handshake-era session is asked once, and a new session again; a stateless 2026-07-28 client is keyed
by agent and client name, so a second connection of the same client is not asked again. An upload below
a folder someone gave an open shared link is asked, naming that folder.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from tests.server.hostile_servers import audit_records, http_server

pytestmark = pytest.mark.anyio

KEY = "bmcp_guarded_key_for_the_guardrails_test"


def _policy(tmp_path: Path, emulator: Any) -> Path:
    digest = "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\n"
        "internal_domains: [acme.example]\n"
        f"agents:\n  guarded: {{keys: ['{digest}'], acts_as: {{as_user: '{emulator.user_id('ada')}'}}}}\n"
        "rules:\n"
        "  - {id: all, effect: permit, agents: guarded, access: admin}\n"
        "  - {id: first-destructive, effect: require_approval, agents: guarded,\n"
        "     when: {first_destructive_in_session: true}}\n"
        "  - {id: shared-uploads, effect: require_approval, agents: guarded, tools: [upload_file],\n"
        "     when: {externally_shared: true}}\n"
    )
    return path


@asynccontextmanager
async def _client(url: str, mode: str, asked: list[str]) -> AsyncIterator[Client]:
    async def approve(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {KEY}"}, timeout=20) as http,
        Client(
            streamable_http_client(url, http_client=http),
            mode=mode,  # type: ignore[arg-type]
            elicitation_callback=approve,
        ) as client,
    ):
        yield client


async def _ok(client: Client, tool: str, args: dict[str, Any]) -> Any:
    result = await client.call_tool(tool, args)
    assert not result.is_error, result.content[0].text if result.content else result
    return result.structured_content


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_person_approves_the_first_destructive_call_and_uploads_into_shared_folders(
    emulator: Any, tmp_path: Path, mode: str
) -> None:
    data = tmp_path / "data"
    files, folders = emulator.credentials["files"], emulator.credentials["folders"]
    async with http_server(emulator, data, "--policy", str(_policy(tmp_path, emulator))) as server:
        first: list[str] = []
        with anyio.fail_after(60):
            async with _client(server.url, mode, first) as client:
                await _ok(client, "delete_file", {"file_id": files["Engineering/notes.txt"]})
                assert len(first) == 1 and "no destructive call yet in this session" in first[0]
                await _ok(client, "delete_file", {"file_id": files["Engineering/README.md"]})
                assert len(first) == 1
            again: list[str] = []
            async with _client(server.url, mode, again) as client:
                await _ok(client, "delete_file", {"file_id": files["Contracts/NDA-Initech.pdf"]})
            # A new handshake-era session asks again; a stateless client is known by agent and name.
            assert len(again) == (1 if mode == "legacy" else 0)

            async with httpx2.AsyncClient(
                base_url=emulator.base_url, headers={"Authorization": f"Bearer {emulator.token('ada')}"}
            ) as admin:
                opened = await admin.put(
                    f"/2.0/folders/{folders['Contracts']}", json={"shared_link": {"access": "open"}}
                )
                assert opened.status_code == 200, opened.text
            shared: list[str] = []
            async with _client(server.url, mode, shared) as client:
                up = {
                    "parent_folder_id": folders["Contracts/Inbox"],
                    "name": "memo.txt",
                    "content_text": "hi",
                }
                made = await _ok(client, "upload_file", up)
                assert made["name"] == "memo.txt"
                up["parent_folder_id"] = folders["Marketing"]
                await _ok(client, "upload_file", up)  # not shared: nobody is asked
    assert len(shared) == 1
    assert f"externally shared (open shared link on folder {folders['Contracts']} 'Contracts')" in shared[0]
    uploads = [r for r in audit_records(data) if r["kind"] == "outcome" and r["tool"] == "upload_file"]
    # The audit keeps why the first upload waited for a person, and that the second did not.
    assert [(r["decision"]["effect"], r["decision"]["rules"]) for r in uploads] == [
        ("approval_required", ["shared-uploads"]),  # and approved: the outcome is ok
        ("allow", ["all"]),
    ]
    assert (
        f"open shared link on folder {folders['Contracts']} 'Contracts'" in uploads[0]["decision"]["sentence"]
    )
    assert [r["outcome"]["status"] for r in uploads] == ["ok", "ok"]
