"""People in a deployment: a policy with only `acts_as: person` agents starts on the OAuth app's client id
and secret alone, each person's calls run on their own `person:<id>` grant from the vault (the emulator
says who they are), a missing grant asks that person to reconnect, and the audit names the person."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from box_mcp.broker.vault import GrantRecord
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.errors import BrokerError, ConfigError, NeedsSignIn
from box_mcp.identity import Person
from box_mcp.seams import Call
from box_mcp.tools.catalog import CATALOG

pytestmark = pytest.mark.anyio

CIMD = "https://claude.ai/oauth/mcp-oauth-client-metadata"
POLICY = """
version: 1
agents:
  everyone:
    acts_as: person
    people: {domains: [acme.example]}
rules:
  - {id: everyone-reads, effect: permit, agents: everyone, access: read}
  - id: ada-writes
    effect: permit
    agents: everyone
    access: write
    within: ["0"]
    people: {logins: [ada@acme.example]}
"""


@pytest.fixture
def oauth_only(emulator: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only the OAuth app's id and secret (no developer token, no service account)."""
    for name in [k for k in os.environ if k.startswith("BOX_")]:
        monkeypatch.delenv(name)
    oauth = emulator.credentials["oauth"]
    monkeypatch.setenv("BOX_OAUTH_CLIENT_ID", oauth["client_id"])
    monkeypatch.setenv("BOX_OAUTH_CLIENT_SECRET", oauth["client_secret"])
    yield


def _person(emulator: Any, who: str) -> Person:
    return Person(
        box_user_id=emulator.user_id(who),
        login=f"{who}@acme.example",
        client_id=CIMD,
        client_name="Claude",
        redirect_host="claude.ai",
    )


def _settings(emulator: Any, tmp_path: Path) -> Settings:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    return Settings.load(box_url=emulator.base_url, data_dir=tmp_path / "data", policy=str(policy))


def _grant(emulator: Any, who: str) -> GrantRecord:
    """What the sign-in pages store for a person: their Box grant under person:<box user id>."""
    user_id = emulator.user_id(who)
    return GrantRecord(
        key=f"person:{user_id}",
        kind="user_grant",
        access_token=emulator.token(who),
        access_expires_at=time.time() + 3600,
        refresh_token=None,
        user_id=user_id,
        user_login=f"{who}@acme.example",
    )


def _records(tmp_path: Path) -> list[dict[str, Any]]:
    lines = []
    for f in sorted((tmp_path / "data" / "audit").glob("audit-*.jsonl")):
        lines += [json.loads(line) for line in f.read_bytes().split(b"\n") if line.strip(b"\0").strip()]
    return lines


def _call(agent: str, tool_name: str, person: Person | None, **args: Any) -> Call:
    tool = next(t for t in CATALOG if t.name == tool_name)
    parsed = tool.input_model(**args)
    return Call("c1", agent, tool, parsed, tool.resources(parsed), tool.facts(parsed), "http", person=person)


async def test_a_person_agent_runs_as_the_signed_in_persons_own_box_user(
    emulator: Any, tmp_path: Path, oauth_only: None
) -> None:
    async with open_deployment(_settings(emulator, tmp_path), transport="http") as deployment:
        assert deployment.store is not None and deployment.store.person_agents() == ["everyone"]
        deployment.broker.vault.put(_grant(emulator, "ada"), expect_generation=None)
        deployment.broker.vault.put(_grant(emulator, "bob"), expect_generation=None)
        gate = deployment.server.gate
        for who in ("ada", "bob"):
            person = _person(emulator, who)
            assert deployment.store.agent_for_person(person) == "everyone"
            result = await gate.call("who_am_i", {}, agent="everyone", transport="http", person=person)
            assert not result.is_error, result.content
            assert result.structured_content is not None
            assert result.structured_content["id"] == emulator.user_id(who)  # Box says: that person
        # The tools list and the decisions follow the person: only ada's rule permits writes.
        ada, bob = _person(emulator, "ada"), _person(emulator, "bob")
        assert "create_folder" in {t.name for t in gate.visible_tools("everyone", ada)}
        assert "create_folder" not in {t.name for t in gate.visible_tools("everyone", bob)}
        made = await gate.call(
            "create_folder", {"parent_folder_id": "0", "name": "ada-notes"}, agent="everyone",
            transport="http", person=ada,
        )  # fmt: skip
        assert not made.is_error, made.content
        refused = await gate.call(
            "create_folder", {"parent_folder_id": "0", "name": "bob-notes"}, agent="everyone",
            transport="http", person=bob,
        )  # fmt: skip
        assert refused.is_error and "Denied" in refused.content[0].text  # type: ignore[union-attr]
        unknown = await gate.call("no_such_tool", {}, agent="everyone", transport="http", person=bob)
        assert unknown.is_error  # rejected before it became a Call: still recorded with the person
        # No person: the person agent does nothing (a misconfiguration, not a Box request).
        nobody = await gate.call("who_am_i", {}, agent="everyone", transport="http")
        assert nobody.is_error and "no signed-in person" in nobody.content[0].text  # type: ignore[union-attr]
        with pytest.raises(BrokerError, match="comes from no signed-in person"):
            await gate.credentials.client_for(_call("everyone", "who_am_i", None))
    records = [r for r in _records(tmp_path) if r["kind"] in ("call", "intent", "outcome")]
    ada_calls = [r for r in records if r.get("person", {}).get("login") == "ada@acme.example"]
    assert ada_calls and all(
        r["person"]
        == {
            "box_user_id": emulator.user_id("ada"),
            "login": "ada@acme.example",
            "client_id": CIMD,
            "client_name": "Claude",
        }
        for r in ada_calls
    )
    who = next(r for r in ada_calls if r["tool"] == "who_am_i")
    assert who["agent"] == "everyone"
    assert who["acting_as"] == {
        "kind": "person",
        "user_id": emulator.user_id("ada"),
        "label": "ada@acme.example",
    }
    denied = next(
        r
        for r in records
        if r.get("tool") == "create_folder" and r.get("decision", {}).get("effect") == "deny"
    )
    assert denied["person"]["login"] == "bob@acme.example"
    rejected = next(r for r in records if r.get("tool") == "no_such_tool")
    assert rejected["person"]["box_user_id"] == emulator.user_id("bob") and rejected["acting_as"] is None


async def test_a_person_without_a_stored_grant_is_asked_to_reconnect(
    emulator: Any, tmp_path: Path, oauth_only: None
) -> None:
    carol = _person(emulator, "carol")
    async with open_deployment(_settings(emulator, tmp_path), transport="http") as deployment:
        credentials = deployment.server.gate.credentials
        for _ in range(2):  # the first asks the vault; the second fails fast on the dead session
            with pytest.raises(NeedsSignIn) as needs:
                box = await credentials.client_for(_call("everyone", "who_am_i", carol))
                await box.get("/users/me")  # the first asks for the token on its first request
            assert needs.value.person_id == emulator.user_id("carol")
            assert "reconnect" in str(needs.value) and "box-mcp auth login" not in str(needs.value)
        result = await deployment.server.gate.call(
            "who_am_i", {}, agent="everyone", transport="http", person=carol
        )
        assert result.is_error and "sign in to Box again through your MCP client" in result.content[0].text  # type: ignore[union-attr]
        # The person reconnects (the sign-in pages store their grant): the next call works at once.
        deployment.broker.vault.put(_grant(emulator, "carol"), expect_generation=None)
        deployment.broker.signed_in(carol.box_user_id)
        back = await deployment.server.gate.call(
            "who_am_i", {}, agent="everyone", transport="http", person=carol
        )
        assert not back.is_error and back.structured_content is not None
        assert back.structured_content["id"] == emulator.user_id("carol")
    failed = [r for r in _records(tmp_path) if r["kind"] == "call" and r.get("tool") == "who_am_i"]
    assert failed and failed[0]["person"]["box_user_id"] == emulator.user_id("carol")
    assert failed[0]["outcome"]["status"] == "broker" and failed[-1]["outcome"]["status"] == "ok"


async def test_a_person_agent_needs_the_oauth_app_and_nothing_else(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("BOX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("BOX_DEVELOPER_TOKEN", emulator.token("ada"))  # not what a person agent uses
    with pytest.raises(ConfigError, match="set BOX_OAUTH_CLIENT_ID and BOX_OAUTH_CLIENT_SECRET"):
        async with open_deployment(_settings(emulator, tmp_path), transport="http"):
            pass


def test_explain_asks_about_a_person_through_the_real_cli(
    box_mcp_cli: Callable[..., Any], tmp_path: Path
) -> None:
    policy = Path(__file__).resolve().parents[1] / "policies" / "examples" / "team.yaml"
    base = ["policy", "explain", "--policy", str(policy), "--person-login", "ada@example.com"]
    base += ["--person-id", "12345", "--person-groups", "777,778", "--redirect-host", "claude.ai"]
    base += ["--client-id", CIMD, "--tool", "create_folder", "--json"]
    inside = '{"folder:123456789": ["0", "123456789"]}'
    uses = '[{"type": "folder", "id": "123456789", "access": "write", "role": "parent"}]'
    done = box_mcp_cli(tmp_path, *base, "--uses", uses, "--ancestry", inside)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rules"] == ["team-write"] and json.loads(done.stdout)["effect"] == "allow"
    outside = '{"folder:5": ["0", "5"]}'
    done = box_mcp_cli(tmp_path, *base, "--uses", uses.replace("123456789", "5"), "--ancestry", outside)
    assert json.loads(done.stdout)["effect"] == "deny"
    done = box_mcp_cli(tmp_path, "policy", "explain", "--policy", str(policy), "--tool", "who_am_i")
    assert done.returncode == 2 and "--person-login" in done.stderr
    done = box_mcp_cli(tmp_path, *base[:-1], "--tool", "who_am_i")
    assert (
        done.returncode == 0 and "person: ada@example.com (Box user 12345) as agent everyone" in done.stdout
    )


@pytest.fixture
def box_mcp_cli() -> Callable[..., Any]:
    import subprocess
    import sys

    def run(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
        env |= {"HOME": str(cwd), "XDG_DATA_HOME": str(cwd / "xdg"), "BOX_MCP_DATA_DIR": str(cwd / "data")}
        exe = Path(sys.executable).with_name("box-mcp")  # the installed console script
        return subprocess.run(  # noqa: S603
            [str(exe), *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
        )

    return run
