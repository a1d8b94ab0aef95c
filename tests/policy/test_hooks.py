"""The policy in the real gate, against the in-process emulator's demo seed and policies/default.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from box_mcp.policy.reference_tools import tools_for_policy
from box_mcp.policy.store import PolicyStore
from tests.policy.conftest import gate_for

pytestmark = pytest.mark.anyio

DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"


@pytest.fixture
def world(make_world):
    return make_world(DEFAULT)


@pytest.fixture
def as_agent(world, connect):
    return lambda name: connect(world, name)


async def test_tools_list_shows_only_tools_the_agent_holds_a_grant_for(as_agent) -> None:
    bot = await as_agent("contracts-bot")
    names = {t.name for t in (await bot.client.list_tools()).tools}
    assert {"get_file_content", "upload_file", "move_file", "search_files_keyword"} <= names
    assert not names & {"create_folder", "add_file_shared_link", "create_collaboration", "delete_folder"}
    stranger = await as_agent("nobody")
    assert (await stranger.client.list_tools()).tools == []


async def test_confined_agent_reads_inside_and_is_denied_outside_without_touching_the_item(
    as_agent, world
) -> None:
    bot = await as_agent("contracts-bot")
    content = await bot.ok("get_file_content", file_id=world.file("Contracts/MSA-Globex.pdf"))
    assert content
    salaries = world.file("HR/salaries.csv")
    world.requests.clear()
    text = await bot.err("get_file_content", file_id=salaries)
    assert text.startswith(f"Denied: file {salaries} is not available to contracts-bot")
    assert "contracts-bot's grants for get_file_content: read in folder" in text
    # Only the location lookup reached Box, never the content.
    assert [r.url.path for r in world.requests] == [f"/2.0/files/{salaries}"]
    assert "path_collection" in str(world.requests[0].url)


async def test_move_out_of_the_write_grant_is_denied_with_the_rule_and_reach(as_agent, world) -> None:
    bot = await as_agent("contracts-bot")
    text = await bot.err(
        "move_file",
        file_id=world.file("Contracts/Inbox/SOW-Umbrella-draft.pdf"),
        destination_folder_id=world.folder("Finance"),
    )
    inbox, contracts = world.folder("Contracts/Inbox"), world.folder("Contracts")
    # Finance lies outside every grant: the sentence names the agent's own grants, not the reason.
    assert f"folder {world.folder('Finance')} is not available to contracts-bot" in text
    assert f"read in folder {contracts} and below; write in folder {inbox} and below." in text


async def test_upload_limits_hold_in_the_gate(as_agent, world) -> None:
    bot = await as_agent("contracts-bot")
    inbox = world.folder("Contracts/Inbox")
    text = await bot.err("upload_file", parent_folder_id=inbox, name="notes.docx", content_text="hello")
    assert "allows only file extensions pdf, not extension 'docx'" in text
    done = await bot.ok("upload_file", parent_folder_id=inbox, name="SOW-new.pdf", content_text="%PDF-1.4 hi")
    assert done["name"] == "SOW-new.pdf"


async def test_unscoped_search_by_a_confined_agent_stays_inside_its_grant(as_agent, world) -> None:
    bot = await as_agent("contracts-bot")
    found = await bot.ok("search_files_keyword", query="agreement")
    assert found["entries"], "the seed has agreements under Contracts"
    contracts = world.folder("Contracts")
    for hit in found["entries"]:
        assert contracts in hit["ancestor_ids"], hit
    search = [r for r in world.requests if r.url.path == "/2.0/search"][-1]
    assert search.url.params["ancestor_folder_ids"] == contracts


async def test_listing_hides_entries_a_forbid_covers(make_world, connect, tmp_path: Path) -> None:
    w = make_world(DEFAULT)
    archive, contracts = w.folder("Contracts/Archive"), w.folder("Contracts")
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agents: {reader: {}}\nrules:\n"
        f"  - {{id: contracts, effect: permit, agents: reader, access: read, within: ['{contracts}']}}\n"
        f"  - {{id: not-archive, effect: forbid, agents: reader, within: ['{archive}']}}\n"
    )
    w.gate = gate_for(policy, w.box)
    reader = await connect(w, "reader")
    listing = await reader.ok("list_folder_content_by_folder_id", folder_id=contracts)
    ids = {e["id"] for e in listing["entries"]}
    assert w.folder("Contracts/Inbox") in ids and archive not in ids
    assert f"folder {archive} is not available" in await reader.err("get_folder_details", folder_id=archive)
    assert "folder 0 is not available" in await reader.err("list_folder_content_by_folder_id", folder_id="0")


async def test_a_move_by_box_mcp_invalidates_the_cached_location(as_agent, world) -> None:
    demo = await as_agent("demo")
    bot = await as_agent("contracts-bot")
    readme = world.file("Engineering/README.md")
    assert "not available" in await bot.err("get_file_details", file_id=readme)  # caches its location
    await demo.ok("move_file", file_id=readme, destination_folder_id=world.folder("Contracts/Inbox"))
    details = await bot.ok("get_file_details", file_id=readme)  # now inside Contracts: the cache moved on
    assert details["id"] == readme


async def test_unknown_items_are_denied_with_a_clear_sentence(as_agent) -> None:
    bot = await as_agent("contracts-bot")
    text = await bot.err("get_file_details", file_id="999999999")
    assert "file 999999999 is not available to contracts-bot (it does not exist, or" in text


async def test_api_keys_identify_agents_by_hash(tmp_path: Path) -> None:
    import hashlib

    from box_mcp.http.auth import APIKeyVerifier

    key = "bmcp_secret_for_test"
    policy = tmp_path / "p.yaml"
    policy.write_text(f"agents:\n  bot: {{keys: ['sha256:{hashlib.sha256(key.encode()).hexdigest()}']}}\n")
    verifier = APIKeyVerifier(PolicyStore(policy, tools_for_policy()).agent_for_key)

    async def agent(token: str) -> str | None:
        verified = await verifier.verify_token(token)
        return None if verified is None else verified.client_id

    assert await agent(key) == "bot"
    assert await agent(f" {key} ") == "bot"
    assert await agent("wrong") is None
    assert await agent("") is None
    verified = await verifier.verify_token(key)
    assert verified is not None and key not in repr(verified) and key not in verified.token


async def test_invitees_named_by_user_id_meet_domain_conditions_by_their_login(
    make_world, connect, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agents: {admin: {}}\nrules:\n"
        "  - {id: all, effect: permit, agents: admin, access: admin}\n"
        "  - {id: outside-needs-ok, effect: require_approval, agents: admin, tools: [create_collaboration],\n"
        "     unless: {invitee_domains: [acme.example]}, approval: {by: admin}}\n"
    )
    w = make_world(policy)
    admin = await connect(w, "admin")
    users = {u["login"].split("@")[0].lower(): u["id"] for u in w.credentials["users"]}
    eng = w.folder("Engineering")
    await admin.ok(
        "create_collaboration", item_type="folder", item_id=eng, role="viewer", user_id=users["carol"]
    )
    text = await admin.err(
        "create_collaboration",
        item_type="folder",
        item_id=eng,
        role="viewer",
        user_id=users["appuser_hrsandbox"],
    )
    assert "approval required" in text and "outside-needs-ok" in text and "Waiting for approval" in text
    missing = await admin.err(
        "create_collaboration", item_type="folder", item_id=eng, role="viewer", user_id="1"
    )
    assert "could not look up Box user 1" in missing


async def test_copy_or_move_keeps_the_file_name_so_extension_limits_apply(as_agent, world) -> None:
    bot = await as_agent("contracts-bot")
    inbox = world.folder("Contracts/Inbox")
    readme = world.file("Engineering/README.md")
    demo = await as_agent("demo")
    await demo.ok("move_file", file_id=readme, destination_folder_id=inbox)
    text = await bot.err("copy_file", file_id=readme, destination_folder_id=inbox)
    assert "allows only file extensions pdf, not extension 'md'" in text
    done = await bot.ok(
        "copy_file", file_id=world.file("Contracts/MSA-Globex.pdf"), destination_folder_id=inbox
    )
    assert done["name"] == "MSA-Globex.pdf"


async def test_rate_limits_from_the_policy_stop_calls_before_box_is_asked(
    make_world, connect, tmp_path: Path
) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agents: {slow: {limits: {calls_per_minute: 2}}}\n"
        "rules:\n  - {id: all, effect: permit, agents: slow, access: read}\n"
    )
    w = make_world(policy)
    slow = await connect(w, "slow")
    await slow.ok("who_am_i")
    await slow.ok("who_am_i")
    before = len(w.requests)
    text = await slow.err("who_am_i")
    assert "reached its limit of 2 calls per minute; retry in" in text
    assert len(w.requests) == before


async def test_a_confined_agent_sees_no_folder_above_its_grant(make_world, connect, tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agents: {inbox: {}}\nrules:\n"
        "  - {id: inbox, effect: permit, agents: inbox, access: write, within: ['200000000002']}\n"
    )
    w = make_world(policy)
    bot = await connect(w, "inbox")
    root = await bot.ok("get_folder_details", folder_id=w.folder("Contracts/Inbox"))
    assert root["path"] == "…/Inbox" and "parent" not in root
    sow = await bot.ok("get_file_details", file_id=w.file("Contracts/Inbox/SOW-Umbrella-draft.pdf"))
    assert sow["path"] == "…/Inbox/SOW-Umbrella-draft.pdf" and sow["parent"]["id"] == w.folder(
        "Contracts/Inbox"
    )
    hits = await bot.ok("search_files_keyword", query="SOW")
    assert hits["entries"]
    for hit in hits["entries"]:
        assert hit["ancestor_ids"][0] == w.folder("Contracts/Inbox") and hit["path"].startswith("…/Inbox/")
