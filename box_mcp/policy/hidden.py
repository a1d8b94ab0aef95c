"""What results would reveal about items the policy hides, taken out: pages refilled past hidden entries,
folder counts of what the agent can see, sizes and account totals that add up hidden items dropped.

Everything here works on a tool's output model by its field names (entries, next_cursor, next_offset,
total_count, item_count, size), so it needs nothing from the tool modules.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from box_mcp.errors import BoxMCPError

# Box requests one call may add to fill a page past hidden entries, or to count a folder's visible items.
# Past it the page is returned short (with its cursor): a bound on cost, and the rare case where a
# page is not full although more follows.
MAX_REFILLS = 10
MAX_COUNT_PAGES = 5  # of 1000 items each: a folder holding more has no item_count for a confined agent
SEARCH_MAX_OFFSET = 10_000  # Box refuses a search offset beyond this

# who_am_i, field by field, for an agent the policy hides items from. Kept: id, name, login (the identity
# its calls run as, shown on every item it creates anyway), role, status and enterprise_id (what that
# identity is, not what the account holds). Dropped: space_used adds up every item of the account, hidden
# ones too; space_amount is the account's quota, which says nothing about the grant and, with
# space_used gone, nothing an agent can act on (an upload too large for the quota still fails clearly).
ACCOUNT_TOTALS = ("space_used", "space_amount")

Visible = Callable[[Any], Awaitable[bool]]  # an entry -> may the agent see it
Rerun = Callable[[Any], Awaitable[Any]]  # the call's arguments for another page -> the tool's output


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
