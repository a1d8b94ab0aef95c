"""Hubs and Doc Gen under the policy, through the real gate and the in-process emulator (demo seed):
a hub is the resource `hub:<id>`, outside the folder tree; adding an item to a hub needs read on the item and
write on the hub; creating a hub needs a grant of the tool itself; listings show only what the grant names;
a Doc Gen batch reads its template and writes into its destination folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from box_mcp.access import ItemRef
from box_mcp.errors import PolicyError
from box_mcp.policy.model import policy_from_text

pytestmark = pytest.mark.anyio

V2025 = {"box-version": "2025.0"}
# The emulator numbers hubs from 1000001 in creation order: policies are written before the hubs exist.
FIRST, SECOND = "1000001", "1000002"
FINANCE, HR, ENGINEERING, MARKETING = "200000000004", "200000000005", "200000000007", "200000000008"


def _policy(tmp_path: Path, *rules: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text("agents:\n  boxed: {}\nrules:\n" + "".join(f"  - {r}\n" for r in rules))
    return path


async def _hub(world: Any, expected: str, title: str, *items: tuple[str, str]) -> str:
    hub = await world.box.post("/hubs", json={"title": title}, headers=V2025)
    assert hub["id"] == expected
    if items:
        ops = [{"action": "add", "item": {"type": t, "id": i}} for t, i in items]
        await world.box.post(f"/hubs/{hub['id']}/manage_items", json={"operations": ops}, headers=V2025)
    return str(hub["id"])


def test_a_policy_names_a_hub_as_hub_colon_id() -> None:
    policy = policy_from_text(
        "agents: {boxed: {}}\nrules:\n"
        "  - {id: h, effect: permit, agents: boxed, access: read, items: ['hub:12']}\n"
    )
    assert policy.rules[0].items == (ItemRef("hub", "12"),)
    with pytest.raises(PolicyError, match="'hub:321'"):
        policy_from_text(
            "agents: {boxed: {}}\nrules:\n  - {id: h, effect: permit, agents: boxed, access: read, "
            "items: ['hub:x']}\n"
        )


async def test_a_hub_grant_reads_that_hub_only_and_lists_only_it(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: hub, effect: permit, agents: boxed, toolsets: [hubs], access: read, "
            f"items: ['hub:{FIRST}']}}",
        )
    )
    await _hub(world, FIRST, "Granted hub", ("file", world.file("Engineering/design.md")))
    await _hub(world, SECOND, "Other hub")
    agent = await connect(world, "boxed")
    assert (await agent.ok("get_hub_details", hub_id=FIRST))["title"] == "Granted hub"
    denied = await agent.err("get_hub_details", hub_id=SECOND)
    assert denied.startswith(f"Denied: hub {SECOND} is not available to boxed"), denied
    assert [h["id"] for h in (await agent.ok("list_hubs"))["entries"]] == [FIRST]
    assert [h["id"] for h in (await agent.ok("list_hubs", limit=1))["entries"]] == [FIRST]  # refilled
    # write on the hub is not granted (read), and a new hub needs a grant of create_hub itself
    assert "Denied" in await agent.err("update_hub", hub_id=FIRST, title="Renamed")
    assert "Denied" in await agent.err("create_hub", title="New")
    assert "Denied" in await agent.err("copy_hub", hub_id=FIRST)


async def test_within_a_folder_never_covers_a_hub(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path, f"{{id: eng, effect: permit, agents: boxed, access: admin, within: ['{ENGINEERING}']}}"
        )
    )
    await _hub(world, FIRST, "Hub")
    agent = await connect(world, "boxed")
    assert "Denied" in await agent.err("get_hub_details", hub_id=FIRST)
    assert (await agent.ok("list_hubs"))["entries"] == []
    assert "Denied" in await agent.err("create_hub", title="Mine")


async def test_a_folder_forbid_does_not_reach_a_granted_hub(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: all, effect: permit, agents: boxed, access: write}",
            f"{{id: no-hr, effect: forbid, agents: boxed, within: ['{HR}']}}",
            f"{{id: no-hub, effect: forbid, agents: boxed, access: write, items: ['hub:{SECOND}']}}",
        )
    )
    await _hub(world, FIRST, "Open hub")
    await _hub(world, SECOND, "Frozen hub")
    agent = await connect(world, "boxed")
    assert (await agent.ok("update_hub", hub_id=FIRST, is_ai_enabled=False))["is_ai_enabled"] is False
    assert "no-hub" in await agent.err("update_hub", hub_id=SECOND, title="Thawed")
    assert (await agent.ok("get_hub_details", hub_id=SECOND))["title"] == "Frozen hub"  # reading stays open
    hr_file = world.file("HR/salaries.csv")
    denied = await agent.err("add_items_to_hub", hub_id=FIRST, items=[{"type": "file", "id": hr_file}])
    assert "Denied" in denied  # the forbid on HR bears on the item added


async def test_adding_items_needs_write_on_the_hub_and_read_on_each_item(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: hub, effect: permit, agents: boxed, access: write, items: ['hub:{FIRST}']}}",
            f"{{id: eng, effect: permit, agents: boxed, access: read, within: ['{ENGINEERING}']}}",
        )
    )
    await _hub(world, FIRST, "Team hub")
    await _hub(world, SECOND, "Not granted")
    agent = await connect(world, "boxed")
    inside = world.file("Engineering/design.md")
    added = await agent.ok("add_items_to_hub", hub_id=FIRST, items=[{"type": "file", "id": inside}])
    assert added["added"] == 1
    outside = world.file("HR/salaries.csv")
    both = [{"type": "file", "id": inside}, {"type": "file", "id": outside}]
    assert f"file {outside}" in await agent.err("add_items_to_hub", hub_id=FIRST, items=both)
    one = [{"type": "file", "id": inside}]
    assert f"hub {SECOND}" in await agent.err("add_items_to_hub", hub_id=SECOND, items=one)
    items = await agent.ok("get_hub_items", hub_id=FIRST)
    assert [e["id"] for e in items["entries"]] == [inside]


async def test_a_hubs_items_show_only_what_the_agent_could_read(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: hub, effect: permit, agents: boxed, access: read, items: ['hub:{FIRST}']}}",
            f"{{id: eng, effect: permit, agents: boxed, access: read, within: ['{ENGINEERING}']}}",
        )
    )
    inside, outside = world.file("Engineering/design.md"), world.file("HR/salaries.csv")
    await _hub(world, FIRST, "Mixed", ("file", outside), ("file", inside), ("folder", HR))
    agent = await connect(world, "boxed")
    first = await agent.ok("get_hub_items", hub_id=FIRST, limit=1)
    assert [e["id"] for e in first["entries"]] == [inside]  # refilled past the hidden HR file
    rest = await agent.ok("get_hub_items", hub_id=FIRST, limit=1, cursor=first["next_cursor"])
    assert rest["entries"] == [] and "next_cursor" not in rest  # the HR folder is hidden too


async def test_create_and_copy_need_a_grant_of_the_tool(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: make, effect: permit, agents: boxed, tools: [create_hub, copy_hub]}",
            f"{{id: read, effect: permit, agents: boxed, access: read, items: ['hub:{FIRST}']}}",
        )
    )
    await _hub(world, FIRST, "Source")
    agent = await connect(world, "boxed")
    made = await agent.ok("create_hub", title="Made by the agent")
    assert made["created_by"]["login"] == "ada@acme.example" and made["id"] == SECOND
    copied = await agent.ok("copy_hub", hub_id=FIRST, title="Copied")
    assert copied["id"] not in (FIRST, SECOND)


async def test_a_docgen_batch_reads_its_template_and_writes_into_its_destination(
    make_world, connect, tmp_path: Path
) -> None:
    world = make_world(
        _policy(
            tmp_path,
            f"{{id: tpl, effect: permit, agents: boxed, access: read, within: ['{FINANCE}']}}",
            f"{{id: out, effect: permit, agents: boxed, access: write, within: ['{MARKETING}'], "
            "when: {name_patterns: ['invoice-*']}}",
        )
    )
    templates = {}
    for folder, name in ((FINANCE, "invoice.txt"), (HR, "offer.txt")):
        up = await world.box.upload(parent_id=folder, name=name, source=b"Hello {{name}}")
        await world.box.post("/docgen_templates", json={"file": {"id": up["id"]}}, headers=V2025)
        templates[name] = up["id"]
    agent = await connect(world, "boxed")
    listed = await agent.ok("list_docgen_templates")
    assert [t["id"] for t in listed["entries"]] == [templates["invoice.txt"]]  # HR's template is hidden
    details = await agent.ok("get_docgen_template_by_id", template_id=templates["invoice.txt"])
    assert [t["json_paths"] for t in details["tags"]] == [["name"]]
    batch = {"template_id": templates["invoice.txt"], "user_input": {"name": "Globex"}}
    made = await agent.ok(
        "create_docgen_batch", **batch, destination_folder_id=MARKETING, generated_file_name="invoice-globex"
    )
    assert made["jobs"][0]["status"] == "completed"
    for denied in (
        {"destination_folder_id": FINANCE, "generated_file_name": "invoice-x"},  # read-only there
        {"destination_folder_id": HR, "generated_file_name": "invoice-x"},  # outside the grant
        {"destination_folder_id": MARKETING, "generated_file_name": "payroll"},  # the name rule
    ):
        assert "Denied" in await agent.err("create_docgen_batch", **batch, **denied), denied
    hidden = {**batch, "template_id": templates["offer.txt"]}
    text = await agent.err(
        "create_docgen_batch", **hidden, destination_folder_id=MARKETING, generated_file_name="invoice-y"
    )
    assert text.startswith(f"Denied: file {templates['offer.txt']} is not available to boxed"), text


async def test_name_rules_read_a_new_hubs_title(make_world, connect, tmp_path: Path) -> None:
    world = make_world(
        _policy(
            tmp_path,
            "{id: team, effect: permit, agents: boxed, tools: [create_hub], "
            "when: {name_patterns: ['team *']}}",
        )
    )
    agent = await connect(world, "boxed")
    assert (await agent.ok("create_hub", title="Team Sales"))["title"] == "Team Sales"
    denied = await agent.err("create_hub", title="Everyone")
    assert "create_hub creates 'Everyone' in enterprise hubs" in denied, denied
