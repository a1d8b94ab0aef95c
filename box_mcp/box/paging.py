"""Offset and marker paging over Box collections, as async iterators that fetch pages as they are consumed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from box_mcp.errors import BoxTransportError

if TYPE_CHECKING:
    from .client import BoxClient

_MAX_PAGES = 100_000


async def paginate(
    client: BoxClient,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    limit: int = 100,
    marker: bool = False,
    max_items: int | None = None,
    fields: Sequence[str] | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Every entry of an offset- or marker-paged collection, fetching pages as they are consumed."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    query = dict(params or {})
    offset = int(query.pop("offset", 0))
    next_marker = query.pop("marker", None)
    query["limit"] = limit
    if marker:
        query["usemarker"] = "true"
    seen = 0
    for _ in range(_MAX_PAGES):
        page_query = dict(query)
        if marker:
            if next_marker:
                page_query["marker"] = next_marker
        else:
            page_query["offset"] = offset
        page = await client.get(path, params=page_query, fields=fields)
        if not isinstance(page, dict):
            raise BoxTransportError(f"GET {path}: Box answered a page that is not a JSON object.")
        entries = page.get("entries") or []
        for entry in entries:
            if max_items is not None and seen >= max_items:
                return
            seen += 1
            yield entry
        if max_items is not None and seen >= max_items:
            return
        if marker:
            next_marker = page.get("next_marker")
            if not next_marker or not entries:
                return
        else:
            # Box says: advance by the limit it answered, which may be lower than the one asked for.
            offset += int(page.get("limit") or limit)
            total = page.get("total_count")
            if not entries or (isinstance(total, int) and offset >= total):
                return
