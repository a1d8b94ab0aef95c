"""search toolset: keyword search for files, name search for folders, metadata queries, optionally under
ancestor folders."""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Annotated, Any

from pydantic import Field, StringConstraints, model_validator

from box_mcp.access import Access, ResourceUse
from box_mcp.errors import ToolInputError
from box_mcp.tools.metadata import FieldValue, Scope, TemplateKey
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


# --- metadata queries ------------------------------------------------------------------------------------

MetadataQuery = Annotated[str, StringConstraints(min_length=1, max_length=4096, strip_whitespace=True)]
ParamName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
FieldKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][-A-Za-z0-9_]{0,255}$")]
_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


class SearchMetadataInput(ToolInput):
    template_key: TemplateKey
    scope: Scope = "enterprise"
    query: MetadataQuery | None = Field(
        None,
        description=(
            "SQL-like, over the template's field keys, values as :params: \"value >= :min AND "
            'name ILIKE :n" (= <> < > <= >= LIKE ILIKE IN IS NULL AND OR NOT); none: all'
        ),
    )
    query_params: dict[ParamName, FieldValue] = Field(default_factory=dict, max_length=100)
    ancestor_folder_ids: list[BoxId] | None = Field(None, max_length=50)
    fields: list[FieldKey] | None = Field(None, max_length=50, description="Values to return (default: all)")
    order_by: list[FieldKey] | None = Field(None, max_length=5)
    descending: bool = False
    limit: int = Field(50, ge=1, le=100)
    cursor: str | None = Field(None, min_length=1, max_length=4096)

    @model_validator(mode="after")
    def _every_param_has_a_value(self) -> SearchMetadataInput:
        missing = sorted(set(_PARAM.findall(self.query or "")) - set(self.query_params))
        if missing:
            raise ValueError(
                "query_params has no value for "
                + ", ".join(f":{m}" for m in missing)
                + "; give each :param of the query a value"
            )
        return self


class MetadataHit(SearchHit):
    values: dict[str, Any] = Field(default_factory=dict)


class MetadataResults(ToolOutput):
    template: str
    entries: list[MetadataHit]
    next_cursor: str | None = None


def _cursor(index: int, marker: str | None) -> str:
    raw = json.dumps({"i": index, "m": marker}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str | None, roots: int) -> tuple[int, str | None]:
    if cursor is None:
        return 0, None
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        index, marker = data["i"], data["m"]
        if (
            not isinstance(index, int)
            or not 0 <= index < roots
            or not (marker is None or isinstance(marker, str))
        ):
            raise ValueError(cursor)
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError):
        raise ToolInputError(
            "cursor is not a next_cursor of this query: pass the one the last page returned, with the same "
            "ancestor_folder_ids, or leave it out to start again"
        ) from None
    return index, marker


async def _template(ctx: ToolContext, scope: str, key: str) -> tuple[str, list[str]]:
    """The template's full scope (a metadata query needs 'enterprise_<id>', not 'enterprise') and its keys."""
    raw = await ctx.box.get(f"/metadata_templates/{scope}/{key}/schema")
    full = raw.get("scope")
    keys = [
        f["key"] for f in raw.get("fields") or () if isinstance(f, dict) and isinstance(f.get("key"), str)
    ]
    return (full if isinstance(full, str) and full.startswith("enterprise_") else scope), keys


async def search_files_metadata(ctx: ToolContext, args: SearchMetadataInput) -> MetadataResults:
    scope, keys = await _template(ctx, args.scope, args.template_key)
    source = f"{scope}.{args.template_key}"
    roots = list(args.ancestor_folder_ids or ["0"])
    index, marker = _read_cursor(args.cursor, len(roots))
    base: dict[str, Any] = {"from": source, "limit": args.limit}
    if args.query:
        base |= {"query": args.query, "query_params": args.query_params}
    if args.order_by:
        way = "desc" if args.descending else "asc"
        base["order_by"] = [{"field_key": k, "direction": way} for k in args.order_by]
    wanted = f"metadata.{source}"
    field_names = ["type", "id", "name", "size", "modified_at", "parent", "path_collection"]
    field_names += [f"{wanted}.{k}" for k in (args.fields or keys)] or [wanted]
    hits: list[MetadataHit] = []
    seen: set[str] = set()  # ancestors may nest: a hit under two of them is shown once
    next_cursor = None
    for _ in range(2 * len(roots) + 8):  # bounded even if Box answered short pages with a marker
        if index >= len(roots) or len(hits) >= args.limit:
            break
        body = base | {
            "ancestor_folder_id": roots[index],
            "fields": field_names,
            "limit": args.limit - len(hits),
        }
        if marker:
            body["marker"] = marker
        raw = await ctx.box.post("/metadata_queries/execute_read", json=body)
        for entry in raw.get("entries") or ():
            if not isinstance(entry, dict) or entry.get("id") is None or str(entry["id"]) in seen:
                continue
            seen.add(str(entry["id"]))
            values = ((entry.get("metadata") or {}).get(scope) or {}).get(args.template_key) or {}
            shown = {k: v for k, v in values.items() if isinstance(k, str) and not k.startswith("$")}
            if args.fields:
                shown = {k: v for k, v in shown.items() if k in args.fields}
            hit = _hits({"entries": [entry]})[0]
            hits.append(MetadataHit(**hit.model_dump(), values=shown))
        marker = raw.get("next_marker") or None
        if marker is None:
            index, marker = index + 1, None
    if index < len(roots):
        next_cursor = _cursor(index, marker)
    return MetadataResults(template=source, entries=hits, next_cursor=next_cursor)


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
    ToolSpec(
        name="search_files_metadata",
        title="Search by metadata",
        description=(
            "Find files and folders by one metadata template's values with Box's metadata query, optionally "
            "inside ancestor_folder_ids, sorted by order_by. Returns hits (id, name, path, values) and "
            "next_cursor; no index lag."
        ),
        toolset="search",
        access=Access.READ,
        box_scopes=box_scopes("search_files_metadata"),
        hints=READ_HINTS,
        input_model=SearchMetadataInput,
        output_model=MetadataResults,
        handler=search_files_metadata,
        search_roots_field="ancestor_folder_ids",
        output_kind="search",
        resources=_scopes,
    ),
)
