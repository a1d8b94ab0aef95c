"""`box-mcp sandbox` through the door an admin uses: the real command (subprocesses) on the emulator, run
while a real `box-mcp serve --transport http` serves, which takes the new stanza in by its reload; the
agent, with the printed key, works in its folder and nothing else; `sandbox list`; `sandbox revoke`,
after which the running server refuses the key (its reload) and Box refuses the app user; the audit is
kept and still verifies."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx2
import pytest
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from box_mcp import sandbox as sb
from box_mcp.cli import main
from tests.server.hostile_servers import (
    HEADERS,
    assert_audit_verifies,
    ccg_env,
    encode,
    http_server,
    init_message,
    server_env,
    tool_call_records,
)

pytestmark = pytest.mark.anyio


def sandbox(emulator: Any, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "box_mcp.cli", "sandbox", *args]
    return subprocess.run(  # noqa: S603 - our own command
        argv, env=env, capture_output=True, text=True, timeout=60, check=False, cwd=env.get("HOME")
    )


@pytest.mark.slow  # four processes (create, serve, list, revoke)
async def test_create_serve_list_revoke_through_the_command(emulator: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    policies = tmp_path / "policies"
    policies.mkdir()
    # another keyed agent, so the server checks API keys from the start
    ops = "sha256:" + hashlib.sha256(b"bmcp_ops_key_for_the_e2e_test").hexdigest()
    (policies / "base.yaml").write_text(f"version: 1\nagents:\n  ops: {{keys: ['{ops}']}}\nrules: []\n")
    env = server_env(emulator, data) | ccg_env(emulator)
    env.pop("BOX_DEVELOPER_TOKEN")  # the service account does everything
    env |= {"BOX_MCP_BOX_URL": emulator.base_url, "BOX_MCP_POLICY": str(policies)}

    finance = emulator.credentials["folders"]["Finance"]
    async with http_server(emulator, data, "--policy", str(policies), env=env) as server:
        # made while the server runs: its policy reload takes the new agent and key in
        made = await anyio.to_thread.run_sync(
            lambda: sandbox(emulator, env, "create", "claims", "--folder", "Agents/claims")
        )
        assert made.returncode == 0, made.stderr
        key = re.search(r"^\s+(bmcp_\S+)$", made.stdout, re.M)
        folder = re.search(r"^\s+folder\s+(\d+) 'Agents/claims' under folder 0$", made.stdout, re.M)
        app_user = re.search(
            r"^\s+app user\s+(\d+) \(external_app_user_id box-mcp:claims\)$", made.stdout, re.M
        )
        assert key and folder and app_user, made.stdout
        api_key, folder_id, user_id = key.group(1), folder.group(1), app_user.group(1)
        stanza = policies / "sandbox-claims.yaml"
        assert oct(stanza.stat().st_mode & 0o777) == "0o600" and api_key not in stanza.read_text()
        assert await _key_status(server.url, api_key, until=200) == 200
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}) as http:
            async with Client(streamable_http_client(server.url, http_client=http)) as client:
                me = await client.call_tool("who_am_i", {})
                made_folder = await client.call_tool(
                    "create_folder", {"parent_folder_id": folder_id, "name": "W"}
                )
                upload = await client.call_tool(
                    "upload_file", {"parent_folder_id": folder_id, "name": "a.txt", "content_text": "hi"}
                )
                outside = await client.call_tool("get_folder_details", {"folder_id": finance})
                root = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
        assert not me.is_error and me.structured_content["id"] == user_id
        assert not made_folder.is_error and not upload.is_error, made_folder.content[0].text
        assert outside.is_error and outside.content[0].text.startswith("Denied:")
        assert "Finance" not in outside.content[0].text
        assert root.is_error

        listed = await anyio.to_thread.run_sync(lambda: sandbox(emulator, env, "list"))
        assert listed.returncode == 0, listed.stderr
        row = next(line for line in listed.stdout.splitlines() if line.startswith("claims"))
        assert row.split() == ["claims", user_id, folder_id, "Agents/claims", "editor", "1", "active"]
        assert "1 sandboxes, 0 drifted; checked against Box" in listed.stdout

        revoked = await anyio.to_thread.run_sync(lambda: sandbox(emulator, env, "revoke", "claims"))
        assert revoked.returncode == 0, revoked.stderr
        assert "set inactive" in revoked.stdout and "audit       kept" in revoked.stdout
        status = await _key_status(server.url, api_key, until=401)
        assert status == 401  # the key is refused by the running server

    # ... and Box refuses the app user itself
    ccg = emulator.credentials["ccg"]
    async with httpx2.AsyncClient(base_url=emulator.base_url) as http:
        token = (
            await http.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": ccg["client_id"],
                    "client_secret": ccg["client_secret"],
                    "box_subject_type": "enterprise",
                    "box_subject_id": ccg["enterprise_id"],
                },
            )
        ).json()["access_token"]
        as_app_user = await http.get(
            "/2.0/users/me", headers={"Authorization": f"Bearer {token}", "As-User": user_id}
        )
        own_token = await http.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": ccg["client_id"],
                "client_secret": ccg["client_secret"],
                "box_subject_type": "user",
                "box_subject_id": user_id,
            },
        )
    assert as_app_user.status_code == 400 and own_token.status_code == 400

    after = sb.read_sandboxes(policies)  # what `sandbox list` reads (tested in-process below)
    assert [(x.name, x.state, x.keys) for x in after] == [("claims", "revoked", 0)]
    calls = [(r["agent"], r["tool"]) for r in tool_call_records(data)]
    assert ("claims", "create_folder") in calls and ("claims", "get_folder_details") in calls
    assert_audit_verifies(data)


async def _key_status(url: str, api_key: str, *, until: int) -> int:
    """The status an initialize with `api_key` gets, polled until it is `until` (the server's policy
    reload runs each second)."""
    status = 0
    async with httpx2.AsyncClient() as http:
        for _ in range(200):  # bounded: 200 x 50 ms
            status = (
                await http.post(
                    url,
                    content=encode(init_message()),
                    headers=HEADERS | {"Authorization": f"Bearer {api_key}"},
                )
            ).status_code
            if status == until:
                break
            await anyio.sleep(0.05)
    return status


def test_clear_errors_from_the_command(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command in-process (main), one error case per problem: one line, exit 2, no traceback."""
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "base.yaml").write_text("agents:\n  taken: {}\nrules: []\n")
    for name in [k for k in os.environ if k.startswith("BOX_") and k != "BOX_MCP_SHARED_DIR"]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BOX_MCP_BOX_URL", emulator.base_url)
    monkeypatch.chdir(tmp_path / "policies")  # no ./policies here
    pol = ["--policy-dir", str(policies)]

    def run(*args: str) -> tuple[int, str, str]:
        code = main(["sandbox", *args])
        out, err = capsys.readouterr()
        return code, out, err

    cases = [
        (["create", "claims", "--folder", "A", *pol], "no service account configured"),
        (["create", "bad name", "--folder", "A", *pol], "is not valid"),
        (["create", "taken", "--folder", "A", *pol], "agent 'taken' is already declared"),
        (["create", "ok", "--folder", "A/../B", *pol], "is invalid"),
        (["create", "ok", "--folder", "A", "--policy-dir", str(tmp_path / "none")], "is not a directory"),
        (["revoke", "ghost", *pol], "no sandbox 'ghost'"),
        (["list"], "no policy directory"),
    ]
    for args, expected in cases:
        code, _out, err = run(*args)
        assert code == 2 and expected in err, (args, err)
        assert err.startswith("box-mcp sandbox: ") and "Traceback" not in err
    code, out, _ = run("list", *pol)
    assert code == 0 and out.startswith("no sandboxes in")
    for key, value in ccg_env(emulator).items():
        monkeypatch.setenv(key, value)
    code, _, err = run("create", "x", "--folder", "A", "--parent", "123", *pol)
    assert code == 2 and "parent folder 123 does not exist" in err
    code, out, _ = run("create", "x", "--folder", "Agents/x", "--role", "viewer", *pol)
    assert code == 0 and "policy access read" in out and "bmcp_" in out
    code, out, _ = run("list", *pol)
    assert code == 0 and "1 sandboxes, 0 drifted; checked against Box" in out
    for key in ccg_env(emulator):  # revoke without the service account: the keys still die
        monkeypatch.delenv(key)
    code, out, err = run("list", *pol)
    assert code == 0 and "not checked against Box: no service account configured" in out
    code, _, err = run("revoke", "x", *pol)
    assert code == 2 and "the keys of 'x' are revoked" in err and "untouched in Box" in err
    code, out, _ = run("list", "--json", "--offline", *pol)
    assert '"state": "revoked"' in out and '"keys": 0' in out
    for key, value in ccg_env(emulator).items():
        monkeypatch.setenv(key, value)
    code, out, _ = run("revoke", "x", *pol)
    assert code == 0 and "already revoked" in out
    assert main(["policy", "check", str(policies)]) == 0
