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
                assert denied.is_error and "outside contracts-bot's read grants" in denied.content[0].text
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
