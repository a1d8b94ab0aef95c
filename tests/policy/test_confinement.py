"""Confinement: random tool calls by an agent confined to one folder, through the real gate and the emulator.

Nothing outside the grant may change, and no outside name or id may reach the agent (not even the names
and ids of the folders above the grant root).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.anyio

STEPS = 60
SEEDS = (1, 2, 3)


def subtree_ids(store: Any, root: str) -> set[str]:
    rows = store.fetch_all("SELECT id, parent_id FROM items")  # trashed items keep their parent
    parent = {r["id"]: r["parent_id"] for r in rows}
    inside = set()
    for item in parent:
        node: str | None = item
        for _ in range(64):  # bounded walk up to the root
            if node is None or node == "0":
                break
            if node == root:
                inside.add(item)
                break
            node = parent.get(node)
    return inside


def outside_state(store: Any, root: str) -> dict[str, Any]:
    """Everything about items outside the grant that a call could change."""
    inside = subtree_ids(store, root)
    items = {
        r["id"]: tuple(r)
        for r in store.fetch_all(
            "SELECT id, type, name, parent_id, etag, status, shared_link, description "
            "FROM items WHERE id != '0'"
        )
        if r["id"] not in inside
    }
    collabs = sorted(
        tuple(r)
        for r in store.fetch_all("SELECT id, item_id, role, status FROM collaborations")
        if r["item_id"] in items
    )
    meta = sorted(
        tuple(r)
        for r in store.fetch_all("SELECT item_id, scope, template_key, data FROM metadata_instances")
        if r["item_id"] in items
    )
    return {"items": items, "collabs": collabs, "meta": meta}


def random_call(
    rng: random.Random, files: list[str], folders: list[str], collabs: list[str], root: str
) -> tuple[str, dict[str, Any]]:
    f, d = rng.choice(files), rng.choice(folders)
    name = f"n{rng.randrange(10_000)}" + rng.choice([".pdf", ".txt", ""])
    choices: list[tuple[str, dict[str, Any]]] = [
        ("get_file_details", {"file_id": f}),
        ("get_file_content", {"file_id": f}),
        ("list_file_versions", {"file_id": f}),
        ("get_folder_details", {"folder_id": d}),
        ("list_folder_content_by_folder_id", {"folder_id": rng.choice([*folders, "0"])}),
        ("create_folder", {"parent_folder_id": d, "name": name}),
        ("upload_file", {"parent_folder_id": d, "name": name, "content_text": "confined"}),
        ("copy_file", {"file_id": f, "destination_folder_id": d}),
        ("move_file", {"file_id": f, "destination_folder_id": d}),
        ("update_file_properties", {"file_id": f, "name": name}),
        ("update_file_properties", {"file_id": f, "parent_folder_id": d}),
        ("update_folder_properties", {"folder_id": d, "name": name}),
        ("copy_folder", {"folder_id": d, "destination_folder_id": rng.choice(folders)}),
        ("move_folder", {"folder_id": d, "destination_folder_id": rng.choice([*folders, "0"])}),
        ("delete_file", {"file_id": f}),
        (
            "search_files_keyword",
            {"query": rng.choice(["agreement", "budget", "salary", "handbook", "pdf", "n1"])},
        ),
        ("search_files_keyword", {"query": "a", "ancestor_folder_ids": [rng.choice(folders)]}),
        ("search_folders_by_name", {"query": rng.choice(["Inbox", "HR", "Finance", "n"])}),
        ("add_file_shared_link", {"file_id": f, "access": rng.choice(["open", "company", "collaborators"])}),
        ("add_folder_shared_link", {"folder_id": d, "access": "collaborators"}),
        ("get_shared_link", {"item_type": "file", "item_id": f}),
        (
            "create_collaboration",
            {
                "item_type": "folder",
                "item_id": d,
                "role": "viewer",
                "invitee_email": f"x{rng.randrange(99)}@acme.example",
            },
        ),
        ("list_item_collaborations", {"item_type": "folder", "item_id": d}),
        (
            "set_file_metadata",
            {"file_id": f, "scope": "global", "template_key": "properties", "values": {"k": "v"}},
        ),
        ("create_file_comment", {"file_id": f, "message": "confined comment"}),
        ("list_file_comments", {"file_id": f}),
    ]
    if collabs:
        c = rng.choice(collabs)
        choices += [
            ("update_collaboration", {"collaboration_id": c, "role": "editor"}),
            ("delete_collaboration", {"collaboration_id": c}),
        ]
    if d != root:
        choices.append(("delete_folder", {"folder_id": d, "recursive": True}))
    return rng.choice(choices)


async def red_team(
    agent: Any, store: Any, root: str, seed: int, grant: str, steps: int = STEPS
) -> tuple[int, int]:
    """`steps` random tool calls by `agent` (an AgentClient) on every item of the emulator `store`; each
    one is checked: nothing outside folder `root` changed, no outside id or name reached the agent.
    Returns (allowed, denied). tests/test_sandbox.py runs it against a generated sandbox stanza."""
    before = outside_state(store, root)
    outside_ids = set(before["items"]) | {c[0] for c in before["collabs"]}
    outside_names = {v[2] for v in before["items"].values()}
    leaks = [re.compile(rf"(?<![\d]){re.escape(i)}(?![\d])") for i in sorted(outside_ids)]
    files = [r["id"] for r in store.fetch_all("SELECT id FROM items WHERE type = 'file'")]
    folders = [r["id"] for r in store.fetch_all("SELECT id FROM items WHERE type = 'folder' AND id != '0'")]
    collabs = [r["id"] for r in store.fetch_all("SELECT id FROM collaborations")]

    rng = random.Random(seed)  # noqa: S311 - a reproducible call sequence
    allowed = denied = 0
    for step in range(steps):
        tool, args = random_call(rng, files, folders, collabs, root)
        result = await agent.client.call_tool(tool, args)
        text = result.content[0].text if result.content else ""
        seen = text + json.dumps(result.structured_content or {})
        given = json.dumps(args)
        where = f"seed {seed} step {step}: {tool} {given}"
        for pattern in leaks:
            for m in pattern.finditer(seen):
                assert m.group(0) in given, f"{where} leaked outside id {m.group(0)}: {seen[:500]}"
        for name in outside_names - {v for v in args.values() if isinstance(v, str)}:
            assert f'"{name}"' not in seen and f"/{name}" not in seen, f"{where} leaked name {name!r}"
        assert outside_state(store, root) == before, f"{where} changed something outside {grant}"
        if result.is_error:
            denied += text.startswith("Denied:")
        else:
            allowed += 1
            sc = result.structured_content or {}
            await _counts_only_what_it_sees(agent, tool, args, sc, where)
            new_id = sc.get("id")
            if isinstance(new_id, str) and tool in ("create_folder", "copy_folder"):
                folders.append(new_id)
            elif isinstance(new_id, str) and tool in ("upload_file", "copy_file"):
                files.append(new_id)
            elif isinstance(new_id, str) and tool == "create_collaboration":
                collabs.append(new_id)
    return allowed, denied


# The demo seed is deterministic: Contracts is folder 200000000001, Contracts/Inbox 200000000002.
ROOTS = {"Contracts": "200000000001", "Contracts/Inbox": "200000000002"}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("grant", sorted(ROOTS))
async def test_confined_agent_never_touches_or_sees_outside_its_subtree(
    grant, seed, make_world, connect, tmp_path: Path
):
    root = ROOTS[grant]
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agents:\n  boxed: {acts_as: {as_user: '30000000001'}}\n"
        f"rules:\n  - {{id: contracts, effect: permit, agents: boxed, access: admin, within: ['{root}']}}\n"
    )
    world = make_world(policy)
    assert world.folder(grant) == root
    store = world.app.state.emulator.store
    agent = await connect(world, "boxed")

    allowed, denied = await red_team(agent, store, root, seed, grant)
    assert allowed > 5 and denied > 5, (allowed, denied)
    me = await agent.ok("who_am_i")
    assert "space_used" not in me and "space_amount" not in me  # the account's totals count outside items


async def _counts_only_what_it_sees(
    agent: Any, tool: str, args: dict[str, Any], sc: dict[str, Any], where: str
) -> None:
    """A count the agent reads never exceeds what it can list: hidden items are not counted."""
    if tool == "list_folder_content_by_folder_id" and "next_cursor" not in sc:
        details = await agent.ok("get_folder_details", folder_id=args["folder_id"])
        assert details.get("item_count") == len(sc["entries"]), f"{where}: {details} vs {sc['entries']}"
    if tool.startswith("search_") and "total_count" in sc:
        assert sc["total_count"] == len(sc["entries"]) and "next_offset" not in sc, f"{where}: {sc}"
