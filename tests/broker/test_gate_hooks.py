"""The broker in a deployment: the gate's credentials hook picks the policy's identity and narrows tokens."""

from __future__ import annotations

from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from box_mcp.box import BoxAPIError
from box_mcp.broker.gate_hooks import BrokerCredentials, gate_hooks
from box_mcp.config import Settings
from box_mcp.errors import ConfigError
from box_mcp.gate import Call
from box_mcp.tools.catalog import CATALOG

pytestmark = pytest.mark.anyio


def _call(agent: str, tool_name: str, **args: Any) -> Call:
    tool = next(t for t in CATALOG if t.name == tool_name)
    parsed = tool.input_model(**args)
    return Call("c1", agent, tool, parsed, tool.resources(parsed), tool.facts(parsed), "stdio")


async def test_without_a_policy_calls_use_the_developer_token_narrowed_to_the_item(
    emulator: Any, tmp_path: Path
) -> None:
    files = emulator.credentials["files"]
    mine, other = files["Engineering/README.md"], files["Engineering/design.md"]
    settings = Settings.load(env={}, box_url=emulator.base_url, data_dir=tmp_path,
                             developer_token=emulator.token("ada"))
    async with AsyncExitStack() as stack:
        hooks = await gate_hooks(settings, stack)
        assert isinstance(hooks.credentials, BrokerCredentials)
        box = await hooks.credentials.client_for(_call("default", "get_file_details", file_id=mine))
        assert (await box.get(f"/files/{mine}"))["id"] == mine
        with pytest.raises(BoxAPIError) as refused:  # the same token cannot reach another file
            await box.get(f"/files/{other}")
        assert refused.value.status == 404
        again = await hooks.credentials.client_for(_call("default", "get_file_details", file_id=mine))
        assert again._token is box._token  # the cached narrowed source, not a new exchange
    assert emulator.token("ada") not in repr(hooks.credentials)


async def test_policy_acts_as_decides_the_identity_and_the_as_user_header(
    emulator: Any, tmp_path: Path
) -> None:
    bob = emulator.user_id("bob")
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\n"
        "agents:\n"
        f"  helper:\n    acts_as: {{as_user: \"{bob}\"}}\n"
        "  bot:\n    acts_as: service_account\n"
        "rules:\n"
        "  - id: all\n    effect: permit\n    agents: [helper, bot]\n    access: read\n    within: [\"0\"]\n"
    )
    ccg = emulator.credentials["ccg"]
    env = {"BOX_CLIENT_ID": ccg["client_id"], "BOX_CLIENT_SECRET": ccg["client_secret"],
           "BOX_ENTERPRISE_ID": ccg["enterprise_id"]}
    settings = Settings.load(env=env, box_url=emulator.base_url, data_dir=tmp_path, policy=str(policy))
    async with AsyncExitStack() as stack:
        hooks = await gate_hooks(settings, stack)
        assert hooks.credentials is not None
        helper = await hooks.credentials.client_for(_call("helper", "who_am_i"))
        bot = await hooks.credentials.client_for(_call("bot", "who_am_i"))
        assert helper.as_user == bob and bot.as_user is None
        assert (await helper.get("/users/me"))["id"] == bob
        assert (await bot.get("/users/me"))["id"] == emulator.user_id("AutomationUser")
        with pytest.raises(Exception, match="no Box identity"):
            await hooks.credentials.client_for(_call("stranger", "who_am_i"))


async def test_policy_naming_an_unconfigured_identity_is_refused_at_start(
    emulator: Any, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "version: 1\nagents:\n  bot:\n    acts_as: service_account\n"
        "rules:\n  - id: all\n    effect: permit\n    agents: [bot]\n    access: read\n    within: [\"0\"]\n"
    )
    settings = Settings.load(env={}, box_url=emulator.base_url, data_dir=tmp_path, policy=str(policy),
                             developer_token=emulator.token("ada"))
    async with AsyncExitStack() as stack:
        with pytest.raises(ConfigError, match="'bot' acts as the service account"):
            await gate_hooks(settings, stack)
