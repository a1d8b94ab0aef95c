"""`box-mcp serve` tells the person who started it, on stderr, what it serves: governed or not, the policy,
the agent, the Box identity in each credential mode (never a secret), the Box URL, the audit log, tools."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from box_mcp.access import Access
from box_mcp.config import Settings
from box_mcp.server import selected_tools

DEMO_POLICY = Path(__file__).resolve().parents[2] / "box_mcp" / "policies" / "default.yaml"
SERVED = len(selected_tools(Settings.load(env={})))
# The demo policy grants admin access only to sharing: the other admin tools (purging the trash, folder
# locks) are served but not listed to its agent.
LISTED_DEMO = SERVED - sum(
    t.access is Access.ADMIN and t.toolset != "sharing" for t in selected_tools(Settings.load(env={}))
)
# Over HTTP, tools that need a local path are not served (download_file); a read grant lists the reads.
SERVED_HTTP = len(selected_tools(Settings.load(env={}), "http"))
READS_HTTP = sum(tool.access is Access.READ for tool in selected_tools(Settings.load(env={}), "http"))


def serve_stderr(tmp_path: Path, box_url: str, *args: str, **env: str) -> str:
    """Start `box-mcp serve` on stdio with no client (stdin at EOF): it prints its summary and ends."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    base |= {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg"), "BOX_MCP_DATA_DIR": str(tmp_path)}
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "box_mcp", "serve", "--transport", "stdio", "--box-url", box_url, *args],
        cwd=tmp_path,
        env=base | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def _ccg(emu: Any) -> dict[str, str]:
    ccg = emu.credentials["ccg"]
    return {
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
    }


def test_an_ungoverned_server_says_so_and_names_its_identity(emulator_session: Any, tmp_path: Path) -> None:
    token = emulator_session.token("ada")
    err = serve_stderr(tmp_path, emulator_session.base_url, BOX_DEVELOPER_TOKEN=token)
    assert err.splitlines() == [
        "box-mcp serve: UNGOVERNED: no policy, every call is allowed (--policy or BOX_MCP_POLICY to govern; "
        "`box-mcp policy init` writes one)",
        "box-mcp serve:   agent:        default",
        "box-mcp serve:   Box identity: developer token",
        f"box-mcp serve:   Box URL:      {emulator_session.base_url}",
        f"box-mcp serve:   audit log:    {tmp_path / 'audit'}",
        f"box-mcp serve:   tools:        {SERVED} listed for default (of {SERVED} served)",
    ]
    assert token not in err


def test_a_governed_server_names_its_policy_and_counts(emulator_session: Any, tmp_path: Path) -> None:
    err = serve_stderr(
        tmp_path,
        emulator_session.base_url,
        "--policy",
        str(DEMO_POLICY),
        BOX_DEVELOPER_TOKEN=emulator_session.token("ada"),
    )
    assert err.splitlines() == [
        f"box-mcp serve: GOVERNED by {DEMO_POLICY} (2 agents, 6 rules)",
        "box-mcp serve:   agent:        demo",
        "box-mcp serve:   Box identity: user 30000000001 via As-User on the developer token",
        f"box-mcp serve:   Box URL:      {emulator_session.base_url}",
        f"box-mcp serve:   audit log:    {tmp_path / 'audit'}",
        f"box-mcp serve:   tools:        {LISTED_DEMO} listed for demo (of {SERVED} served)",
    ]


@pytest.mark.parametrize(
    ("mode", "identity"),
    [
        ("ccg", "CCG service account"),
        ("ccg-user", "CCG user {user}"),
        ("jwt", "JWT service account"),
        ("jwt-as-user", "user 30000000001 via As-User on the JWT service account"),
        ("oauth", "OAuth grant 'work' (stored by `box-mcp auth login`)"),
    ],
)
@pytest.mark.anyio
async def test_the_summary_names_the_box_identity_of_each_credential_mode(
    emulator_session: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str, identity: str
) -> None:
    """In process (one subprocess per mode would cost seconds each): the deployment `serve` opens, and
    the summary it prints from it."""
    from box_mcp.deployment import open_deployment
    from box_mcp.server_cli import startup_summary

    emu = emulator_session
    user = emu.user_id("ada")
    jwt_file = tmp_path / "box_config.json"
    jwt_file.write_text(json.dumps(emu.credentials["jwt_config"]))
    for name in [k for k in os.environ if k.startswith("BOX_")]:
        monkeypatch.delenv(name)
    env: dict[str, str] = {}
    policy: Path | None = None
    if mode == "ccg":
        env = _ccg(emu)
    elif mode == "ccg-user":
        env = _ccg(emu) | {"BOX_SUBJECT_TYPE": "user", "BOX_SUBJECT_ID": user}
    elif mode.startswith("jwt"):
        env = {"BOX_JWT_CONFIG_FILE": str(jwt_file)}
        policy = DEMO_POLICY if mode == "jwt-as-user" else None
    else:
        policy = tmp_path / "p.yaml"
        policy.write_text(
            "default_agent: person\nagents: {person: {acts_as: {user_grant: work}}}\n"
            "rules: [{id: r, effect: permit, agents: [person], access: read}]\n"
        )
    settings = Settings.load(env=env, box_url=emu.base_url, data_dir=tmp_path, policy=policy)
    async with open_deployment(settings, transport="stdio") as deployment:
        lines = startup_summary(deployment, prefix="box-mcp serve")
    assert lines[2] == f"box-mcp serve:   Box identity: {identity.format(user=user)}"
    secrets = (
        emu.credentials["ccg"]["client_secret"],
        emu.credentials["jwt_config"]["boxAppSettings"]["clientSecret"],
    )
    assert not any(secret in line for secret in secrets for line in lines)


@pytest.mark.anyio
async def test_an_http_server_with_keys_says_its_agents_are_named_by_key(
    emulator_session: Any, tmp_path: Path
) -> None:
    import hashlib
    import signal

    import anyio
    from anyio.streams.text import TextReceiveStream

    digest = hashlib.sha256(b"bmcp_test-key").hexdigest()
    (tmp_path / "p.yaml").write_text(
        f'agents: {{bot: {{acts_as: {{as_user: "30000000001"}}, keys: ["sha256:{digest}"]}}}}\n'
        "rules: [{id: r, effect: permit, agents: [bot], access: read}]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    env |= {"HOME": str(tmp_path), "BOX_MCP_DATA_DIR": str(tmp_path), "BOX_DEVELOPER_TOKEN": "t"}
    args = [
        sys.executable,
        "-m",
        "box_mcp",
        "serve",
        "--transport",
        "http",
        "--port",
        "0",
        "--box-url",
        emulator_session.base_url,
        "--policy",
        "p.yaml",
    ]
    text = ""
    with anyio.fail_after(60):
        async with await anyio.open_process(args, env=env, cwd=tmp_path) as proc:
            assert proc.stderr is not None
            try:
                async for chunk in TextReceiveStream(proc.stderr):
                    text += chunk
                    if "serving MCP on" in text:
                        break
            finally:
                proc.send_signal(signal.SIGINT)
            await proc.wait()
    lines = text.splitlines()
    assert lines[:3] == [
        "box-mcp serve: GOVERNED by p.yaml (1 agents, 1 rules)",
        "box-mcp serve:   agent:        named by API key (bot)",
        "box-mcp serve:   Box identity: bot: user 30000000001 via As-User on the developer token",
    ]
    assert lines[5] == f"box-mcp serve:   tools:        {READS_HTTP} listed for bot (of {SERVED_HTTP} served)"
    assert lines[6].startswith("box-mcp serve: serving MCP on http://127.0.0.1:")
