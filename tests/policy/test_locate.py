"""The item locator: Box bodies to ancestry, names and logins; one cache per lookup identity, single
flight, bounded LRU, aging, invalidation, and what a created item teaches it."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from box_mcp.access import ItemRef
from box_mcp.box.errors import BoxAPIError
from box_mcp.errors import AncestryError, BoxMCPError, LocateError
from box_mcp.policy.locate import NO_LOOKUP, Locator, ancestry_from_json

pytestmark = pytest.mark.anyio

# A tiny Box: folder 0 > 10 > 20, file 5 ("plan.pdf") in 20, collaboration 77 on folder 20, user 9.
PARENT = {"10": "0", "20": "10", "30": "0"}
FILE, FOLDER30, COLLAB = ItemRef("file", "5"), ItemRef("folder", "30"), ItemRef("collaboration", "77")


def path_of(folder: str) -> list[dict[str, str]]:
    chain = []
    while folder != "0":
        folder = PARENT[folder]
        chain.append(folder)
    return [{"type": "folder", "id": f} for f in reversed(chain)]


class FakeBox:
    """The part of BoxClient the locator uses, recording each GET (path and fields)."""

    def __init__(self) -> None:
        self.file_parent = {"5": "20"}
        self.calls: list[tuple[str, str]] = []
        self.gate: anyio.Event | None = None

    async def get(self, path: str, *, params: dict[str, str]) -> dict[str, Any]:
        self.calls.append((path, params["fields"]))
        if self.gate is not None:
            await self.gate.wait()
        kind, item_id = path.strip("/").split("/")
        if kind == "collaborations":
            return {"type": "collaboration", "id": item_id, "item": {"type": "folder", "id": "20"}}
        if kind == "users":
            if item_id != "9":
                raise BoxAPIError(404, "not_found", "Not Found", "rid-404")
            return {"type": "user", "id": item_id, "login": "carol@acme.example"}
        if kind == "folders":
            return {
                "type": "folder",
                "id": item_id,
                "name": f"f{item_id}",
                "path_collection": {"entries": path_of(item_id)},
            }
        if item_id not in self.file_parent:
            raise BoxAPIError(404, "not_found", "Not Found", "rid-404")
        parent = self.file_parent[item_id]
        return {
            "type": "file",
            "id": item_id,
            "name": "plan.pdf",
            "path_collection": {"entries": [*path_of(parent), {"id": parent}]},
        }

    def asked(self, path: str) -> int:
        return sum(1 for p, _ in self.calls if p == path)


def locator(box: FakeBox, **kw: Any) -> Locator:
    async def lookup(agent: str, person: Any = None) -> Any:
        return box

    return Locator(lookup, **kw)


def test_ancestry_of_folder_ends_with_itself_and_file_with_its_parent() -> None:
    body = {"path_collection": {"entries": [{"id": "0"}, {"id": "10"}]}}
    assert ancestry_from_json(ItemRef("folder", "20"), body) == ("0", "10", "20")
    assert ancestry_from_json(FILE, body) == ("0", "10")
    assert ancestry_from_json(ItemRef("folder", "0"), {}) == ("0",)
    with pytest.raises(AncestryError, match="Box's answer has no path_collection"):
        ancestry_from_json(FILE, {"id": "5"})


def test_lookup_failures_are_box_mcp_errors() -> None:
    assert issubclass(LocateError, BoxMCPError) and issubclass(AncestryError, LocateError)


async def test_one_get_gives_ancestry_and_name_and_collaborations_resolve_to_their_item() -> None:
    box = FakeBox()
    r = locator(box)
    assert await r.ancestry("a", FILE) == ("0", "10", "20")
    assert await r.name("a", FILE) == "plan.pdf"
    assert await r.ancestry("a", COLLAB) == ("0", "10", "20")
    assert await r.collaboration_item("a", COLLAB) == ItemRef("folder", "20")
    assert box.calls == [
        ("/files/5", "name,path_collection"),
        ("/collaborations/77", "item"),
        ("/folders/20", "name,path_collection"),
    ]
    assert r.fetches == 3


async def test_each_lookup_identity_has_its_own_entries() -> None:
    box = FakeBox()
    r = locator(box)
    await r.ancestry("a", FILE)
    await r.ancestry("b", FILE)
    assert box.asked("/files/5") == 2


async def test_a_users_login_is_looked_up_and_a_missing_user_carries_boxs_answer() -> None:
    box = FakeBox()
    r = locator(box)
    assert await r.login("a", "9") == "carol@acme.example"
    with pytest.raises(LocateError) as info:
        await r.login("a", "1")
    assert info.value.missing and info.value.code == "not_found" and info.value.request_id == "rid-404"
    assert str(info.value) == "Box has no user 1 that a's identity can see"


async def test_without_a_lookup_identity_every_lookup_fails_closed() -> None:
    r = Locator(None)
    for look in (r.ancestry("a", FILE), r.name("a", FILE), r.login("a", "9"), r.client("a")):
        with pytest.raises(LocateError) as info:
            await look
        assert str(info.value) == NO_LOOKUP and info.value.status is None


async def test_concurrent_lookups_of_one_item_make_one_request() -> None:
    box = FakeBox()
    box.gate = anyio.Event()
    r = locator(box)
    results: list[tuple[str, ...]] = []

    async def look() -> None:
        results.append(await r.ancestry("a", FILE))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(look)
            await anyio.wait_all_tasks_blocked()
            box.gate.set()
    assert results == [("0", "10", "20")] * 5
    assert box.calls == [("/files/5", "name,path_collection")]


async def test_failed_lookup_reaches_every_waiter_and_is_not_cached() -> None:
    box = FakeBox()
    r = locator(box)
    with pytest.raises(LocateError) as info:
        await r.ancestry("a", ItemRef("file", "404"))
    assert info.value.missing and info.value.status == 404
    box.file_parent["404"] = "30"
    assert await r.ancestry("a", ItemRef("file", "404")) == ("0", "30")


async def test_cache_is_bounded_least_recently_used_first() -> None:
    box = FakeBox()
    box.file_parent.update({str(i): "30" for i in range(100, 110)})
    r = locator(box, max_entries=3)
    for i in range(100, 104):
        await r.ancestry("a", ItemRef("file", str(i)))
    assert len(r) == 3
    box.calls.clear()
    await r.ancestry("a", ItemRef("file", "100"))  # evicted first
    assert box.calls == [("/files/100", "name,path_collection")]


async def test_invalidate_subtree_forgets_moved_items_for_every_identity() -> None:
    box = FakeBox()
    r = locator(box)
    for agent in ("a", "b"):
        await r.ancestry(agent, FILE)
    await r.ancestry("a", FOLDER30)
    PARENT["20"] = "30"  # folder 20 moves under 30: box-mcp tells the locator.
    try:
        r.invalidate_subtree("20")
        assert await r.ancestry("a", FILE) == ("0", "30", "20")
        assert await r.ancestry("b", FILE) == ("0", "30", "20")
        assert box.asked("/folders/30") == 1  # outside the subtree: still cached
    finally:
        PARENT["20"] = "10"


async def test_invalidating_an_item_makes_its_collaborations_look_it_up_again() -> None:
    box = FakeBox()
    r = locator(box)
    await r.ancestry("a", COLLAB)
    r.invalidate(ItemRef("folder", "20"))
    box.calls.clear()
    assert await r.ancestry("a", COLLAB) == ("0", "10", "20")
    assert box.calls == [("/folders/20", "name,path_collection")]  # the collaboration's item never changes


async def test_lookup_racing_an_invalidation_is_not_cached() -> None:
    box = FakeBox()
    box.gate = anyio.Event()
    r = locator(box)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(r.ancestry, "a", FILE)
            await anyio.wait_all_tasks_blocked()
            r.invalidate(FILE)
            box.gate.set()
    assert len(r) == 0


async def test_entries_age_out_so_moves_made_outside_box_mcp_are_seen() -> None:
    box = FakeBox()
    now = [0.0]
    r = locator(box, max_age=60, clock=lambda: now[0])
    await r.ancestry("a", FILE)
    box.file_parent["5"] = "30"  # someone moved it in the Box web app
    now[0] = 59.0
    assert await r.ancestry("a", FILE) == ("0", "10", "20")
    now[0] = 60.0
    assert await r.ancestry("a", FILE) == ("0", "30")
    assert box.asked("/files/5") == 2


async def test_the_root_folder_needs_no_request() -> None:
    box = FakeBox()
    r = locator(box)
    assert await r.ancestry("a", ItemRef("folder", "0")) == ("0",)
    assert box.calls == []


async def test_a_created_item_is_placed_from_its_cached_parent_and_ages_out_with_it() -> None:
    box = FakeBox()
    now = [0.0]
    r = locator(box, max_age=60, clock=lambda: now[0])
    await r.ancestry("a", ItemRef("folder", "20"))
    now[0] = 50.0
    r.learn("a", ItemRef("file", "6"), "new.pdf", "20")
    r.learn("a", ItemRef("folder", "21"), "sub", "20")
    assert await r.ancestry("a", ItemRef("file", "6")) == ("0", "10", "20")
    assert await r.name("a", ItemRef("file", "6")) == "new.pdf"
    assert await r.ancestry("a", ItemRef("folder", "21")) == ("0", "10", "20", "21")
    assert box.calls == [("/folders/20", "name,path_collection")]
    now[0] = 60.0  # the parent's entry was stored at 0: what was learnt from it is as old
    box.file_parent["6"] = "20"
    await r.ancestry("a", ItemRef("file", "6"))
    assert box.asked("/files/6") == 1


async def test_an_uncached_parent_or_another_identity_learns_nothing() -> None:
    box = FakeBox()
    r = locator(box)
    await r.ancestry("a", ItemRef("folder", "20"))
    r.learn("a", ItemRef("file", "6"), "x", "30")  # folder 30 was never looked up
    r.learn("b", ItemRef("file", "7"), "y", "20")  # b never looked up folder 20
    assert len(r) == 1
