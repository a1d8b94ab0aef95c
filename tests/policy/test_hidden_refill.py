"""Page refills past hidden entries (policy/hidden.py) over the real tool handlers and a Box that pages like
Box: any pattern of hidden entries, any page size, every visible entry exactly once, full pages but the last.
"""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

from box_mcp.box.errors import BoxAPIError
from box_mcp.policy import hidden
from box_mcp.tools.folders import ListFolderInput, list_folder_content_by_folder_id
from box_mcp.tools.search import SearchFilesInput, search_files_keyword
from box_mcp.tools.spec import ToolContext


class PagingBox:
    """GET /search (offset paging) and /folders/1/items (marker paging) over items "1".."n"."""

    def __init__(self, count: int, fail_after: int | None = None) -> None:
        self.items = [{"type": "file", "id": str(n + 1), "name": f"f{n + 1}"} for n in range(count)]
        self.requests = 0
        self.fail_after = fail_after

    async def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            raise BoxAPIError(503, "unavailable", "Box is down")
        limit = int(params["limit"])
        if path == "/search":
            offset = int(params["offset"])
            return {"total_count": len(self.items), "entries": self.items[offset : offset + limit]}
        start = int(params.get("marker", "0"))
        more = start + limit < len(self.items)
        following = str(start + limit) if more else None
        return {"entries": self.items[start : start + limit], "next_marker": following}


def _visible(shown: list[bool]) -> Any:
    async def visible(entry: Any) -> bool:
        return shown[int(entry.id) - 1]

    return visible


async def _listing_pages(shown: list[bool], limit: int) -> list[list[str]]:
    ctx = ToolContext(box=PagingBox(len(shown)))  # type: ignore[arg-type]

    async def rerun(args: Any) -> Any:
        return await list_folder_content_by_folder_id(ctx, args)

    args, pages = ListFolderInput(folder_id="1", limit=limit), []
    for _ in range(len(shown) + 2):
        page = await hidden.fill_by_cursor(await rerun(args), args, _visible(shown), rerun)
        pages.append([e.id for e in page.entries])
        if page.next_cursor is None:
            return pages
        args = args.model_copy(update={"cursor": page.next_cursor})
    raise AssertionError("never reached the last page")


async def _search_pages(shown: list[bool], limit: int) -> list[list[str]]:
    ctx = ToolContext(box=PagingBox(len(shown)))  # type: ignore[arg-type]

    async def rerun(args: Any) -> Any:
        return await search_files_keyword(ctx, args)

    args, pages = SearchFilesInput(query="f", limit=limit), []
    for _ in range(len(shown) + 2):
        page = await hidden.fill_by_offset(await rerun(args), args, _visible(shown), rerun)
        pages.append([e.id for e in page.entries])
        read_all = args.offset == 0 and page.next_offset is None
        assert page.total_count == (len(page.entries) if read_all else None)
        if page.next_offset is None:
            return pages
        args = args.model_copy(update={"offset": page.next_offset})
    raise AssertionError("never reached the last page")


def _short_hidden_runs(shown: list[bool]) -> bool:
    """Runs of hidden entries shorter than the refill bound is sure to cross (see the bound's test below)."""
    return "FFFFFFFF" not in "".join("T" if v else "F" for v in shown)


patterns = st.lists(st.booleans(), max_size=40).filter(_short_hidden_runs)


@settings(max_examples=60, deadline=None)
@given(shown=patterns, limit=st.integers(min_value=1, max_value=6))
def test_every_visible_entry_shows_once_in_full_pages_but_the_last(shown: list[bool], limit: int) -> None:
    expected = [str(n + 1) for n, v in enumerate(shown) if v]
    for pages in (anyio.run(_listing_pages, shown, limit), anyio.run(_search_pages, shown, limit)):
        assert [i for p in pages for i in p] == expected
        assert all(len(p) == limit for p in pages[:-1]), pages


def test_a_refill_stops_at_its_bound_and_says_where_to_go_on() -> None:
    async def run() -> tuple[Any, int]:
        box = PagingBox(100)
        ctx = ToolContext(box=box)  # type: ignore[arg-type]
        args = ListFolderInput(folder_id="1", limit=2)

        async def rerun(a: Any) -> Any:
            return await list_folder_content_by_folder_id(ctx, a)

        everything_hidden = _visible([False] * 100)
        return await hidden.fill_by_cursor(await rerun(args), args, everything_hidden, rerun), box.requests

    page, requests = anyio.run(run)
    assert page.entries == [] and page.next_cursor == "22" and requests == 1 + hidden.MAX_REFILLS


def test_a_refill_that_box_fails_keeps_what_it_read_and_its_place() -> None:
    async def run() -> Any:
        ctx = ToolContext(box=PagingBox(10, fail_after=2))  # type: ignore[arg-type]
        args = SearchFilesInput(query="f", limit=4)

        async def rerun(a: Any) -> Any:
            return await search_files_keyword(ctx, a)

        shown = [n % 3 == 0 for n in range(10)]  # ids 1, 4, 7, 10
        return await hidden.fill_by_offset(await rerun(args), args, _visible(shown), rerun)

    page = anyio.run(run)
    assert [e.id for e in page.entries] == ["1", "4", "7"]
    assert page.next_offset == 8 and page.total_count is None
