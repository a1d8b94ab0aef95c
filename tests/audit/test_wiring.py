"""Issue 6's wiring: every tools/call, session, tools/list, policy (re)load and broker event is recorded."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client
from mcp_types import Implementation

from box_mcp.audit import AuditLog, GateAudit, verify
from box_mcp.audit.store import iter_lines
from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.broker.session import TokenSession
from box_mcp.broker.tokens import Token
from box_mcp.config import Settings
from box_mcp.emulator.app import create_app
from box_mcp.errors import NeedsSignIn
from box_mcp.events import Events
from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore
from box_mcp.server import BoxMCPServer, build_server

CLIENT = Implementation(name="audit-test-client", version="9.8.7")


def records(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out += [json.loads(line) for _, _, line in iter_lines(path)]  # stops at the padding
    return out


def raw(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.glob("audit-*.jsonl")))


@dataclass
class Deployment:
    server: BoxMCPServer
    audit_dir: Path
    token: str
    root_folder: str


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    """An in-memory server on the in-process emulator, audited into tmp_path/audit through an event hub."""
    app = create_app(memory=True, seed="demo", rate_limits=False, base_url="http://emulator")
    creds = app.state.emulator.credentials
    token = next(u["developer_token"] for u in creds["users"] if u["login"].startswith("ada"))
    async with AsyncExitStack() as stack:
        stack.callback(app.state.emulator.store.close)
        box = BoxClient(
            token_source=StaticToken(token),
            base_url="http://emulator",
            transport=httpx2.ASGITransport(app=app),
        )
        stack.push_async_callback(box.aclose)
        log = await AuditLog.open(tmp_path / "audit")
        stack.push_async_callback(log.aclose)
        # No hub given: the gate connects the audit it was given to its own, as build_server callers expect.
        server = build_server(Settings.load(env={}), box_client=box, audit=GateAudit(log), transport="memory")
        yield Deployment(server, tmp_path / "audit", token, "0")


@pytest.mark.anyio
async def test_a_handshake_session_records_start_list_calls_and_end_with_client_info(
    deployment: Deployment,
) -> None:
    async with Client(deployment.server, mode="legacy", client_info=CLIENT) as client:
        listed = await client.list_tools()
        assert not (await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})).is_error
    recs = records(deployment.audit_dir)
    kinds = [r["kind"] for r in recs]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    start, end = recs[0], recs[-1]
    session = start["session_id"]
    assert start["client_name"] == "audit-test-client" and start["client_version"] == "9.8.7"
    assert start["detail"]["transport"] == "memory" and start["agent"] == "default"
    assert end["session_id"] == session
    [tools_list] = [r for r in recs if r["kind"] == "tools_list"]
    assert tools_list["detail"]["tools_shown"] == len(listed.tools) > 0
    assert tools_list["session_id"] == session
    [call] = [r for r in recs if r["kind"] == "call"]
    assert call["tool"] == "list_folder_content_by_folder_id" and call["outcome"]["status"] == "ok"
    assert (call["session_id"], call["client_name"], call["client_version"]) == (
        session,
        "audit-test-client",
        "9.8.7",
    )
    assert verify(deployment.audit_dir).ok


@pytest.mark.anyio
async def test_an_unknown_tool_is_recorded_with_its_arguments(deployment: Deployment) -> None:
    async with Client(deployment.server, client_info=CLIENT) as client:
        result = await client.call_tool("no_such_tool", {"folder_id": "12", "note": "x" * 5000})
    assert result.is_error
    [call] = [r for r in records(deployment.audit_dir) if r["kind"] == "call"]
    assert call["tool"] == "no_such_tool" and call["agent"] == "default"
    assert call["outcome"]["status"] == "unknown_tool" and "Unknown tool" in call["outcome"]["message"]
    assert call["args"]["folder_id"] == "12"
    assert len(json.dumps(call["args"]["note"])) < 1000  # long strings are cut and hashed
    assert call["client_name"] == "audit-test-client"  # the 2026 protocol: client info, no session


@pytest.mark.anyio
async def test_invalid_arguments_are_recorded_as_received_with_error_kind_input(
    deployment: Deployment,
) -> None:
    async with Client(deployment.server, mode="legacy", client_info=CLIENT) as client:
        result = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "not-an-id"})
    assert result.is_error
    [call] = [r for r in records(deployment.audit_dir) if r["kind"] == "call"]
    assert call["outcome"]["status"] == "input" and "folder_id" in call["outcome"]["message"]
    assert call["args"] == {"folder_id": "not-an-id"}
    assert call["session_id"] and call["client_version"] == "9.8.7"
    assert "decision" not in call  # no policy decision was made: the call never got that far


@pytest.mark.anyio
async def test_a_write_has_an_intent_and_an_outcome_both_naming_the_session(deployment: Deployment) -> None:
    async with Client(deployment.server, mode="legacy", client_info=CLIENT) as client:
        result = await client.call_tool("create_folder", {"parent_folder_id": "0", "name": "wired-folder"})
    assert not result.is_error
    recs = records(deployment.audit_dir)
    [intent] = [r for r in recs if r["kind"] == "intent"]
    [outcome] = [r for r in recs if r["kind"] == "outcome"]
    assert outcome["intent_id"] == intent["id"]
    assert intent["session_id"] == outcome["session_id"] == recs[0]["session_id"]
    assert intent["args"]["name"] == "wired-folder"
    assert deployment.token.encode() not in raw(deployment.audit_dir)


POLICY = "agents: {a: {}}\nrules:\n  - {id: reads, effect: permit, agents: a, access: read}\n"


@pytest.mark.anyio
async def test_policy_loads_and_reloads_are_recorded_and_a_broken_reload_keeps_the_last_good(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    events = Events()
    store = PolicyStore(policy, tools_for_policy(), on_event=events.post)

    def rewrite(text: str, bump: int) -> None:
        policy.write_text(text)
        st = policy.stat()
        os.utime(policy, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000))

    rewrite("agents: [this is: not a policy", 1)
    assert store.reload() is False
    more = "  - {id: more, effect: permit, agents: a, access: write}\n"
    rewrite(POLICY + more, 2)
    assert store.reload() is True
    async with await AuditLog.open(tmp_path / "audit") as log:
        events.connect(GateAudit(log).sink)
        await events.flush()
    load, broken, fixed = records(tmp_path / "audit")
    assert load["kind"] == "policy_load"
    version = load["detail"].pop("version")
    assert load["detail"] == {"file": str(policy), "ok": True, "rules": 1}
    assert version.startswith("sha256:") and len(version) == 71
    assert broken["kind"] == "policy_reload" and broken["detail"]["ok"] is False
    assert broken["detail"]["kept_last_good"] is True and broken["detail"]["rules"] == 1
    assert broken["detail"]["error"]
    assert fixed["kind"] == "policy_reload" and fixed["detail"]["ok"] is True
    assert fixed["detail"]["rules"] == 2


class FakeSession(TokenSession):
    def __init__(self, results: list[Token | Exception]) -> None:
        super().__init__(key="user:ada", clock=lambda: 1000.0, margin=10.0)
        self.results = results

    async def _obtain(self) -> Token:
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


@pytest.mark.anyio
async def test_broker_refresh_and_needs_sign_in_are_recorded_without_any_token(tmp_path: Path) -> None:
    secret_1, secret_2 = "tok-" + "a" * 30, "tok-" + "b" * 30
    session = FakeSession(
        [
            Token(access_token=secret_1, expires_at=1005.0),  # stale at once: the next call refreshes
            Token(access_token=secret_2, expires_at=1005.0),
            NeedsSignIn("the Box sign-in for 'ada' stopped working; run `box-mcp auth login`"),
        ]
    )
    events = Events()
    session.on_event = events.post
    async with await AuditLog.open(tmp_path / "audit") as log:
        events.connect(GateAudit(log).sink)
        assert await session.access_token() == secret_1
        assert await session.access_token() == secret_2
        with pytest.raises(NeedsSignIn):
            await session.access_token()
        await events.flush()
    issue, refresh, dead = records(tmp_path / "audit")
    assert all(r["kind"] == "broker" and r["acting_as"] == "user:ada" for r in (issue, refresh, dead))
    assert [r["detail"]["event"] for r in (issue, refresh, dead)] == ["issue", "refresh", "needs_sign_in"]
    assert refresh["detail"]["expires_at"] == 1005
    assert "box-mcp auth login" in dead["detail"]["message"]
    data = raw(tmp_path / "audit")
    assert secret_1.encode() not in data and secret_2.encode() not in data


@pytest.mark.anyio
async def test_a_stdio_process_on_the_2026_protocol_is_one_session(deployment: Deployment) -> None:
    server = build_server(
        Settings.load(env={}),
        box_client=deployment.server.gate.credentials.client,
        audit=deployment.server.gate.audit,
        events=deployment.server.gate.events,
        transport="stdio",
    )
    async with Client(server, client_info=CLIENT) as client:
        await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
        await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
    await server.sessions.end_process_session()  # what run_stdio_async does when stdin closes
    recs = [r for r in records(deployment.audit_dir) if r["kind"] != "tools_list"]  # the client lists too
    assert [r["kind"] for r in recs] == ["session_start", "call", "call", "session_end"]
    assert len({r["session_id"] for r in recs}) == 1
    assert recs[0]["detail"]["transport"] == "stdio" and recs[0]["client_name"] == "audit-test-client"


POLICY_FILE = (
    "version: 1\n"
    "default_agent: bot\n"
    "agents:\n  bot:\n    acts_as: service_account\n"
    "rules:\n  - id: reads\n    effect: permit\n    agents: [bot]\n    access: read\n"
)


@pytest.mark.anyio
async def test_a_served_deployment_records_policy_load_broker_tokens_and_denials_with_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from box_mcp.deployment import open_deployment
    from box_mcp.emulator.testing import running_emulator

    for name in list(os.environ):
        if name.startswith(("BOX_MCP_", "BOX_DEVELOPER", "BOX_JWT", "BOX_OAUTH")):
            monkeypatch.delenv(name)
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_FILE)
    with running_emulator(seed="demo", rate_limits=False) as emu:
        ccg = emu.credentials["ccg"]
        env = {
            "BOX_CLIENT_ID": ccg["client_id"],
            "BOX_CLIENT_SECRET": ccg["client_secret"],
            "BOX_ENTERPRISE_ID": str(ccg["enterprise_id"]),
        }
        settings = Settings.load(env=env, box_url=emu.base_url, data_dir=tmp_path, policy=str(policy))
        async with open_deployment(settings, transport="memory") as opened:
            server = opened.server
            async with Client(server, mode="legacy", client_info=CLIENT) as client:
                read = await client.call_tool("list_folder_content_by_folder_id", {"folder_id": "0"})
                write = await client.call_tool("create_folder", {"parent_folder_id": "0", "name": "nope"})
        secret = ccg["client_secret"]
    assert not read.is_error and write.is_error
    recs = records(tmp_path / "audit")
    assert recs[0]["kind"] == "policy_load" and recs[0]["detail"]["rules"] == 1
    [issue] = [r for r in recs if r["kind"] == "broker"]
    assert issue["detail"]["event"] == "issue" and issue["acting_as"] == "service_account"
    calls = {r["tool"]: r for r in recs if r["kind"] == "call"}
    assert calls["list_folder_content_by_folder_id"]["decision"]["rules"] == ["reads"]
    denied = calls["create_folder"]
    assert denied["decision"]["effect"] == "deny" and denied["outcome"]["status"] == "denied"
    assert denied["agent"] == "bot" and denied["client_name"] == "audit-test-client"
    assert [r["kind"] for r in recs].index("broker") < [r["kind"] for r in recs].index("call")
    assert secret.encode() not in raw(tmp_path / "audit")
    assert verify(tmp_path / "audit").ok


@pytest.mark.anyio
async def test_argument_fields_the_policy_marks_secret_are_masked_in_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`audit: {secret_fields: [description]}` in the policy: the value never reaches the log, on the
    intent and the outcome of an allowed write and on a call refused for bad arguments."""
    from box_mcp.deployment import open_deployment
    from box_mcp.emulator.testing import running_emulator

    for name in list(os.environ):
        if name.startswith(("BOX_MCP_", "BOX_DEVELOPER", "BOX_JWT", "BOX_OAUTH", "BOX_CLIENT")):
            monkeypatch.delenv(name)
    secret = "quarterly-layoff-plan-7731"
    with running_emulator(seed="demo", rate_limits=False) as emu:
        engineering = emu.credentials["folders"]["Engineering"]
        policy = tmp_path / "policy.yaml"
        policy.write_text(
            "version: 1\ndefault_agent: bot\n"
            f'agents:\n  bot:\n    acts_as: {{as_user: "{emu.user_id("ada")}"}}\n'
            "audit:\n  secret_fields: [description]\n"
            "rules:\n  - id: eng\n    effect: permit\n    agents: [bot]\n    access: write\n"
            f'    within: ["{engineering}"]\n'
        )
        settings = Settings.load(
            env={},
            box_url=emu.base_url,
            data_dir=tmp_path,
            policy=str(policy),
            developer_token=emu.token("ada"),
        )
        async with open_deployment(settings, transport="memory") as opened:
            server = opened.server
            async with Client(server, mode="legacy", client_info=CLIENT) as client:
                ok = await client.call_tool(
                    "update_folder_properties", {"folder_id": engineering, "description": secret}
                )
                bad = await client.call_tool(
                    "update_folder_properties", {"folder_id": "not-an-id", "description": secret}
                )
    assert not ok.is_error, ok.content[0].text
    assert bad.is_error
    recs = records(tmp_path / "audit")
    updates = [r for r in recs if r.get("tool") == "update_folder_properties"]
    assert [r["kind"] for r in updates] == ["intent", "outcome", "call"]
    assert all(r["args"]["description"] == "[masked]" for r in updates)
    assert secret.encode() not in raw(tmp_path / "audit")
    assert verify(tmp_path / "audit").ok


def test_secret_fields_from_several_policy_files_add_up(tmp_path: Path) -> None:
    from box_mcp.policy.model import load_policy

    (tmp_path / "a.yaml").write_text("audit: {secret_fields: [description]}\nagents: {a: {}}\n")
    (tmp_path / "b.yaml").write_text("audit: {secret_fields: [message]}\n")
    assert load_policy(tmp_path).secret_fields == {"description", "message"}
    (tmp_path / "c.yaml").write_text("audit: {secrets: [x]}\n")
    with pytest.raises(Exception, match=r"c.yaml:1: audit.secrets: unknown field"):
        load_policy(tmp_path)


@pytest.mark.anyio
async def test_outcomes_name_the_items_they_touched_with_name_and_parent_path(
    deployment: Deployment,
) -> None:
    async with Client(deployment.server, mode="legacy", client_info=CLIENT) as client:
        made = await client.call_tool("create_folder", {"parent_folder_id": "0", "name": "named-folder"})
        folder_id = (made.structured_content or {})["id"]
        read = await client.call_tool("get_folder_details", {"folder_id": folder_id})
    assert not made.is_error and not read.is_error
    recs = records(deployment.audit_dir)
    [outcome] = [r for r in recs if r["kind"] == "outcome"]
    assert {"type": "folder", "id": "0", "access": "write", "role": "parent"} in outcome["items"]
    assert {
        "type": "folder",
        "id": folder_id,
        "name": "named-folder",
        "parent_path": "/",
        "role": "result",
    } in outcome["items"]
    [details] = [r for r in recs if r.get("tool") == "get_folder_details"]
    assert details["items"] == [
        {
            "type": "folder",
            "id": folder_id,
            "name": "named-folder",
            "parent_path": "/",
            "access": "read",
            "role": "item",
        }
    ]
