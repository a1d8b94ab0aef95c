"""Through a real `box-mcp serve --transport stdio` on the emulator: every call record names the Box
identity the call ran as, and a call that never reached Box says it ran as nobody."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from box_mcp.audit import verify
from box_mcp.emulator.testing import RunningEmulator, running_emulator

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

CLI = [sys.executable, "-m", "box_mcp.cli"]


def _user(box: RunningEmulator, role: str) -> dict[str, Any]:
    return next(dict(u) for u in box.credentials["users"] if u["role"] == role or u["login"].startswith(role))


def _policy(path: Path, acts_as: Any) -> Path:
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "default_agent": "auditor",
                "agents": {"auditor": {"description": "checks the audit", "acts_as": acts_as}},
                "rules": [
                    {
                        "id": "all",
                        "effect": "permit",
                        "agents": ["auditor"],
                        "access": "admin",
                        "within": ["0"],
                    },
                    {"id": "me", "effect": "permit", "agents": ["auditor"], "tools": ["who_am_i"]},
                ],
            }
        )
    )
    return path


def _prepare(
    home: Path, box: RunningEmulator, credentials: dict[str, str], policy_acts_as: Any | None
) -> StdioServerParameters:
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    env |= {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / "xdg"),
        "BOX_MCP_DATA_DIR": str(home / "data"),
        **credentials,
    }
    args = ["serve", "--transport", "stdio", "--box-url", box.base_url]
    if policy_acts_as is not None:
        args += ["--policy", str(_policy(home / "policy.yaml", policy_acts_as))]
    return StdioServerParameters(command=CLI[0], args=[*CLI[1:], *args], env=env)


def _call_records(directory: Path) -> list[dict[str, Any]]:
    assert verify(directory).status == "ok"
    lines = [
        json.loads(line)
        for p in sorted(directory.glob("audit-*.jsonl"))
        for line in p.read_bytes().rstrip(b"\0").splitlines()
    ]
    return [r for r in lines if r["kind"] in ("call", "intent", "outcome")]


async def _serve_and_call(
    home: Path, box: RunningEmulator, credentials: dict[str, str], policy_acts_as: Any | None
) -> list[dict[str, Any]]:
    """One server: a read, a write, an unknown tool and invalid arguments; the call records it left."""
    async with Client(_prepare(home, box, credentials, policy_acts_as)) as client:
        assert not (await client.call_tool("who_am_i", {})).is_error
        folder = {"name": f"audit-{home.name}", "parent_folder_id": "0"}
        made = await client.call_tool("create_folder", folder)
        assert not made.is_error, made.content
        assert (await client.call_tool("no_such_tool", {})).is_error
        assert (await client.call_tool("get_file_details", {"file_id": "not digits"})).is_error
    return _call_records(home / "data" / "audit")


def _by_tool(records: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    return {(r["tool"], r["kind"]): r["acting_as"] for r in records}


async def test_call_records_name_the_box_identity_in_each_credential_mode(tmp_path: Path) -> None:
    with running_emulator(memory=True, seed="demo", rate_limits=False) as box:
        ccg = box.credentials["ccg"]
        ada, app_user = _user(box, "ada"), _user(box, "app_user")
        modes = {
            "developer-token": ({"BOX_DEVELOPER_TOKEN": box.token("ada")}, None, {"kind": "developer_token"}),
            "as-user": (
                {"BOX_DEVELOPER_TOKEN": box.token("ada")},
                {"as_user": ada["id"]},
                {"kind": "as_user", "user_id": ada["id"]},
            ),
            "ccg-user": (
                {
                    "BOX_CLIENT_ID": ccg["client_id"],
                    "BOX_CLIENT_SECRET": ccg["client_secret"],
                    "BOX_SUBJECT_TYPE": "user",
                    "BOX_SUBJECT_ID": app_user["id"],
                },
                "service_account",
                {"kind": "service_account", "user_id": app_user["id"]},
            ),
            "ccg-enterprise": (
                {
                    "BOX_CLIENT_ID": ccg["client_id"],
                    "BOX_CLIENT_SECRET": ccg["client_secret"],
                    "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
                },
                None,
                {"kind": "service_account", "enterprise_id": ccg["enterprise_id"]},
            ),
        }
        found: dict[str, dict[tuple[str, str], Any]] = {}
        limit = anyio.CapacityLimiter(2)  # server start-up is CPU-bound: two at once fill two cores

        async def run(name: str) -> None:
            credentials, acts_as, _ = modes[name]
            async with limit:
                with anyio.fail_after(90):
                    records = await _serve_and_call(tmp_path / name, box, credentials, acts_as)
            found[name] = _by_tool(records)

        async with anyio.create_task_group() as tg:
            for name in modes:
                tg.start_soon(run, name)
    for name, (_, _, identity) in modes.items():
        assert found[name] == {
            ("who_am_i", "call"): identity,
            ("create_folder", "intent"): identity,
            ("create_folder", "outcome"): identity,
            ("no_such_tool", "call"): None,  # rejected before it became a call: it ran as nobody
            ("get_file_details", "call"): None,
        }, name
