"""`box_mcp.deployment`: the composition root, against a loopback emulator, as `box-mcp serve` builds it.

Each test opens the deployment the real command opens (settings from the environment and flags), then
looks at the part it is about: the broker's identity and narrowed tokens, the policy's confinement,
API keys as a TokenVerifier, the audit log in the data dir.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from box_mcp.audit import new_key_file, verify
from box_mcp.box import BoxAPIError
from box_mcp.broker.clients import BrokerCredentials
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.emulator.testing import running_emulator
from box_mcp.errors import AuditError, BrokerError, ConfigError
from box_mcp.seams import Call
from box_mcp.tools.catalog import CATALOG

pytestmark = pytest.mark.anyio

DEFAULT = Path(__file__).resolve().parents[1] / "box_mcp" / "policies" / "default.yaml"


@pytest.fixture
def box_env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set exactly these BOX_* variables (every other one cleared), as a shell would for `serve`."""
    for name in [k for k in os.environ if k.startswith("BOX_")]:
        monkeypatch.delenv(name)

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def _call(agent: str, tool_name: str, **args: Any) -> Call:
    tool = next(t for t in CATALOG if t.name == tool_name)
    parsed = tool.input_model(**args)
    return Call("c1", agent, tool, parsed, tool.resources(parsed), tool.facts(parsed), "stdio")


def _ccg(emulator: Any) -> dict[str, str]:
    ccg = emulator.credentials["ccg"]
    return {
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
    }


def _policy(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


async def test_without_a_policy_calls_use_the_developer_token_narrowed_to_the_item(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    files = emulator.credentials["files"]
    mine, other = files["Engineering/README.md"], files["Engineering/design.md"]
    box_env(BOX_DEVELOPER_TOKEN=emulator.token("ada"))
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path)
    async with open_deployment(settings, transport="stdio") as deployment:
        credentials = deployment.server.gate.credentials
        assert isinstance(credentials, BrokerCredentials)
        assert deployment.policy is None and deployment.verifier is None
        box = await credentials.client_for(_call("default", "get_file_details", file_id=mine))
        assert (await box.get(f"/files/{mine}"))["id"] == mine
        with pytest.raises(BoxAPIError) as refused:  # the same token cannot reach another file
            await box.get(f"/files/{other}")
        assert refused.value.status == 404
        again = await credentials.client_for(_call("default", "get_file_details", file_id=mine))
        assert again._token is box._token  # the cached narrowed source, not a new exchange
        assert emulator.token("ada") not in repr(credentials) + repr(deployment)


async def test_without_any_credential_the_deployment_says_what_to_set(
    tmp_path: Path, box_env: Callable[..., None]
) -> None:
    with pytest.raises(ConfigError, match="no Box credential: set BOX_DEVELOPER_TOKEN"):
        async with open_deployment(Settings.load(data_dir=tmp_path), transport="stdio"):
            pass


async def test_policy_acts_as_decides_the_identity_and_the_as_user_header(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    bob = emulator.user_id("bob")
    policy = _policy(
        tmp_path,
        (
            "version: 1\n"
            "agents:\n"
            f'  helper:\n    acts_as: {{as_user: "{bob}"}}\n'
            "  bot:\n    acts_as: service_account\n"
            "rules:\n"
            "  - id: all\n    effect: permit\n    agents: [helper, bot]\n    access: read\n"
            '    within: ["0"]\n'
        ),
    )
    box_env(**_ccg(emulator))
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path, policy=str(policy), agent="bot")
    async with open_deployment(settings, transport="stdio") as deployment:
        credentials = deployment.server.gate.credentials
        helper = await credentials.client_for(_call("helper", "who_am_i"))
        bot = await credentials.client_for(_call("bot", "who_am_i"))
        assert helper.as_user == bob and bot.as_user is None
        assert (await helper.get("/users/me"))["id"] == bob
        assert (await bot.get("/users/me"))["id"] == emulator.user_id("AutomationUser")
        with pytest.raises(BrokerError, match="no Box identity"):
            await credentials.client_for(_call("stranger", "who_am_i"))


async def test_identities_follow_a_policy_reload_without_a_second_reader_of_the_files(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    """The broker reads `acts_as` from the policy store's engine: one reload changes both together."""
    bob, ada = emulator.user_id("bob"), emulator.user_id("ada")
    text = (
        'version: 1\ndefault_agent: helper\nagents:\n  helper:\n    acts_as: {{as_user: "{user}"}}\n'
        "rules:\n  - id: all\n    effect: permit\n    agents: [helper]\n    access: read\n"
        '    within: ["0"]\n'
    )
    policy = _policy(tmp_path, text.format(user=bob))
    box_env(**_ccg(emulator))
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path / "data", policy=str(policy))
    async with open_deployment(settings, transport="stdio") as deployment:
        credentials = deployment.server.gate.credentials
        assert (await credentials.client_for(_call("helper", "who_am_i"))).as_user == bob
        policy.write_text(text.format(user=ada) + "# changed\n")
        assert deployment.store is not None and deployment.store.reload()
        assert (await credentials.client_for(_call("helper", "who_am_i"))).as_user == ada


async def test_policy_naming_an_unconfigured_identity_is_refused_at_start(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    policy = _policy(
        tmp_path,
        (
            "version: 1\nagents:\n  bot:\n    acts_as: service_account\n"
            "rules:\n  - id: all\n    effect: permit\n    agents: [bot]\n    access: read\n"
            '    within: ["0"]\n'
        ),
    )
    box_env(BOX_DEVELOPER_TOKEN=emulator.token("ada"))
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path, policy=str(policy))
    with pytest.raises(ConfigError, match="'bot' acts as the service account"):
        async with open_deployment(settings, transport="stdio"):
            pass
    assert not (tmp_path / "audit").exists()  # refused before anything was opened


async def test_a_policy_deployment_confines_agents_end_to_end(
    tmp_path: Path, box_env: Callable[..., None]
) -> None:
    with running_emulator(seed="demo") as emu:
        box_env(BOX_DEVELOPER_TOKEN=emu.token("ada"))
        settings = Settings.load(
            box_url=emu.base_url, policy=str(DEFAULT), agent="contracts-bot", data_dir=tmp_path
        )
        async with open_deployment(settings, transport="stdio") as deployment:
            assert deployment.verifier is None  # default.yaml declares no API keys
            async with Client(deployment.server) as client:
                hr = emu.credentials["files"]["HR/salaries.csv"]
                denied = await client.call_tool("get_file_content", {"file_id": hr})
                assert denied.is_error
                assert f"file {hr} is not available to contracts-bot" in denied.content[0].text
                msa = emu.credentials["files"]["Contracts/MSA-Globex.pdf"]
                assert not (await client.call_tool("get_file_details", {"file_id": msa})).is_error


async def test_keys_in_the_policy_become_the_http_token_verifier(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    key = "bmcp_k"
    digest = hashlib.sha256(key.encode()).hexdigest()
    ada = emulator.user_id("ada")
    agent = f"{{keys: ['sha256:{digest}'], acts_as: {{as_user: '{ada}'}}}}"
    policy = _policy(tmp_path, f"agents:\n  a: {agent}\n")
    box_env(BOX_DEVELOPER_TOKEN=emulator.token("ada"))
    settings = Settings.load(
        box_url=emulator.base_url, policy=str(policy), data_dir=tmp_path, transport="http"
    )
    async with open_deployment(settings, transport="http") as deployment:
        assert deployment.verifier is not None
        token = await deployment.verifier.verify_token(key)
        assert token is not None and token.client_id == "a" and key not in repr(token)
        assert await deployment.verifier.verify_token("bmcp_other") is None


async def test_confined_agent_on_app_credentials_alone_is_located_as_its_own_identity(
    tmp_path: Path, box_env: Callable[..., None]
) -> None:
    """No developer token: the policy learns where items sit through the broker, as the agent's own
    Box identity (here As-User Ada through the CCG service account), so confinement works in production
    credential modes instead of refusing every folder-confined call."""
    with running_emulator(seed="demo") as emu:
        ada = emu.user_id("ada")
        contracts = emu.credentials["folders"]["Contracts"]
        policy = _policy(
            tmp_path,
            (
                "version: 1\ndefault_agent: bot\n"
                f'agents:\n  bot:\n    acts_as: {{as_user: "{ada}"}}\n'
                "rules:\n"
                f"  - id: contracts\n    effect: permit\n    agents: [bot]\n    access: read\n"
                f'    within: ["{contracts}"]\n'
            ),
        )
        box_env(**_ccg(emu))
        settings = Settings.load(box_url=emu.base_url, data_dir=tmp_path / "data", policy=str(policy))
        async with open_deployment(settings, transport="stdio") as deployment:
            async with Client(deployment.server) as client:
                msa = emu.credentials["files"]["Contracts/MSA-Globex.pdf"]
                ok = await client.call_tool("get_file_details", {"file_id": msa})
                assert not ok.is_error, ok.content[0].text
                hr = emu.credentials["files"]["HR/salaries.csv"]
                denied = await client.call_tool("get_file_details", {"file_id": hr})
                assert denied.is_error and f"file {hr} is not available to bot" in denied.content[0].text
                listed = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": contracts})
                names = {e["name"] for e in (listed.structured_content or {}).get("entries", [])}
                assert "MSA-Globex.pdf" in names and "Inbox" in names, listed.content[0].text


async def test_the_deployment_records_into_the_data_dir(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    box_env(BOX_DEVELOPER_TOKEN=emulator.token("ada"))
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path)
    async with open_deployment(settings, transport="stdio") as deployment:
        async with Client(deployment.server) as client:
            assert not (await client.call_tool("who_am_i", {})).is_error
    report = verify(tmp_path / "audit")
    assert report.status == "ok" and report.count >= 2  # session_start, the call, session_end


async def test_a_key_file_seals_every_record(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    key_file = tmp_path / "keys" / "audit.key"
    key_file.parent.mkdir()
    new_key_file(key_file)
    box_env(BOX_DEVELOPER_TOKEN=emulator.token("ada"), BOX_MCP_AUDIT_KEY_FILE=str(key_file))
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path / "data")
    async with open_deployment(settings, transport="stdio") as deployment:
        async with Client(deployment.server) as client:
            await client.call_tool("who_am_i", {})
    lines = b"".join(p.read_bytes() for p in (tmp_path / "data" / "audit").glob("audit-*.jsonl"))
    assert lines.count(b'"mac":') == lines.count(b"\n") > 0


async def test_an_unreadable_key_file_stops_the_server(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    box_env(BOX_DEVELOPER_TOKEN=emulator.token("ada"), BOX_MCP_AUDIT_KEY_FILE=str(tmp_path / "missing.key"))
    settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path)
    with pytest.raises(AuditError, match="cannot read the audit key file"):
        async with open_deployment(settings, transport="stdio"):
            pass


async def test_the_policys_default_agent_applies_unless_a_flag_names_one(
    emulator: Any, tmp_path: Path, box_env: Callable[..., None]
) -> None:
    box_env(BOX_DEVELOPER_TOKEN=emulator.token("ada"))
    settings = Settings.load(box_url=emulator.base_url, policy=str(DEFAULT), data_dir=tmp_path)
    async with open_deployment(settings, transport="stdio") as deployment:
        assert deployment.policy is not None
        assert deployment.server.default_agent == deployment.policy.default_agent
    named = settings.model_copy(update={"agent": "contracts-bot"})
    async with open_deployment(named, transport="stdio") as deployment:
        assert deployment.server.default_agent == "contracts-bot"
