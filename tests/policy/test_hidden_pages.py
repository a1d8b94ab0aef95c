"""Counts, sizes, pages and account totals show a confined agent nothing of the items the policy hides.

Through the real gate and the emulator's demo seed. A folder Contracts/Pile holds 20 files doc-00 ..
doc-19; a forbid hides 15 of them (all but every fourth), so the visible ones sit between hidden ones
in both a listing (by name) and a search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from box_mcp.box.upload import upload_file
from tests.policy.conftest import gate_for

pytestmark = pytest.mark.anyio

CONTRACTS = "200000000001"
FILES = 20


def _is_visible(n: int) -> bool:
    return n % 4 == 3


async def _pile(make_world: Any, tmp_path: Path) -> tuple[Any, str, list[str], list[str]]:
    """A world whose policy confines `boxed` to Contracts and hides 15 of Pile's 20 files."""
    policy = tmp_path / "p.yaml"
    policy.write_text("agents: {boxed: {}}\nrules: []\n")
    w = make_world(policy)
    pile = await w.box.post("/folders", json={"name": "Pile", "parent": {"id": CONTRACTS}})
    ids = [
        str((await upload_file(w.box, parent_id=pile["id"], name=f"doc-{n:02d}.txt", source=b"pile"))["id"])
        for n in range(FILES)
    ]
    hidden = [i for n, i in enumerate(ids) if not _is_visible(n)]
    visible = [i for n, i in enumerate(ids) if _is_visible(n)]
    piled = ", ".join("file:" + i for i in hidden)
    policy.write_text(
        "agents: {boxed: {}, whole: {}}\nrules:\n"
        f"  - {{id: work, effect: permit, agents: boxed, access: write, within: ['{CONTRACTS}']}}\n"
        f"  - {{id: piled, effect: forbid, agents: boxed, items: [{piled}]}}\n"
        "  - {id: all, effect: permit, agents: whole, access: write}\n"
    )
    w.gate = gate_for(policy, w.box)
    return w, str(pile["id"]), visible, hidden


async def _pages(agent: Any, tool: str, cursor_field: str, arg: str, **args: Any) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    for _ in range(FILES + 1):  # bounded: one page per file at most
        page = await agent.ok(tool, **args)
        pages.append(page)
        if page.get(cursor_field) is None:
            return pages
        args[arg] = page[cursor_field]
    raise AssertionError(f"{tool} never reached its last page: {pages[-1]}")


async def test_a_folder_counts_only_what_a_confined_agent_can_see_and_hides_sizes_that_add_up_hidden_items(
    make_world, connect, tmp_path: Path
) -> None:
    w, pile, visible, _ = await _pile(make_world, tmp_path)
    boxed, whole = await connect(w, "boxed"), await connect(w, "whole")
    details = await boxed.ok("get_folder_details", folder_id=pile)
    assert details["item_count"] == len(visible) == 5
    assert "size" not in details  # its size adds up the hidden files too
    listed = await boxed.ok("list_folder_content_by_folder_id", folder_id=CONTRACTS)
    by_name = {e["name"]: e for e in listed["entries"]}
    # More hidden items than box-mcp locates one by one (hidden.MAX_PLACES): no folder size is shown.
    assert "size" not in by_name["Pile"] and "size" not in by_name["Archive"]
    hit = (await boxed.ok("search_folders_by_name", query="Pile"))["entries"]
    assert [h["id"] for h in hit] == [pile] and "size" not in hit[0]
    renamed = await boxed.ok("update_folder_properties", folder_id=pile, description="a pile")
    assert "size" not in renamed  # a write's answer is confined as a read's is
    # An agent that may see everything still gets Box's own figures.
    seen = await whole.ok("get_folder_details", folder_id=pile)
    assert seen["item_count"] == FILES and seen["size"] == 4 * FILES


async def test_a_confined_listing_is_full_on_every_page_but_the_last(
    make_world, connect, tmp_path: Path
) -> None:
    w, pile, visible, _ = await _pile(make_world, tmp_path)
    boxed = await connect(w, "boxed")
    listing = "list_folder_content_by_folder_id"
    pages = await _pages(boxed, listing, "next_cursor", "cursor", folder_id=pile, limit=2)
    assert [len(p["entries"]) for p in pages] == [2, 2, 1]
    assert [e["id"] for p in pages for e in p["entries"]] == visible


async def test_a_confined_search_is_full_on_every_page_and_counts_only_what_it_shows(
    make_world, connect, tmp_path: Path
) -> None:
    w, _, visible, _ = await _pile(make_world, tmp_path)
    boxed = await connect(w, "boxed")
    pages = await _pages(boxed, "search_files_keyword", "next_offset", "offset", query="pile", limit=2)
    assert [len(p["entries"]) for p in pages] == [2, 2, 1]
    assert sorted(e["id"] for p in pages for e in p["entries"]) == sorted(visible)
    # A page that did not read to Box's last hit cannot know the total; one that read them all can.
    assert [p.get("total_count") for p in pages] == [None, None, None]
    everything = await boxed.ok("search_files_keyword", query="pile", limit=10)
    assert everything["total_count"] == 5 and len(everything["entries"]) == 5
    assert "next_offset" not in everything


async def test_an_unconfined_search_pages_by_boxs_offsets_and_keeps_boxs_total(
    make_world, connect, tmp_path: Path
) -> None:
    w, _, _, _ = await _pile(make_world, tmp_path)
    whole = await connect(w, "whole")
    first = await whole.ok("search_files_keyword", query="pile", limit=8)
    assert (first["total_count"], first["next_offset"], len(first["entries"])) == (FILES, 8, 8)
    last = await whole.ok("search_files_keyword", query="pile", limit=8, offset=16)
    assert len(last["entries"]) == 4 and "next_offset" not in last


async def test_who_am_i_hides_the_accounts_storage_from_an_agent_the_policy_confines(
    make_world, connect, tmp_path: Path
) -> None:
    w, _, _, _ = await _pile(make_world, tmp_path)
    me = await (await connect(w, "boxed")).ok("who_am_i")
    assert "space_used" not in me and "space_amount" not in me
    assert me["login"] == "ada@acme.example" and me["role"] == "admin"
    full = await (await connect(w, "whole")).ok("who_am_i")
    assert full["space_used"] > 0 and full["space_amount"] > 0


async def test_a_folder_shows_its_size_when_nothing_hidden_lies_below_it(
    make_world, connect, tmp_path: Path
) -> None:
    inbox, archive = "200000000002", "200000000003"
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "agents: {boxed: {}}\nrules:\n"
        f"  - {{id: work, effect: permit, agents: boxed, access: read, within: ['{CONTRACTS}']}}\n"
        f"  - {{id: drafts, effect: forbid, agents: boxed, within: ['{inbox}']}}\n"
    )
    boxed = await connect(make_world(policy), "boxed")
    contracts = await boxed.ok("get_folder_details", folder_id=CONTRACTS)
    assert contracts["item_count"] == 3 and "size" not in contracts  # Inbox is hidden inside
    listed = await boxed.ok("list_folder_content_by_folder_id", folder_id=CONTRACTS)
    assert [(e["name"], e.get("size")) for e in listed["entries"]] == [
        ("Archive", 0),
        ("MSA-Globex.pdf", 418),
        ("NDA-Initech.pdf", 400),
    ]
    assert (await boxed.ok("get_folder_details", folder_id=archive))["size"] == 0
