"""Shared links, enterprise users and webhooks under the policy, through the real gate and the in-process
emulator (demo seed): a shared link is decided on the item it resolves to, and one outside the grant is
refused like a link to nothing; user management needs an unscoped grant (a folder grant never gives it);
webhooks are created on, listed for and deleted by the item they watch."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mcp.client import Client

from box_mcp.audit.hook import GateAudit
from box_mcp.audit.log import AuditLog
from box_mcp.config import Settings
from box_mcp.server import build_server

pytestmark = pytest.mark.anyio

HR, ENGINEERING = "200000000005", "200000000007"
PASSWORD = "Opensesame-7731"
HOOK = "https://hooks.example.com/box"


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  boxed: {}\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
    return path


async def _link(world: Any, kind: str, item_id: str, **link: Any) -> str:
    plural = "files" if kind == "file" else "folders"
    raw = await world.box.put(
        f"/{plural}/{item_id}",
        json={"shared_link": {"access": "open", **link}},
        params={"fields": "shared_link"},
    )
    return str(raw["shared_link"]["url"])


READ_ENGINEERING = f"{{id: eng, effect: permit, agents: boxed, access: read, within: ['{ENGINEERING}']}}"


async def test_a_shared_link_is_decided_on_the_item_it_points_at(make_world, connect, tmp_path: Path) -> None:
    world = make_world(_policy(tmp_path, READ_ENGINEERING))
    design, salaries = world.file("Engineering/design.md"), world.file("HR/salaries.csv")
    inside, outside = await _link(world, "file", design), await _link(world, "file", salaries)
    folder = await _link(world, "folder", ENGINEERING)
    agent = await connect(world, "boxed")
    found = await agent.ok("resolve_shared_link", shared_link=inside)
    assert (found["type"], found["id"], found["name"]) == ("file", design, "design.md")
    assert found["shared_link"]["url"] == inside
    assert (await agent.ok("resolve_shared_link", shared_link=folder))["id"] == ENGINEERING
    refused = await agent.err("resolve_shared_link", shared_link=outside)
    nothing = inside.rsplit("/", 1)[0] + "/nosuchlinkatall"
    missing = await agent.err("resolve_shared_link", shared_link=nothing)
    # a link to an item outside the grant reads as a link to nothing: no id, name, size or path of it
    assert refused.startswith("Denied: shared_link ") and missing.startswith("Denied: shared_link ")
    assert refused.replace(outside, "<link>") == missing.replace(nothing, "<link>")
    for detail in (salaries, "salaries", "HR", HR):
        assert detail not in refused


async def test_a_forbid_on_a_folder_reaches_the_item_a_link_points_into(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: all, effect: permit, agents: boxed, access: read}",
            f"{{id: no-hr, effect: forbid, agents: boxed, within: ['{HR}']}}",
        )
    )
    hr_link = await _link(world, "file", world.file("HR/handbook.md"))
    eng_link = await _link(world, "file", world.file("Engineering/notes.txt"))
    agent = await connect(world, "boxed")
    assert (await agent.ok("resolve_shared_link", shared_link=eng_link))["name"] == "notes.txt"
    assert "Denied" in await agent.err("resolve_shared_link", shared_link=hr_link)


async def test_a_links_password_reaches_box_and_nothing_else(
    make_world, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    world = make_world(_policy(tmp_path, READ_ENGINEERING))
    url = await _link(world, "file", world.file("Engineering/design.md"), password=PASSWORD)
    log = await AuditLog.open(tmp_path / "audit")
    try:
        server = build_server(
            Settings.load(env={}, agent="boxed", toolsets=("all",)),
            box_client=world.box,
            policy=world.gate,
            results=world.gate,
            audit=GateAudit(log),
            transport="memory",
        )
        async with Client(server) as client:
            good = await client.call_tool("resolve_shared_link", {"shared_link": url, "password": PASSWORD})
            wrong = await client.call_tool(
                "resolve_shared_link", {"shared_link": url, "password": "not-it-99"}
            )
            none = await client.call_tool("resolve_shared_link", {"shared_link": url})
    finally:
        await log.aclose()
    assert not good.is_error and good.structured_content["name"] == "design.md"
    assert wrong.is_error and none.is_error
    audit = b"".join(p.read_bytes() for p in sorted((tmp_path / "audit").glob("audit-*.jsonl"))).decode()
    shown = " ".join(b.text for r in (good, wrong, none) for b in r.content if hasattr(b, "text"))
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert '"tool":"resolve_shared_link"' in audit and "[masked]" in audit
    # the call ran pinned to the item the policy decided on: Box's second answer must name the same one
    assert f'"resolved_item":"file:{world.file("Engineering/design.md")}"' in audit
    for secret in (PASSWORD, "not-it-99"):
        assert secret not in audit and secret not in shown and secret not in logged
    # the policy's resolution and the call itself each sent the password to Box, in the boxapi header only
    sent = [r for r in world.requests if r.url.path.endswith("/shared_items")]
    assert len(sent) >= 2 and all(PASSWORD not in str(r.url) for r in sent)
    assert any(PASSWORD in r.headers.get("boxapi", "") for r in sent)


async def test_a_shared_link_that_is_not_a_box_url_is_refused_before_box(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, READ_ENGINEERING))
    agent = await connect(world, "boxed")
    before = len(world.requests)
    for bad in ("app.box.com/s/abc123def", "https://app.box.com/s/a&shared_link_password=x", "ftp://x.y/s/a"):
        assert "Invalid arguments for resolve_shared_link" in await agent.err(
            "resolve_shared_link", shared_link=bad
        )
    assert len(world.requests) == before


# --- enterprise users --------------------------------------------------------------------------------


async def test_a_folder_grant_never_manages_users_even_with_admin(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: eng, effect: permit, agents: boxed, access: admin, within: ['{ENGINEERING}']}}",
            "{id: me, effect: permit, agents: boxed, toolsets: [users]}",
        )
    )
    agent = await connect(world, "boxed")
    assert (await agent.ok("who_am_i"))["login"] == "ada@acme.example"
    denied = await agent.err("list_users")
    assert denied.startswith("Denied:") and "enterprise users" in denied, denied
    assert "Denied" in await agent.err("create_user", login="eve@acme.example", name="Eve")
    made = await world.box.get("/users", params={"filter_term": "eve"})
    assert made["entries"] == []  # nothing reached Box


async def test_the_users_toolset_does_not_grant_the_enterprise_tools(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, "{id: me, effect: permit, agents: boxed, toolsets: [users]}"))
    agent = await connect(world, "boxed")
    listed = {t.name for t in (await agent.client.list_tools()).tools}
    assert "who_am_i" in listed and not {"list_users", "create_user"} & listed


async def test_an_enterprise_grant_lists_and_creates_users(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: people, effect: permit, agents: boxed, toolsets: [enterprise], "
            "when: {invitee_domains: [acme.example]}}",
        )
    )
    agent = await connect(world, "boxed")
    made = await agent.ok("create_user", login="eve@acme.example", name="Eve Example", job_title="Analyst")
    assert (made["login"], made["role"], made["job_title"]) == ("eve@acme.example", "user", "Analyst")
    found = await agent.ok("list_users", filter_term="eve")
    assert [u["id"] for u in found["entries"]] == [made["id"]]
    first = await agent.ok("list_users", limit=1)
    assert len(first["entries"]) == 1 and first["next_cursor"]
    second = await agent.ok("list_users", limit=1, cursor=first["next_cursor"])
    assert second["entries"][0]["id"] != first["entries"][0]["id"]
    by_offset = await agent.ok("list_users", limit=2, offset=1)
    assert by_offset["total_count"] >= 4 and by_offset["next_offset"] == 3
    outside = await agent.err("create_user", login="mallory@evil.example", name="Mallory")
    assert outside.startswith("Denied:"), outside
    again = await agent.err("create_user", login="eve@acme.example", name="Eve Again")
    assert "409" in again or "user_login_already_used" in again, again


# --- webhooks ----------------------------------------------------------------------------------------


async def test_webhooks_are_made_listed_and_deleted_by_the_item_they_watch(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            READ_ENGINEERING,
            f"{{id: hooks, effect: permit, agents: boxed, toolsets: [webhooks], access: write, "
            f"within: ['{ENGINEERING}']}}",
        )
    )
    design, salaries = world.file("Engineering/design.md"), world.file("HR/salaries.csv")
    theirs = await world.box.post(
        "/webhooks",
        json={"target": {"type": "file", "id": salaries}, "address": HOOK, "triggers": ["FILE.TRASHED"]},
    )
    agent = await connect(world, "boxed")
    made = await agent.ok(
        "create_webhook", target_type="file", target_id=design, address=HOOK, triggers=["FILE.TRASHED"]
    )
    assert made["target"] == {"type": "file", "id": design} and made["triggers"] == ["FILE.TRASHED"]
    on_folder = await agent.ok(
        "create_webhook",
        target_type="folder",
        target_id=ENGINEERING,
        address=HOOK,
        triggers=["FOLDER.TRASHED"],
    )
    outside = await agent.err(
        "create_webhook",
        target_type="file",
        target_id=salaries,
        address=HOOK + "2",
        triggers=["FILE.TRASHED"],
    )
    assert outside.startswith(f"Denied: file {salaries} is not available to boxed"), outside
    listed = await agent.ok("list_webhooks")
    assert [w["id"] for w in listed["entries"]] == [made["id"], on_folder["id"]]  # never the HR one
    one = await agent.ok("list_webhooks", limit=1)
    assert [w["id"] for w in one["entries"]] == [made["id"]]
    rest = await agent.ok("list_webhooks", limit=1, cursor=one["next_cursor"])
    assert [w["id"] for w in rest["entries"]] == [on_folder["id"]]
    hidden = await agent.err("delete_webhook", webhook_id=str(theirs["id"]))
    assert hidden.startswith(f"Denied: webhook {theirs['id']} is not available to boxed"), hidden
    assert (await agent.ok("delete_webhook", webhook_id=made["id"]))["deleted"] is True
    assert "Denied" in await agent.err("delete_webhook", webhook_id="999999")  # none: same answer
    kept = await world.box.get(f"/webhooks/{theirs['id']}")
    assert kept["id"] == theirs["id"]


async def test_deleting_a_webhook_needs_write_on_its_target(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            READ_ENGINEERING,
            "{id: hooks, effect: permit, agents: boxed, tools: [create_webhook, delete_webhook], "
            f"access: write, within: ['{HR}']}}",
        )
    )
    design = world.file("Engineering/design.md")
    agent = await connect(world, "boxed")
    made = await agent.ok(
        "create_webhook", target_type="file", target_id=design, address=HOOK, triggers=["FILE.TRASHED"]
    )
    denied = await agent.err("delete_webhook", webhook_id=made["id"])
    assert denied.startswith("Denied:") and "write" in denied, denied


async def test_a_webhook_address_must_be_https_and_triggers_boxs_own(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(_policy(tmp_path, "{id: all, effect: permit, agents: boxed, access: write}"))
    design = world.file("Engineering/design.md")
    agent = await connect(world, "boxed")
    base = {"target_type": "file", "target_id": design, "triggers": ["FILE.TRASHED"]}
    before = len(world.requests)
    for address, why in (
        ("http://hooks.example.com/box", "https://"),
        ("https://user:pw@hooks.example.com/box", "user name or password"),
        ("https://hooks/box", "full host name"),
        ("https://hooks.example.com:99999/x", "port"),
    ):
        text = await agent.err("create_webhook", **base, address=address)
        assert "Invalid arguments for create_webhook" in text and why in text, text
    text = await agent.err("create_webhook", **{**base, "triggers": ["FILE.EXPLODED"]}, address=HOOK)
    assert "triggers.0" in text, text
    text = await agent.err("create_webhook", **{**base, "triggers": []}, address=HOOK)
    assert "triggers" in text, text
    assert len(world.requests) == before  # nothing reached Box


# --- recent items ------------------------------------------------------------------------------------


async def test_recent_items_show_only_what_the_grant_covers(make_world, connect, tmp_path: Path) -> None:
    world = make_world(_policy(tmp_path, READ_ENGINEERING))
    design, salaries = world.file("Engineering/design.md"), world.file("HR/salaries.csv")
    for file_id in (design, salaries):  # Ada (the agent's identity) comments on both
        await world.box.post("/comments", json={"item": {"type": "file", "id": file_id}, "message": "seen"})
    everything = await world.box.get("/recent_items", params={"limit": 1000})
    seen = [e["item"]["id"] for e in everything["entries"]]
    assert seen[:2] == [salaries, design]  # Box lists both, newest first
    agent = await connect(world, "boxed")
    shown = await agent.ok("list_recent_items", limit=1000)
    assert shown["entries"][0]["id"] == design and shown["entries"][0]["interaction_type"] == "item_comment"
    engineering = {world.file(p) for p in world.credentials["files"] if p.startswith("Engineering/")}
    assert {e["id"] for e in shown["entries"]} <= engineering | {ENGINEERING}
    assert salaries not in {e["id"] for e in shown["entries"]}
    first = await agent.ok("list_recent_items", limit=1)
    assert [e["id"] for e in first["entries"]] == [design]  # refilled past the HR file
