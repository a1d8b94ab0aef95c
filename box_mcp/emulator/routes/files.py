"""Files: get, and download (302 to a short-lived same-origin link that serves bytes with Range)."""

from __future__ import annotations

import json
import sqlite3

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import changes, items
from ..common import (
    box_json,
    caller,
    check_if_match,
    emulator,
    json_body,
    load_item,
    not_modified,
    offset_page,
    store,
    view,
)
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import parse_fields
from ..store import Blob, now, sha256_hex
from . import representations

DOWNLOAD_LINK_TTL = 300  # seconds; Box's dl.boxcloud.com links are short-lived too


async def get_file(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"))
    row = load_item(request, "file", request.path_params["file_id"], "read")
    if not_modified(request, row):
        return Response(status_code=304)
    data = view(request).item(row, fields)
    if fields is not None and "representations" in fields:  # as the x-rep-hints header asks
        data["representations"] = representations.for_file(request, row)
    return box_json(data, headers={"ETag": str(row["etag"])})


async def download(request: Request) -> Response:
    st = store(request)
    row = load_item(request, "file", request.path_params["file_id"], "download")
    if changes.locked_for(row, caller(request).user_id) and json.loads(row["lock"]).get(
        "is_download_prevented"
    ):
        raise BoxError(403, "access_denied_item_locked", "The file is locked and its lock prevents downloads")
    version_id = request.query_params.get("version") or row["version_id"]
    version = st.fetch_one(
        "SELECT * FROM file_versions WHERE id = ? AND file_id = ?", (version_id, row["id"])
    )
    if version is None:
        raise not_found("File version not found")
    token = st.new_secret()
    with st.tx():
        st.execute("DELETE FROM download_links WHERE expires_at < ?", (now(),))
        st.insert(
            "download_links",
            {
                "sha256": sha256_hex(token),
                "file_id": row["id"],
                "version_id": version_id,
                "expires_at": now() + DOWNLOAD_LINK_TTL,
            },
        )
        emit_event(st, "ITEM_DOWNLOAD", view(request).item(row), caller(request).user_id)
    location = f"{emulator(request).origin(request)}/dl/{token}/{row['id']}"
    return RedirectResponse(location, status_code=302)


async def serve_download(request: Request) -> Response:
    """The short-lived link: no bearer token needed (like dl.boxcloud.com), the link itself is the secret."""
    st = store(request)
    link = st.fetch_one(
        "SELECT * FROM download_links WHERE sha256 = ?", (sha256_hex(request.path_params["token"]),)
    )
    if link is None or link["expires_at"] < now():
        raise not_found("Download link expired or unknown")
    version = st.fetch_one("SELECT * FROM file_versions WHERE id = ?", (link["version_id"],))
    if version is None:
        raise not_found()
    return FileResponse(
        st.blob_path(version["blob"]),
        media_type="application/octet-stream",
        filename=version["name"],
        headers={"Cache-Control": "no-cache, no-store"},
    )


async def update_file(request: Request) -> Response:
    body = await json_body(request, required=False)
    fields = parse_fields(request.query_params.get("fields"))
    st, who = store(request), caller(request)
    with st.tx():
        row = load_item(request, "file", request.path_params["file_id"], "read")
        check_if_match(request, row)
        v = view(request)
        data = v.item(changes.update_item(st, who, row, body, v), fields)
    return box_json(data)


async def copy_file(request: Request) -> Response:
    body = await json_body(request)
    fields = parse_fields(request.query_params.get("fields"))
    st, who = store(request), caller(request)
    version = body.get("version")
    if version is not None and not isinstance(version, str):
        raise BoxError(400, "bad_request", "'version' must be a file version id")
    with st.tx():
        row = load_item(request, "file", request.path_params["file_id"], "read")
        v = view(request)
        data = v.item(
            changes.copy_item(st, who, row, body.get("parent"), body.get("name"), v, version), fields
        )
    return box_json(data, status=201)


async def delete_file(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        row = load_item(request, "file", request.path_params["file_id"], "read")
        check_if_match(request, row)
        changes.trash_item(st, who, row, view(request))
    return Response(status_code=204)


async def list_versions(request: Request) -> Response:
    st = store(request)
    row = load_item(request, "file", request.path_params["file_id"], "read")
    rows = st.fetch_all(
        "SELECT * FROM file_versions WHERE file_id = ? AND id != ? ORDER BY version_number DESC",
        (row["id"], row["version_id"]),
    )
    page, limit, offset = offset_page(request, rows, 1000, 1000)
    v = view(request)
    return box_json(
        {
            "total_count": len(rows),
            "entries": [v.version(r) for r in page],
            "limit": limit,
            "offset": offset,
        }
    )


def _version(request: Request, row: sqlite3.Row) -> sqlite3.Row:
    version = store(request).fetch_one(
        "SELECT * FROM file_versions WHERE id = ? AND file_id = ?",
        (request.path_params["version_id"], row["id"]),
    )
    if version is None:
        raise not_found("File version not found")
    return version


async def get_version(request: Request) -> Response:
    row = load_item(request, "file", request.path_params["file_id"], "read")
    return box_json(view(request).version(_version(request, row)))


async def delete_version(request: Request) -> Response:
    st, who = store(request), caller(request)
    row = load_item(request, "file", request.path_params["file_id"], "delete")
    version = _version(request, row)
    if version["id"] == row["version_id"]:
        raise BoxError(400, "bad_request", "The current version cannot be deleted; delete the file instead")
    check_if_match(request, row)
    st.execute(
        "UPDATE file_versions SET trashed_at = ?, trashed_by = ? WHERE id = ?",
        (now(), who.user_id, version["id"]),
    )
    return Response(status_code=204)


async def restore_version(request: Request) -> Response:
    """PUT /files/{id}/versions/{version_id} with `{"trashed_at": null}`: bring a trashed version back."""
    body = await json_body(request)
    st, who = store(request), caller(request)
    if "trashed_at" not in body or body["trashed_at"] is not None or set(body) - {"trashed_at"}:
        raise BoxError(400, "bad_request", 'Body must be {"trashed_at": null}: only a restore is supported')
    with st.tx():
        row = load_item(request, "file", request.path_params["file_id"], "upload")
        changes.check_unlocked(row, who)
        version = _version(request, row)
        st.execute(
            "UPDATE file_versions SET trashed_at = NULL, trashed_by = NULL WHERE id = ?", (version["id"],)
        )
        restored = st.fetch_one("SELECT * FROM file_versions WHERE id = ?", (version["id"],))
    assert restored is not None
    return box_json(view(request).version(restored))


async def promote_version(request: Request) -> Response:
    """POST /files/{id}/versions/current: copy an old version to become the new current one."""
    body = await json_body(request)
    st, who = store(request), caller(request)
    if body.get("type", "file_version") != "file_version" or not isinstance(body.get("id"), str):
        raise BoxError(400, "bad_request", 'Body must be {"type": "file_version", "id": "<version id>"}')
    with st.tx():
        row = load_item(request, "file", request.path_params["file_id"], "upload")
        changes.check_unlocked(row, who)
        check_if_match(request, row)
        old = st.fetch_one(
            "SELECT * FROM file_versions WHERE id = ? AND file_id = ?", (body["id"], row["id"])
        )
        if old is None:
            raise not_found("File version not found")
        blob = Blob(address=old["blob"], sha1=old["sha1"], size=old["size"])
        updated = items.add_version(st, row, blob, who.user_id)
        v = view(request)
        emit_event(st, "ITEM_MAKE_CURRENT_VERSION", v.item(updated), who.user_id)
        current = st.fetch_one("SELECT * FROM file_versions WHERE id = ?", (updated["version_id"],))
    assert current is not None
    return box_json(v.version(current), status=201)


routes: list[BaseRoute] = [
    Route("/2.0/files/{file_id:boxid}", update_file, methods=["PUT"]),
    Route("/2.0/files/{file_id:boxid}", delete_file, methods=["DELETE"]),
    Route("/2.0/files/{file_id:boxid}/copy", copy_file, methods=["POST"]),
    Route("/2.0/files/{file_id:boxid}/versions", list_versions, methods=["GET"]),
    Route("/2.0/files/{file_id:boxid}/versions/current", promote_version, methods=["POST"]),
    Route("/2.0/files/{file_id:boxid}/versions/{version_id:boxid}", get_version, methods=["GET"]),
    Route("/2.0/files/{file_id:boxid}/versions/{version_id:boxid}", delete_version, methods=["DELETE"]),
    Route("/2.0/files/{file_id:boxid}/versions/{version_id:boxid}", restore_version, methods=["PUT"]),
    Route("/2.0/files/{file_id:boxid}", get_file, methods=["GET"]),
    Route("/2.0/files/{file_id:boxid}/content", download, methods=["GET"]),
    Route("/dl/{token}/{file_id:boxid}", serve_download, methods=["GET"]),
]
