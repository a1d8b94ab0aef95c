"""What results would reveal about items the policy hides, taken out: pages refilled past hidden entries,
folder counts of what the agent can see, sizes and account totals that add up hidden items dropped.

Which outputs come here is the tool spec's `output_kind` (policy/confine.py); the models' fields (entries,
next_cursor, next_offset, total_count, item_count, size) are read by name, so nothing here imports a tool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from box_mcp.access import ItemRef
from box_mcp.errors import BoxMCPError

if TYPE_CHECKING:
    from box_mcp.identity import Person
    from box_mcp.policy.engine import Engine

# Box requests one call may add to fill a page past hidden entries, or to count a folder's visible items.
# Past it the page is returned short (with its cursor): a bound on cost, and the rare case where a
# page is not full although more follows.
MAX_REFILLS = 10
MAX_COUNT_PAGES = 5  # of 1000 items each: a folder holding more has no item_count for a confined agent
# Rules hiding more folders and items than this are not located one by one (a Box lookup each, cached):
# a folder's items are then recounted and its size left out without asking where they sit.
MAX_PLACES = 8
SEARCH_MAX_OFFSET = 10_000  # Box refuses a search offset beyond this

# who_am_i, field by field, for an agent the policy hides items from. Kept: id, name, login (the identity
# its calls run as, shown on every item it creates anyway), role, status and enterprise_id (what that
# identity is, not what the account holds). Dropped: space_used adds up every item of the account, hidden
# ones too; space_amount is the account's quota, which says nothing about the grant and, with
# space_used gone, nothing an agent can act on (an upload too large for the quota still fails clearly).
ACCOUNT_TOTALS = ("space_used", "space_amount")

Visible = Callable[[Any], Awaitable[bool]]  # an entry -> may the agent see it
Rerun = Callable[[Any], Awaitable[Any]]  # the call's arguments for another page -> the tool's output
# an item -> its ancestry as the agent's identity sees it: () when Box finds no such item, None when unknown
Locate = Callable[[ItemRef], Awaitable[tuple[str, ...] | None]]
Places = dict[ItemRef, tuple[str, ...] | None] | None


@dataclass
class Sight:
    """What one agent may see through one tool's rules, and how to learn where things sit in Box."""

    engine: Engine
    agent: str
    tool: str
    locate: Locate
    client: Any | None = None  # the lookup identity's Box client: without one, no folder is recounted
    person: Person | None = None  # the signed-in person the call comes from (their rules apply)
    _places: Places = field(default=None, init=False, repr=False)
    _placed: bool = field(default=False, init=False, repr=False)

    def sees(self, ref: ItemRef, chain: tuple[str, ...]) -> bool:
        """`chain`: folder ids from "0" down to the item's parent (and to a folder itself)."""
        return self.engine.can_see(self.agent, self.tool, chain, ref, self.person)

    async def places(self) -> Places:
        """Where the folders and items that rules hide from reading sit (None: too many to ask).
        Asked once per call, and only when a folder's own grant leaves the question open."""
        if not self._placed:
            targets = self.engine.hiding_targets(self.agent, self.tool, self.person)
            self._places = None if len(targets) > MAX_PLACES else {t: await self.locate(t) for t in targets}
            self._placed = True
        return self._places

    async def subtree_may_hide(self, folder_id: str, chain: tuple[str, ...]) -> bool:
        """Whether anything at any depth below the folder may be hidden from the agent."""
        if not self.engine.covers_below(self.agent, self.tool, chain, self.person):
            return True  # reached through named items only: what lies below is not covered
        places = await self.places()
        return places is None or any(
            anc is None or folder_id in (anc[:-1] if t.type == "folder" else anc) for t, anc in places.items()
        )

    async def children_may_hide(self, folder_id: str, chain: tuple[str, ...]) -> bool:
        """Whether one of the folder's direct items may be hidden from the agent."""
        if not self.engine.covers_below(self.agent, self.tool, chain, self.person):
            return True
        places = await self.places()
        if places is None:
            return True
        return any(
            anc is None or (anc[-2:-1] if t.type == "folder" else anc[-1:]) == (folder_id,)
            for t, anc in places.items()
        )


async def conceal_entries(
    sight: Sight, output: Any, args: Any, base: tuple[str, ...] | None, rerun: Rerun | None
) -> Any:
    """A listing (entries of the folder at `base`) or search page (each hit's own ancestor_ids, base None)
    without hidden entries, refilled, and without the size of a folder that may hold hidden items."""

    def chain(e: Any) -> tuple[str, ...]:
        anc = tuple(str(a) for a in getattr(e, "ancestor_ids", ())) if base is None else base
        return (*anc, str(e.id)) if getattr(e, "type", None) == "folder" else anc

    async def visible(e: Any) -> bool:
        return sight.sees(ItemRef(str(e.type), str(e.id)), chain(e))

    if base is None and "next_cursor" not in type(output).model_fields:
        page = await fill_by_offset(output, args, visible, rerun)  # keyword search pages by offset
    else:
        page = await fill_by_cursor(output, args, visible, rerun)  # listings and metadata queries by cursor
    folders = [e for e in page.entries if e.type == "folder" and getattr(e, "size", None) is not None]
    if not folders:
        return page
    # A folder's size adds up everything below it: shown only when nothing below can be hidden.
    unsized = {e.id for e in folders if await sight.subtree_may_hide(str(e.id), chain(e))}
    if not unsized:
        return page
    entries = [e.model_copy(update={"size": None}) if e.id in unsized else e for e in page.entries]
    return page.model_copy(update={"entries": entries})


async def conceal_folder(sight: Sight, output: Any) -> Any:
    """A folder's details with item_count counting what the agent can list there, and without a size
    that may add up hidden items (the visible part would need a walk of the whole subtree)."""
    folder = ItemRef("folder", str(output.id))
    where = await sight.locate(folder)
    if not where:
        return without(output, ("size", "item_count"))
    chain: tuple[str, ...] = where
    update: dict[str, Any] = {}
    if output.size is not None and await sight.subtree_may_hide(folder.id, chain):
        update["size"] = None
    if output.item_count is not None and await sight.children_may_hide(folder.id, chain):

        async def visible(raw: Any) -> bool:
            ref = ItemRef(str(raw.get("type")), str(raw.get("id")))
            return sight.sees(ref, (*chain, ref.id) if ref.type == "folder" else chain)

        try:
            count = None if sight.client is None else await count_children(sight.client, folder.id, visible)
        except BoxMCPError:
            count = None
        update["item_count"] = count
    return output.model_copy(update=update) if update else output


async def _kept(entries: list[Any], visible: Visible) -> list[Any]:
    return [e for e in entries if await visible(e)]


async def fill_by_cursor(output: Any, args: Any, visible: Visible, rerun: Rerun | None) -> Any:
    """A marker-paged listing without hidden entries, refilled from the following pages until it holds
    `args.limit` entries or Box has no more. Each refill asks only for the entries still missing, so a
    page never overflows: a marker cannot resume in the middle of a page."""
    kept = await _kept(list(output.entries), visible)
    cursor = output.next_cursor
    refills = 0
    while rerun is not None and cursor and len(kept) < args.limit and refills < MAX_REFILLS:
        refills += 1
        try:
            page = await rerun(args.model_copy(update={"cursor": cursor, "limit": args.limit - len(kept)}))
        except BoxMCPError:
            break  # the page read so far stands; its cursor resumes where the refill stopped
        kept += await _kept(list(page.entries), visible)
        cursor = page.next_cursor
    return output.model_copy(update={"entries": kept, "next_cursor": cursor})


async def fill_by_offset(output: Any, args: Any, visible: Visible, rerun: Rerun | None) -> Any:
    """An offset-paged search without hidden entries, refilled from the following offsets until it holds
    `args.limit` hits or Box has no more. `next_offset` is the Box position after the last hit shown (the
    agent's next page starts there); `total_count` is the number of visible hits when this page read
    Box's results from the first to the last, and absent otherwise: counting them would mean reading
    every page."""
    kept: list[Any] = []
    page, start, refills = output, args.offset, 0
    while True:
        entries = list(page.entries)
        for i, entry in enumerate(entries):
            if await visible(entry):
                kept.append(entry)
                if len(kept) == args.limit:
                    more = i + 1 < len(entries) or page.next_offset is not None
                    return _offset_page(output, args, kept, start + i + 1 if more else None)
        following = page.next_offset
        if following is None or following > SEARCH_MAX_OFFSET:
            return _offset_page(output, args, kept, None)  # Box has no more: the last page
        if rerun is None or refills >= MAX_REFILLS:
            return _offset_page(output, args, kept, following)  # short, and says where to go on
        refills += 1
        try:
            page, start = await rerun(args.model_copy(update={"offset": following})), following
        except BoxMCPError:
            return _offset_page(output, args, kept, following)


def _offset_page(output: Any, args: Any, kept: list[Any], following: int | None) -> Any:
    if following is not None and following > SEARCH_MAX_OFFSET:
        following = None  # Box serves no search page beyond it
    exact = args.offset == 0 and following is None
    return output.model_copy(
        update={"entries": kept, "next_offset": following, "total_count": len(kept) if exact else None}
    )


async def count_children(client: Any, folder_id: str, visible: Visible) -> int | None:
    """How many of a folder's direct items the agent may see (None when there are too many to count)."""
    marker: str | None = None
    count = 0
    for _ in range(MAX_COUNT_PAGES):
        params: dict[str, Any] = {"usemarker": "true", "limit": 1000, "fields": "type,id"}
        if marker:
            params["marker"] = marker
        raw = await client.get(f"/folders/{folder_id}/items", params=params)
        for entry in raw.get("entries") or ():
            if isinstance(entry, dict) and entry.get("id") is not None and await visible(entry):
                count += 1
        marker = raw.get("next_marker") or None
        if marker is None:
            return count
    return None


def without(output: Any, fields: tuple[str, ...]) -> Any:
    """The output with these fields emptied (absent from what the agent reads)."""
    present = [f for f in fields if getattr(output, f, None) is not None]
    return output.model_copy(update=dict.fromkeys(present)) if present else output
