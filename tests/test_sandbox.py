"""Agent sandboxes (box_mcp.sandbox) on the emulator, in-process: made as the service account (CCG and
JWT), then served by a real deployment whose agent is the generated stanza. The red-team harness of
tests/policy/test_confinement.py runs against it and must find nothing outside the folder; the agent's
writes carry `box-notifications: off`; list sees drift; revoke is idempotent; bad input fails clearly."""

from __future__ import annotations

import json
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from box_mcp import sandbox as sb
from box_mcp.config import Settings
from box_mcp.deployment import open_deployment
from box_mcp.emulator.testing import RunningEmulator
from box_mcp.policy.model import load_policy
from tests.policy.conftest import AgentClient
from tests.policy.test_confinement import red_team
from tests.state_mode import state_env

pytestmark = pytest.mark.anyio


def service_env(emulator: RunningEmulator, mode: str, tmp_path: Path) -> dict[str, str]:
    """The emulator's app as the deployment's service account: CCG variables, or a JWT config file."""
    if mode == "jwt":
        config = tmp_path / "jwt.json"
        config.write_text(json.dumps(emulator.credentials["jwt_config"]))
        config.chmod(0o600)
        return {"BOX_JWT_CONFIG_FILE": str(config)}
    ccg = emulator.credentials["ccg"]
    return {
        "BOX_CLIENT_ID": ccg["client_id"],
        "BOX_CLIENT_SECRET": ccg["client_secret"],
        "BOX_ENTERPRISE_ID": ccg["enterprise_id"],
    }


def settings_for(emulator: RunningEmulator, mode: str, tmp_path: Path, **flags: Any) -> Settings:
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    env = state_env() | service_env(emulator, mode, tmp_path)
    return Settings.load(
        env=env, box_url=emulator.base_url, policy=policies, data_dir=tmp_path / "data", **flags
    )


@pytest.fixture
def counted(emulators: Any) -> RunningEmulator:
    """A fresh demo emulator that logs every request (and its box-notifications / As-User headers)."""
    running: RunningEmulator = emulators.fresh(seed="demo", rate_limits=False, count_requests=True)
    return running


@asynccontextmanager
async def served_agent(settings: Settings, agent: str) -> AsyncIterator[AgentClient]:
    """A real deployment (policy store, broker, gate, audit) on `settings`, with an MCP client as `agent`."""
    async with open_deployment(settings.model_copy(update={"agent": agent}), transport="stdio") as deployment:
        async with Client(deployment.server) as client:
            yield AgentClient(client)


@pytest.mark.parametrize(("mode", "seed"), [("ccg", 1), ("jwt", 2)])
async def test_red_team_finds_nothing_outside_a_generated_sandbox(
    mode: str, seed: int, counted: RunningEmulator, tmp_path: Path
) -> None:
    settings = settings_for(counted, mode, tmp_path)
    assert settings.policy is not None
    async with sb.admin_client(settings) as box:
        made = await sb.create_sandbox(box, settings.policy, "boxed", "Agents/boxed")
    record = made.sandbox.record
    root = record.folder
    store = counted.emulator.store
    log = counted.app.state.request_log
    assert made.api_key.startswith("bmcp_") and made.api_key not in made.sandbox.file.read_text()
    async with served_agent(settings, "boxed") as agent:
        mark = log.mark()
        work = await agent.ok("create_folder", parent_folder_id=root, name="Work")
        await agent.ok("upload_file", parent_folder_id=root, name="notes.txt", content_text="first")
        await agent.ok("upload_file", parent_folder_id=work["id"], name="plan.md", content_text="plan")
        allowed, denied = await red_team(agent, store, root, seed, f"sandbox boxed ({mode})")
        assert allowed > 5 and denied > 5, (allowed, denied)
        me = await agent.ok("who_am_i")
        assert me["id"] == record.app_user
        requests = log.detailed_since(mark)
    # Box itself confines the app user too: every call went As-User it, every write quietly.
    acting = [(m, p, h) for m, p, h in requests if p.startswith(("/2.0/", "/api/2.0/"))]
    assert acting and all(h.get("as-user") == record.app_user for _, _, h in acting)
    writes = [(m, p, h) for m, p, h in acting if m not in ("GET", "HEAD", "OPTIONS")]
    assert writes and all(h.get("box-notifications") == "off" for _, _, h in writes), writes[:3]
    assert not any("box-notifications" in h for m, _, h in acting if m == "GET")


async def test_create_makes_what_it_says_and_a_second_path_reuses_folders(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator, "ccg", tmp_path)
    policies = settings.policy
    assert policies is not None
    (policies / "base.yaml").write_text("agents:\n  other: {}\nrules: []\n")
    store = emulator.emulator.store
    async with sb.admin_client(settings) as box:
        first = await sb.create_sandbox(box, policies, "claims", "Agents/claims", role="viewer")
        second = await sb.create_sandbox(box, policies, "intake", "/Agents//intake/")
        again = await sb.create_sandbox(box, policies, "reader", "Agents/claims", role="previewer")
    r1, r2 = first.sandbox.record, second.sandbox.record
    assert (r1.path, r1.role, r1.parent, first.notes) == ("Agents/claims", "viewer", "0", ())
    agents_folder = store.fetch_one("SELECT parent_id FROM items WHERE id = ?", (r1.folder,))["parent_id"]
    assert (
        store.fetch_one("SELECT parent_id FROM items WHERE id = ?", (r2.folder,))["parent_id"]
        == agents_folder
    )
    assert again.sandbox.record.folder == r1.folder
    assert any("reused the existing folder" in n for n in again.notes)
    user = store.fetch_one("SELECT * FROM users WHERE id = ?", (r1.app_user,))
    assert (user["kind"], user["external_app_user_id"], user["name"]) == (
        "app_user",
        "box-mcp:claims",
        "box-mcp claims",
    )
    collab = store.fetch_one("SELECT * FROM collaborations WHERE id = ?", (r1.collaboration,))
    assert (collab["item_id"], collab["accessible_by_id"], collab["role"]) == (
        r1.folder,
        r1.app_user,
        "viewer",
    )
    file = first.sandbox.file
    assert file.name == "sandbox-claims.yaml" and stat.S_IMODE(file.stat().st_mode) == 0o600
    text = file.read_text()
    assert text.startswith("# Agent sandbox claims: written by `box-mcp sandbox create` on ")
    assert first.api_key not in text and text.count("sha256:") == 1
    policy = load_policy(policies)
    agent = policy.agents["claims"]
    assert agent.acts_as.as_user == r1.app_user and agent.notifications == "off"  # type: ignore[union-attr]
    [rule] = [r for r in policy.rules if r.agents == ("claims",)]
    assert (rule.effect, rule.access, rule.within) == ("permit", "read", (r1.folder,))
    sb.check_policy(policies)
    listed = await _list(settings)
    assert [(s.name, s.state, s.keys, s.drift) for s in listed] == [
        ("claims", "active", 1, ()),
        ("intake", "active", 1, ()),
        ("reader", "active", 1, ()),
    ]


async def _list(settings: Settings) -> list[sb.Sandbox]:
    assert settings.policy is not None
    async with sb.admin_client(settings) as box:
        return await sb.list_sandboxes(settings.policy, box)


async def test_revoke_is_idempotent_and_list_reports_drift(emulator: RunningEmulator, tmp_path: Path) -> None:
    settings = settings_for(emulator, "jwt", tmp_path)
    policies = settings.policy
    assert policies is not None
    store = emulator.emulator.store
    async with sb.admin_client(settings) as box:
        made = await sb.create_sandbox(box, policies, "claims", "Agents/claims")
        r = made.sandbox.record
        # someone changes things in Box behind box-mcp's back
        await box.put(f"/collaborations/{r.collaboration}", json={"role": "viewer"})
        await box.put(f"/folders/{r.folder}", json={"name": "renamed"})
        [drifted] = await sb.list_sandboxes(policies, box)
        assert drifted.drift == (
            f"folder {r.folder} is now named 'renamed'",
            f"collaboration {r.collaboration} is now viewer, not editor",
        )
        await box.put(f"/folders/{r.folder}", json={"name": "claims"})
        done = await sb.revoke_sandbox(box, policies, "claims", clock=lambda: 1_800_000_000)
        assert done.sandbox.state == "revoked" and done.sandbox.record.revoked == "2027-01-15T08:00:00Z"
        text = made.sandbox.file.read_text()
        assert "sha256:" not in text and "rules: []" in text and "Revoked on 2027-01-15T08:00:00Z" in text
        assert store.fetch_one("SELECT status FROM users WHERE id = ?", (r.app_user,))["status"] == "inactive"
        assert store.fetch_one("SELECT id FROM collaborations WHERE id = ?", (r.collaboration,)) is None
        again = await sb.revoke_sandbox(box, policies, "claims")
        assert again.sandbox.record.revoked == "2027-01-15T08:00:00Z"
        assert any("already revoked" in n for n in again.notes)
        assert any("already gone" in n for n in again.notes)
        [listed] = await sb.list_sandboxes(policies, box)
        assert (listed.state, listed.keys, listed.drift) == ("revoked", 0, ())
        # reactivated in Box after the revoke: list says so
        await box.put(f"/users/{r.app_user}", json={"status": "active"})
        [back] = await sb.list_sandboxes(policies, box)
        assert back.drift == (f"app user {r.app_user} is still active in Box (run revoke again)",)
        # the same name cannot be made again while its stanza (revoked) is there, nor its app user reused
        with pytest.raises(sb.SandboxError, match="exists"):
            await sb.create_sandbox(box, policies, "claims", "Agents/claims")
        made.sandbox.file.unlink()
        await box.put(f"/users/{r.app_user}", json={"status": "inactive"})
        with pytest.raises(sb.SandboxError, match="inactive"):
            await sb.create_sandbox(box, policies, "claims", "Agents/claims")


async def test_a_half_made_sandbox_is_finished_by_running_create_again(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    """An app user and collaboration left in Box by a run that failed before the stanza are reused."""
    settings = settings_for(emulator, "ccg", tmp_path)
    policies = settings.policy
    assert policies is not None
    async with sb.admin_client(settings) as box:
        made = await sb.create_sandbox(box, policies, "claims", "Agents/claims")
        made.sandbox.file.unlink()  # as if writing the stanza had failed
        await box.put(f"/collaborations/{made.sandbox.record.collaboration}", json={"role": "viewer"})
        again = await sb.create_sandbox(box, policies, "claims", "Agents/claims")
    assert again.sandbox.record.app_user == made.sandbox.record.app_user
    assert again.sandbox.record.collaboration == made.sandbox.record.collaboration
    r = again.sandbox.record
    assert again.notes == (
        f"reused app user {r.app_user} (external_app_user_id box-mcp:claims)",
        f"reused the existing folder {r.folder} at that path",
        f"changed the app user's existing collaboration {r.collaboration} to editor",
    )


@pytest.mark.parametrize(
    ("name", "folder", "parent", "role", "expected"),
    [
        ("bad name", "A", "0", "editor", "is not valid"),
        ("ok", "", "0", "editor", "folder path is empty"),
        ("ok", "A/../B", "0", "editor", "'.' and '..'"),
        ("ok", "A/ B", "0", "editor", "start or end with a space"),
        ("ok", "A\\B", "0", "editor", "cannot contain"),
        ("ok", "A/\x07", "0", "editor", "control characters"),
        ("ok", "x" * 256, "0", "editor", "at most 255"),
        ("ok", "A", "12ab", "editor", "not a Box folder id"),
        ("ok", "A", "0", "owner", "not a Box collaboration role"),
        ("other", "A", "0", "editor", "already declared"),
    ],
)
def test_bad_requests_fail_before_box_is_asked(
    name: str, folder: str, parent: str, role: str, expected: str, tmp_path: Path
) -> None:
    (tmp_path / "base.yaml").write_text("agents:\n  other: {}\nrules: []\n")
    with pytest.raises(sb.SandboxError, match=expected):
        sb.check_request(tmp_path, name, folder, parent=parent, role=role)


def test_the_policy_must_be_a_directory_that_loads(tmp_path: Path) -> None:
    with pytest.raises(sb.SandboxError, match="no policy directory"):
        sb.policy_dir(None)
    single = tmp_path / "policy.yaml"
    single.write_text("agents: {}\n")
    with pytest.raises(sb.SandboxError, match="is not a directory"):
        sb.policy_dir(single)
    broken = tmp_path / "dir"
    broken.mkdir()
    (broken / "a.yaml").write_text("agents: [\n")
    with pytest.raises(sb.SandboxError, match="does not load; fix it first"):
        sb.check_request(broken, "ok", "A")
    with pytest.raises(sb.SandboxError, match="no sandbox 'ghost'"):
        sb.find_sandbox(broken, "ghost")


async def test_box_errors_are_named(emulator: RunningEmulator, tmp_path: Path) -> None:
    settings = settings_for(emulator, "ccg", tmp_path)
    policies = settings.policy
    assert policies is not None
    store = emulator.emulator.store
    async with sb.admin_client(settings) as box:
        with pytest.raises(sb.SandboxError, match="parent folder 99999 does not exist"):
            await sb.create_sandbox(box, policies, "a", "X", parent="99999")
        finance = emulator.credentials["folders"]["Finance"]
        service = next(u for u in emulator.credentials["users"] if u["role"] == "service_account")
        with store.tx():  # Ada lets the service account view her Finance folder, nothing more
            store.insert(
                "collaborations",
                {
                    "id": store.next_id("collaboration"),
                    "item_type": "folder",
                    "item_id": finance,
                    "accessible_by_type": "user",
                    "accessible_by_id": service["id"],
                    "role": "viewer",
                    "created_by": emulator.user_id("ada"),
                    "created_at": 0,
                    "modified_at": 0,
                },
            )
        with pytest.raises(sb.SandboxError, match=r"Box refused to collaborate app user .* on folder"):
            await sb.create_sandbox(box, policies, "b", "Finance")  # found at the root: reused, not shared
        with pytest.raises(sb.SandboxError, match="Box refused to make folder 'sub' in folder"):
            await sb.create_sandbox(box, policies, "b2", "sub", parent=finance)
        with pytest.raises(sb.SandboxError, match=r"'budget-2026\.csv' in folder .* is a file"):
            await sb.create_sandbox(box, policies, "b3", "budget-2026.csv/x", parent=finance)
        with store.tx():  # the app loses "Manage app users"
            store.execute("UPDATE apps SET scopes = 'root_readwrite' WHERE kind = 'server'")
    async with sb.admin_client(settings) as box:
        with pytest.raises(sb.SandboxError, match="Box refused to create the app user"):
            await sb.create_sandbox(box, policies, "c", "Agents/c")
    assert sorted(p.name for p in policies.iterdir()) == []


async def test_no_service_account_is_a_clear_error(emulator: RunningEmulator, tmp_path: Path) -> None:
    bare = Settings.load(env={}, box_url=emulator.base_url, data_dir=tmp_path)
    with pytest.raises(sb.NoServiceAccount, match="no service account configured"):
        async with sb.admin_client(bare):
            pass
    ccg = service_env(emulator, "ccg", tmp_path)
    one_user = Settings.load(
        env=ccg | {"BOX_SUBJECT_TYPE": "user", "BOX_SUBJECT_ID": emulator.user_id("ada")},
        box_url=emulator.base_url,
        data_dir=tmp_path,
    )
    with pytest.raises(sb.NoServiceAccount, match="BOX_SUBJECT_TYPE=user"):
        async with sb.admin_client(one_user):
            pass


def test_notifications_is_on_or_off_as_people_write_it() -> None:
    from box_mcp.errors import PolicyError
    from box_mcp.policy.model import policy_from_text

    for written, read in (("off", "off"), ('"off"', "off"), ("on", "on"), ("false", "off"), ("true", "on")):
        policy = policy_from_text(f"agents:\n  a: {{notifications: {written}}}\n")
        assert policy.agents["a"].notifications == read, written
    assert policy_from_text("agents:\n  a: {}\n").agents["a"].notifications == "on"
    with pytest.raises(PolicyError, match="notifications"):
        policy_from_text("agents:\n  a: {notifications: quiet}\n")
    with pytest.raises(PolicyError, match="sandbox"):
        policy_from_text("agents:\n  a: {sandbox: {app_user: '1', folder: '2', path: p, role: editor}}\n")


async def test_the_box_client_asks_for_no_notifications_on_writes_only(counted: RunningEmulator) -> None:
    from box_mcp.box.client import BoxClient, StaticToken

    log = counted.app.state.request_log
    async with BoxClient(token_source=StaticToken(counted.token("ada")), base_url=counted.base_url) as root:
        quiet = root.bound(notifications=False)
        mark = log.mark()
        made = await quiet.post("/folders", json={"name": "Q", "parent": {"id": "0"}})
        await quiet.get(f"/folders/{made['id']}")
        await root.put(f"/folders/{made['id']}", json={"name": "R"})
        await quiet.bound(notifications=True).delete(f"/folders/{made['id']}")
    assert [(m, h.get("box-notifications")) for m, _, h in log.detailed_since(mark)] == [
        ("POST", "off"),
        ("GET", None),
        ("PUT", None),
        ("DELETE", None),
    ]


async def test_drift_when_box_changed_and_revoke_when_box_refuses(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator, "ccg", tmp_path)
    policies = settings.policy
    assert policies is not None
    store = emulator.emulator.store
    async with sb.admin_client(settings) as box:
        made = await sb.create_sandbox(box, policies, "claims", "Agents/claims")
        other = await sb.create_sandbox(box, policies, "other", "Agents/other")
        r = made.sandbox.record
        await box.put(f"/users/{r.app_user}", json={"status": "inactive"})
        await box.delete(f"/collaborations/{r.collaboration}")
        await box.delete(f"/folders/{r.folder}", params={"recursive": "true"})
        drifted, fine = await sb.list_sandboxes(policies, box)
        assert drifted.drift == (
            f"app user {r.app_user} is inactive in Box",
            f"folder {r.folder} no longer exists (or was trashed)",
            f"collaboration {r.collaboration} was removed in Box",
        )
        assert fine.drift == ()
        await box.delete(f"/users/{r.app_user}", params={"force": "true"})
        done = await sb.revoke_sandbox(box, policies, "claims")
        assert done.notes == (
            f"collaboration {r.collaboration} was already gone",
            f"app user {r.app_user} no longer exists in Box",
        )
        with store.tx():  # the app loses "Manage app users": Box refuses to set the user inactive
            store.execute("UPDATE apps SET scopes = 'root_readwrite' WHERE kind = 'server'")
    async with sb.admin_client(settings) as box:
        with pytest.raises(
            sb.SandboxError, match=r"the keys of 'other' are revoked .* Box refused to finish"
        ):
            await sb.revoke_sandbox(box, policies, "other")
        [listed] = [s for s in await sb.list_sandboxes(policies, box) if s.name == "other"]
    assert listed.state == "revoked" and listed.keys == 0
    assert listed.drift == (
        f"app user {other.sandbox.record.app_user} is still active in Box (run revoke again)",
    )


async def test_a_rule_for_every_agent_elsewhere_stops_create_and_shows_in_list(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    settings = settings_for(emulator, "ccg", tmp_path)
    policies = settings.policy
    assert policies is not None
    wide = "agents:\n  a: {}\nrules:\n  - {id: all-read, effect: permit, agents: '*', access: read}\n"
    (policies / "base.yaml").write_text(wide)
    async with sb.admin_client(settings) as box:
        with pytest.raises(sb.SandboxError, match=r"rule 'all-read' \(.*base.yaml:4\) also grants agent 'x'"):
            await sb.create_sandbox(box, policies, "x", "Agents/x")
        assert not sb.stanza_path(policies, "x").exists()
        (policies / "base.yaml").write_text("agents:\n  a: {}\nrules: []\n")
        await sb.create_sandbox(box, policies, "x", "Agents/x")
        (policies / "base.yaml").write_text(wide)
        [listed] = await sb.list_sandboxes(policies)
        assert listed.drift[0].startswith("rule 'all-read'")
        (policies / "base.yaml").write_text("agents: [\n")
        [broken] = await sb.list_sandboxes(policies, box)
        assert broken.drift[0].startswith("the policy does not load: ")


def test_the_stanza_header_stays_one_comment_line_whoever_made_it(tmp_path: Path) -> None:
    """The console puts who made a sandbox (an admin key's name, a Box login) into the stanza's header:
    a newline or backtick in it must not become YAML of the policy."""
    from box_mcp.policy.keys import mint_key
    from box_mcp.policy.model import SandboxRecord

    record = SandboxRecord(
        app_user="11",
        folder="22",
        path="Agents/x",
        role="editor",
        collaboration="33",
        created="2026-12-03T10:00:00Z",
    )
    _key, digest = mint_key()
    who = "box-mcp console (eve@example.com\nagents:\n  root: {acts_as: service_account}\n`)"
    text = sb.stanza_text("x", record, (digest,), by=who)
    first, *rest = text.splitlines()
    assert first == (
        "# Agent sandbox x: written by `box-mcp console (eve@example.comagents:  root: {acts_as: "
        "service_account})` on 2026-12-03T10:00:00Z."
    )
    assert not any("root" in line for line in rest)
    sb.stanza_path(tmp_path, "x").write_text(text)
    assert sorted(load_policy(tmp_path).agents) == ["x"]
