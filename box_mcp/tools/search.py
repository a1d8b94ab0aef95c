"""search toolset: keyword search for files, name search for folders, optionally under ancestor folders."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StringConstraints

from box_mcp.access import Access, ResourceUse
from box_mcp.tools.models import _path
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    item,
)

MAX_OFFSET = 10_000  # Box refuses a search offset beyond it
Extension = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,16}$")]
Query = Annotated[str, StringConstraints(min_length=1, max_length=512, strip_whitespace=True)]


class _SearchInput(ToolInput):
    query: Query
    ancestor_folder_ids: list[BoxId] | None = Field(
        None, max_length=50, description="Only search inside these folders (and their subfolders)"
    )
    limit: int = Field(30, ge=1, le=200, description="Results per page (1-200)")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Skip this many results (max 10000)")


class SearchFilesInput(_SearchInput):
    file_extensions: list[Extension] | None = Field(None, max_length=50, description="e.g. ['pdf', 'docx']")


class SearchFoldersInput(_SearchInput):
    pass


class SearchHit(ToolOutput):
    type: str
    id: str
    name: str | None = None
    path: str | None = None
    size: int | None = None
    modified_at: str | None = None
    parent_id: str | None = None
    ancestor_ids: list[str] = Field(default_factory=list, description="Folder ids from All Files down")


class SearchResults(ToolOutput):
    query: str
    total_count: int | None = Field(
        None, description="How many hits in all; absent when only reading every page could tell"
    )
    offset: int
    entries: list[SearchHit]
    next_offset: int | None = Field(None, description="Pass as offset for the next page; absent at the end")


_FIELDS = "type,id,name,size,modified_at,parent,path_collection"


def _hits(raw: dict[str, Any]) -> list[SearchHit]:
    hits = []
    for entry in raw.get("entries") or ():
        if not isinstance(entry, dict) or entry.get("id") is None:
            continue
        parent = entry.get("parent")
        ancestors = (entry.get("path_collection") or {}).get("entries") or []
        hits.append(
            SearchHit.model_validate(
                {
                    **{k: entry.get(k) for k in ("type", "id", "name", "size", "modified_at")},
                    "path": _path(entry),
                    "parent_id": parent.get("id") if isinstance(parent, dict) else None,
                    "ancestor_ids": [str(a.get("id")) for a in ancestors if isinstance(a, dict)],
                }
            )
        )
    return hits


async def _search(ctx: ToolContext, args: _SearchInput, params: dict[str, Any]) -> SearchResults:
    params |= {"query": args.query, "limit": args.limit, "offset": args.offset, "fields": _FIELDS}
    if args.ancestor_folder_ids:
        params["ancestor_folder_ids"] = ",".join(args.ancestor_folder_ids)
    raw = await ctx.box.get("/search", params=params)
    total = raw.get("total_count")
    # Box's own position after this page (it may serve fewer than asked): a confined agent's pages skip
    # the hits it may not see, so "offset + limit" is not where its next page starts.
    read = len(raw.get("entries") or ())
    following = args.offset + read
    more = read > 0 and (following < total if isinstance(total, int) else read >= args.limit)
    return SearchResults(
        query=args.query,
        total_count=total,
        offset=args.offset,
        entries=_hits(raw),
        next_offset=following if more and following <= MAX_OFFSET else None,
    )


async def search_files_keyword(ctx: ToolContext, args: SearchFilesInput) -> SearchResults:
    params: dict[str, Any] = {"type": "file"}
    if args.file_extensions:
        params["file_extensions"] = ",".join(e.lower() for e in args.file_extensions)
    return await _search(ctx, args, params)


async def search_folders_by_name(ctx: ToolContext, args: SearchFoldersInput) -> SearchResults:
    return await _search(ctx, args, {"type": "folder", "content_types": "name"})


def _scopes(args: _SearchInput) -> tuple[ResourceUse, ...]:
    return tuple(item("folder", fid, Access.READ, "scope") for fid in args.ancestor_folder_ids or ())


SPECS = (
    ToolSpec(
        name="search_files_keyword",
        title="Search files by keyword",
        description=(
            "Search files whose name, description or content match a keyword query; narrow with "
            "ancestor_folder_ids and file_extensions. Returns a page of hits (type, id, name, path, size) "
            "and total_count. Box's index lags new uploads by a few minutes."
        ),
        toolset="search",
        access=Access.READ,
        box_scopes=box_scopes("search_files_keyword"),
        hints=READ_HINTS,
        input_model=SearchFilesInput,
        output_model=SearchResults,
        handler=search_files_keyword,
        search_roots_field="ancestor_folder_ids",
        output_kind="search",
        resources=_scopes,
    ),
    ToolSpec(
        name="search_folders_by_name",
        title="Search folders by name",
        description=(
            "Find folders whose name matches a query, optionally inside ancestor_folder_ids. Returns a page "
            "of folder hits (id, name, path) and total_count; use the id with "
            "list_folder_content_by_folder_id."
        ),
        toolset="search",
        access=Access.READ,
        box_scopes=box_scopes("search_folders_by_name"),
        hints=READ_HINTS,
        input_model=SearchFoldersInput,
        output_model=SearchResults,
        handler=search_folders_by_name,
        search_roots_field="ancestor_folder_ids",
        output_kind="search",
        resources=_scopes,
    ),
)
