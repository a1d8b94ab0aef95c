"""`box_mcp.policy.gate_hooks`: what a deployment gets from the policy area, against a loopback emulator."""

from __future__ import annotations

import hashlib
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from mcp.client import Client

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.config import Settings
from box_mcp.emulator.testing import running_emulator
from box_mcp.policy.gate_hooks import gate_hooks
from box_mcp.server import build_server

pytestmark = pytest.mark.anyio

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"


async def test_without_a_policy_the_area_contributes_nothing() -> None:
    async with AsyncExitStack() as stack:
        hooks = await gate_hooks(Settings.load(env={}), stack)
    assert hooks.policy is None and hooks.results is None and hooks.authenticate is None


async def test_a_policy_deployment_confines_agents_end_to_end() -> None:
    with running_emulator(seed="demo") as emu:
        token = emu.token("ada")
        settings = Settings.load(
            env={}, box_url=emu.base_url, developer_token=token, policy=str(DEFAULT), agent="contracts-bot"
        )
        async with AsyncExitStack() as stack:
            hooks = await gate_hooks(settings, stack)
            assert hooks.policy is not None and hooks.results is hooks.policy
            assert hooks.authenticate is None  # default.yaml declares no API keys
            box = BoxClient(token_source=StaticToken(token), base_url=emu.base_url)
            stack.push_async_callback(box.aclose)
            server = build_server(settings, box_client=box, policy=hooks.policy, results=hooks.results)
            async with Client(server) as client:
                hr = emu.credentials["files"]["HR/salaries.csv"]
                denied = await client.call_tool("get_file_content", {"file_id": hr})
                assert denied.is_error
                assert f"file {hr} is not available to contracts-bot" in denied.content[0].text
                msa = emu.credentials["files"]["Contracts/MSA-Globex.pdf"]
                assert not (await client.call_tool("get_file_details", {"file_id": msa})).is_error


async def test_keys_in_the_policy_switch_on_inbound_authentication(tmp_path: Path) -> None:
    key = "bmcp_k"
    policy = tmp_path / "p.yaml"
    policy.write_text(f"agents:\n  a: {{keys: ['sha256:{hashlib.sha256(key.encode()).hexdigest()}']}}\n")
    async with AsyncExitStack() as stack:
        hooks = await gate_hooks(Settings.load(env={}, policy=str(policy)), stack)
    assert hooks.authenticate is not None

    class Req:
        headers = {"authorization": f"Bearer {key}"}

    assert hooks.authenticate(Req()) == "a"


async def test_confined_agent_on_app_credentials_alone_is_located_as_its_own_identity(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No developer token: the policy learns where items sit through the broker, as the agent's own
    Box identity (here As-User Ada through the CCG service account), so confinement works in production
    credential modes instead of refusing every folder-confined call."""
    from box_mcp.server import open_deployment

    with running_emulator(seed="demo") as emu:
        ada, ccg = emu.user_id("ada"), emu.credentials["ccg"]
        contracts = emu.credentials["folders"]["Contracts"]
        policy = tmp_path / "policy.yaml"
        policy.write_text(
            "version: 1\ndefault_agent: bot\n"
            f"agents:\n  bot:\n    acts_as: {{as_user: \"{ada}\"}}\n"
            "rules:\n"
            f"  - id: contracts\n    effect: permit\n    agents: [bot]\n    access: read\n"
            f"    within: [\"{contracts}\"]\n"
        )
        env = {"BOX_CLIENT_ID": ccg["client_id"], "BOX_CLIENT_SECRET": ccg["client_secret"],
               "BOX_ENTERPRISE_ID": ccg["enterprise_id"]}
        settings = Settings.load(env=env, box_url=emu.base_url, data_dir=tmp_path / "data",
                                 policy=str(policy))
        async with AsyncExitStack() as stack:
            server, hooks = await open_deployment(settings, stack, transport="stdio")
            assert hooks.lookup is not None
            async with Client(server) as client:
                msa = emu.credentials["files"]["Contracts/MSA-Globex.pdf"]
                ok = await client.call_tool("get_file_details", {"file_id": msa})
                assert not ok.is_error, ok.content[0].text
                hr = emu.credentials["files"]["HR/salaries.csv"]
                denied = await client.call_tool("get_file_details", {"file_id": hr})
                assert denied.is_error and f"file {hr} is not available to bot" in denied.content[0].text
                listed = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": contracts})
                names = {e["name"] for e in (listed.structured_content or {}).get("entries", [])}
                assert "MSA-Globex.pdf" in names and "Inbox" in names, listed.content[0].text
