"""Ancestry resolution: Box path_collection to folder ids, bounded LRU cache, single flight, invalidation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import pytest

from box_mcp.access import ItemRef
from box_mcp.policy.resolve import AncestryError, AncestryResolver, ancestry_from_json

# A tiny Box: folder 0 > 10 > 20, file 5 in 20, collaboration 77 on folder 20.
PARENT = {"10": "0", "20": "10", "30": "0"}


def path_of(folder: str) -> list[dict[str, str]]:
    chain = []
    while folder != "0":
        folder = PARENT[folder]
        chain.append(folder)
    return [{"type": "folder", "id": f} for f in reversed(chain)]


class FakeBox:
    def __init__(self) -> None:
        self.file_parent = {"5": "20"}
        self.calls: list[ItemRef] = []
        self.gate: anyio.Event | None = None

    async def fetch(self, item: ItemRef) -> Mapping[str, Any]:
        self.calls.append(item)
        if self.gate is not None:
            await self.gate.wait()
        if item.type == "collaboration":
            return {"type": "collaboration", "id": item.id, "item": {"type": "folder", "id": "20"}}
        if item.type == "folder":
            return {"type": "folder", "id": item.id, "path_collection": {"entries": path_of(item.id)}}
        parent = self.file_parent[item.id]
        return {
            "type": "file",
            "id": item.id,
            "path_collection": {"entries": [*path_of(parent), {"id": parent}]},
        }


def test_ancestry_of_folder_ends_with_itself_and_file_with_its_parent():
    body = {"path_collection": {"entries": [{"id": "0"}, {"id": "10"}]}}
    assert ancestry_from_json(ItemRef("folder", "20"), body) == ("0", "10", "20")
    assert ancestry_from_json(ItemRef("file", "5"), body) == ("0", "10")
    assert ancestry_from_json(ItemRef("folder", "0"), {}) == ("0",)
    with pytest.raises(AncestryError):
        ancestry_from_json(ItemRef("file", "5"), {"id": "5"})


@pytest.mark.anyio
async def test_resolver_caches_and_resolves_collaborations_to_their_item():
    box = FakeBox()
    r = AncestryResolver(box.fetch)
    assert await r.ancestry(ItemRef("file", "5")) == ("0", "10", "20")
    assert await r.ancestry(ItemRef("file", "5")) == ("0", "10", "20")
    assert await r.ancestry(ItemRef("collaboration", "77")) == ("0", "10", "20")
    assert box.calls.count(ItemRef("file", "5")) == 1
    both = await r.resolve([ItemRef("file", "5"), ItemRef("folder", "30")])
    assert both == {ItemRef("file", "5"): ("0", "10", "20"), ItemRef("folder", "30"): ("0", "30")}


@pytest.mark.anyio
async def test_concurrent_lookups_of_one_item_make_one_request():
    box = FakeBox()
    box.gate = anyio.Event()
    r = AncestryResolver(box.fetch)
    results: list[tuple[str, ...]] = []

    async def look() -> None:
        results.append(await r.ancestry(ItemRef("file", "5")))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(look)
            await anyio.wait_all_tasks_blocked()
            box.gate.set()
    assert results == [("0", "10", "20")] * 5
    assert box.calls == [ItemRef("file", "5")]


@pytest.mark.anyio
async def test_failed_lookup_reaches_every_waiter_and_is_not_cached():
    box = FakeBox()
    r = AncestryResolver(box.fetch)
    with pytest.raises(KeyError):
        await r.ancestry(ItemRef("file", "404"))
    box.file_parent["404"] = "30"
    assert await r.ancestry(ItemRef("file", "404")) == ("0", "30")


@pytest.mark.anyio
async def test_cache_is_bounded_least_recently_used_first():
    box = FakeBox()
    box.file_parent.update({str(i): "30" for i in range(100, 110)})
    r = AncestryResolver(box.fetch, max_entries=3)
    for i in range(100, 104):
        await r.ancestry(ItemRef("file", str(i)))
    assert len(r) == 3
    box.calls.clear()
    await r.ancestry(ItemRef("file", "100"))  # evicted first
    assert box.calls == [ItemRef("file", "100")]


@pytest.mark.anyio
async def test_invalidate_subtree_forgets_moved_items():
    box = FakeBox()
    r = AncestryResolver(box.fetch)
    await r.ancestry(ItemRef("file", "5"))
    await r.ancestry(ItemRef("folder", "30"))
    # folder 20 moves under 30: box-mcp tells the resolver.
    PARENT["20"] = "30"
    try:
        r.invalidate_subtree("20")
        assert await r.ancestry(ItemRef("file", "5")) == ("0", "30", "20")
        assert box.calls.count(ItemRef("folder", "30")) == 1  # outside the subtree: still cached
    finally:
        PARENT["20"] = "10"


@pytest.mark.anyio
async def test_invalidate_item_also_forgets_collaborations_on_it():
    box = FakeBox()
    r = AncestryResolver(box.fetch)
    await r.ancestry(ItemRef("collaboration", "77"))
    r.invalidate(ItemRef("folder", "20"))
    box.calls.clear()
    await r.ancestry(ItemRef("collaboration", "77"))
    assert ItemRef("collaboration", "77") in box.calls


@pytest.mark.anyio
async def test_lookup_racing_an_invalidation_is_not_cached():
    box = FakeBox()
    box.gate = anyio.Event()
    r = AncestryResolver(box.fetch)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(r.ancestry, ItemRef("file", "5"))
            await anyio.wait_all_tasks_blocked()
            r.invalidate(ItemRef("file", "5"))
            box.gate.set()
    assert len(r) == 0


@pytest.mark.anyio
async def test_entries_age_out_so_moves_made_outside_box_mcp_are_seen():
    box = FakeBox()
    now = [0.0]
    r = AncestryResolver(box.fetch, max_age=60, clock=lambda: now[0])
    await r.ancestry(ItemRef("file", "5"))
    assert r.cached(ItemRef("file", "5")) == ("0", "10", "20")
    box.file_parent["5"] = "30"  # someone moved it in the Box web app
    now[0] = 59.0
    assert await r.ancestry(ItemRef("file", "5")) == ("0", "10", "20")
    now[0] = 60.0
    assert r.cached(ItemRef("file", "5")) is None
    assert await r.ancestry(ItemRef("file", "5")) == ("0", "30")


@pytest.mark.anyio
async def test_the_root_folder_needs_no_request():
    box = FakeBox()
    r = AncestryResolver(box.fetch)
    assert await r.ancestry(ItemRef("folder", "0")) == ("0",)
    assert box.calls == []
