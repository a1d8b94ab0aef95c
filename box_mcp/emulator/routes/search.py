"""Search (`GET /search`): every query word (or "quoted phrase") must occur in an item's name,
description, tags, comments or, for text-like files, content; only items the caller can see come back."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import zipfile
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..auth import ADMIN_ROLES
from ..common import box_json, caller, paging, store, view
from ..errors import BoxError
from ..search_filters import date_range, metadata_filters, metadata_matches, size_range, within
from ..serialize import parse_fields
from ..store import Store

CONTENT_TYPES = ("name", "description", "file_content", "comments", "tag")
TEXT_EXTENSIONS = frozenset(
    {
        "txt",
        "md",
        "csv",
        "tsv",
        "json",
        "xml",
        "html",
        "htm",
        "yaml",
        "yml",
        "log",
        "py",
        "js",
        "ts",
        "ini",
        "rtf",
    }
)
MAX_INDEXED_BYTES = 5 * 1024 * 1024  # larger files are searched by name and description only
PDF_TEXT = re.compile(rb"\(((?:[^()\\]|\\.)*)\)\s*Tj")
TERM = re.compile(r'"([^"]+)"|(\S+)')


def terms(query: str) -> list[str]:
    return [(phrase or word).lower() for phrase, word in TERM.findall(query)]


def _csv(request: Request, name: str) -> list[str]:
    raw = request.query_params.get(name)
    return [part.strip() for part in raw.split(",") if part.strip()] if raw else []


def file_text(st: Store, row: sqlite3.Row) -> str:
    """The searchable text of a file's current version: plain text, PDF text runs or DOCX paragraphs."""
    if row["size"] > MAX_INDEXED_BYTES or not row["version_id"]:
        return ""
    ext = row["name"].rsplit(".", 1)[-1].lower() if "." in row["name"] else ""
    if ext not in TEXT_EXTENSIONS and ext not in ("pdf", "docx"):
        return ""
    version = st.fetch_one("SELECT blob FROM file_versions WHERE id = ?", (row["version_id"],))
    if version is None:
        return ""
    path = st.blob_path(version["blob"])
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    if ext == "pdf":
        return " ".join(m.decode("latin-1") for m in PDF_TEXT.findall(data))
    if ext == "docx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                xml = zf.read("word/document.xml").decode("utf-8", "replace")
        except (zipfile.BadZipFile, KeyError):
            return ""
        return re.sub(r"<[^>]+>", " ", xml)
    return data.decode("utf-8", "replace")


def haystack(st: Store, row: sqlite3.Row, wanted: tuple[str, ...]) -> dict[str, str]:
    out = {"name": row["name"].lower()}
    if "description" in wanted:
        out["description"] = row["description"].lower()
    if "tag" in wanted:
        out["tag"] = " ".join(json.loads(row["tags"])).lower()
    if "comments" in wanted and row["type"] == "file":
        has_comments = st.fetch_one("SELECT name FROM sqlite_master WHERE name = 'comments'")
        if has_comments:
            msgs = st.fetch_all("SELECT message FROM comments WHERE item_id = ?", (row["id"],))
            out["comments"] = " ".join(m["message"] for m in msgs).lower()
    if "file_content" in wanted and row["type"] == "file":
        out["file_content"] = file_text(st, row).lower()
    if "name" not in wanted:
        out.pop("name")
    if row["type"] == "web_link" and "name" in wanted:
        out["name"] += " " + (row["url"] or "").lower()
    return out


def _params(request: Request) -> dict[str, Any]:
    query = request.query_params.get("query") or ""
    st, who = store(request), caller(request)
    me = st.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (who.user_id,))
    mdfilters = metadata_filters(
        request.query_params.get("mdfilters"), f"enterprise_{me['enterprise_id'] if me else ''}"
    )
    if not query.strip() and not mdfilters:
        raise BoxError(
            400, "bad_request", "'query' is required (the words to search for) unless 'mdfilters' is given"
        )
    kind = request.query_params.get("type")
    if kind is not None and kind not in ("file", "folder", "web_link"):
        raise BoxError(400, "bad_request", "'type' must be file, folder or web_link")
    content_types = tuple(_csv(request, "content_types")) or CONTENT_TYPES
    bad = [c for c in content_types if c not in CONTENT_TYPES]
    if bad:
        raise BoxError(400, "bad_request", f"Unknown content type '{bad[0]}'; use {', '.join(CONTENT_TYPES)}")
    scope = request.query_params.get("scope", "user_content")
    if scope not in ("user_content", "enterprise_content"):
        raise BoxError(400, "bad_request", "'scope' must be user_content or enterprise_content")
    trash = request.query_params.get("trash_content", "non_trashed_only")
    statuses = {
        "non_trashed_only": ("active",),
        "trashed_only": ("trashed",),
        "all_items": ("active", "trashed"),
    }
    if trash not in statuses:
        raise BoxError(
            400, "bad_request", "'trash_content' must be non_trashed_only, trashed_only or all_items"
        )
    sort = request.query_params.get("sort", "relevance")
    direction = request.query_params.get("direction", "DESC").upper()
    if sort not in ("relevance", "modified_at") or direction not in ("ASC", "DESC"):
        raise BoxError(400, "bad_request", "'sort' is relevance or modified_at; 'direction' ASC or DESC")
    ancestors = _csv(request, "ancestor_folder_ids")
    if any(not a.isdigit() for a in ancestors):
        raise BoxError(400, "bad_request", "'ancestor_folder_ids' must be folder ids separated by commas")
    return {
        "terms": terms(query),
        "type": kind,
        "extensions": {e.lower().lstrip(".") for e in _csv(request, "file_extensions")},
        "ancestors": ancestors,
        "content_types": content_types,
        "scope": scope,
        "statuses": statuses[trash],
        "sort": sort,
        "direction": direction,
        "owners": set(_csv(request, "owner_user_ids")),
        "created": date_range(request.query_params.get("created_at_range"), "created_at_range"),
        "updated": date_range(request.query_params.get("updated_at_range"), "updated_at_range"),
        "sizes": size_range(request.query_params.get("size_range")),
        "mdfilters": mdfilters,
    }


async def search(request: Request) -> Response:
    p = _params(request)
    fields = parse_fields(request.query_params.get("fields"))
    # Box refuses an offset beyond 10,000 outright; limit is clamped to 200.
    limit, offset = paging(request, 30, 200, max_offset=10000)
    st, who = store(request), caller(request)
    if p["scope"] == "enterprise_content":
        me = st.fetch_one("SELECT role FROM users WHERE id = ?", (who.user_id,))
        if me is None or me["role"] not in ADMIN_ROLES:
            raise BoxError(
                403,
                "access_denied_insufficient_permissions",
                "scope=enterprise_content needs an admin or co-admin",
            )
    marks = ",".join("?" * len(p["statuses"]))
    rows = st.fetch_all(f"SELECT * FROM items WHERE status IN ({marks})", list(p["statuses"]))  # noqa: S608
    hits: list[tuple[int, sqlite3.Row]] = []
    for row in rows:
        if p["type"] and row["type"] != p["type"]:
            continue
        if p["extensions"]:
            ext = row["name"].rsplit(".", 1)[-1].lower() if "." in row["name"] else ""
            if row["type"] != "file" or ext not in p["extensions"]:
                continue
        if p["owners"] and row["owner_id"] not in p["owners"]:
            continue
        if not (
            within(row["created_at"], p["created"])
            and within(row["modified_at"], p["updated"])
            and within(row["size"], p["sizes"])
        ):
            continue
        if p["ancestors"] and not any(a != row["id"] and items.is_within(st, row, a) for a in p["ancestors"]):
            continue
        if p["scope"] == "user_content" or who.resource is not None:
            if not permissions.can(st, who, row, "read"):
                continue
        else:  # enterprise_content: any item owned inside the admin's enterprise
            owner = st.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (row["owner_id"],))
            me = st.fetch_one("SELECT enterprise_id FROM users WHERE id = ?", (who.user_id,))
            if owner is None or me is None or owner["enterprise_id"] != me["enterprise_id"]:
                continue
        if p["mdfilters"] and not metadata_matches(st, row, p["mdfilters"]):
            continue
        texts = haystack(st, row, p["content_types"]) if p["terms"] else {}
        if all(any(term in t for t in texts.values()) for term in p["terms"]):
            score = sum(term in texts.get("name", "") for term in p["terms"])
            hits.append((score, row))
    reverse = p["direction"] == "DESC"
    if p["sort"] == "modified_at":
        hits.sort(key=lambda h: h[1]["modified_at"], reverse=reverse)
    else:
        hits.sort(key=lambda h: (h[0], h[1]["modified_at"]), reverse=True)
    page = hits[offset : offset + limit]
    v = view(request)
    entries = [v.item(row, fields) for _, row in page]
    kind = "search_results_items"
    if request.query_params.get("include_recent_shared_links", "").lower() == "true":
        # No history of shared-link visits is kept, so no entry carries `accessible_via_shared_link`
        # (the spec types it as a plain string: absent rather than null).
        kind = "search_results_with_shared_links"
        entries = [{"type": "search_result", "item": entry} for entry in entries]
    return box_json(
        {"type": kind, "total_count": len(hits), "limit": limit, "offset": offset, "entries": entries}
    )


routes: list[BaseRoute] = [Route("/2.0/search", search, methods=["GET"])]
