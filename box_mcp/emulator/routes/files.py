"""Files: get, and download (302 to a short-lived same-origin link that serves bytes with Range)."""

from __future__ import annotations

import sqlite3

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, emulator, not_modified, store, view
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import parse_fields
from ..store import now, sha256_hex

DOWNLOAD_LINK_TTL = 300  # seconds; Box's dl.boxcloud.com links are short-lived too


def load_file(request: Request, file_id: str, action: str, *, allow_trashed: bool = False) -> sqlite3.Row:
    st = store(request)
    row = items.get(st, file_id, "file")
    if row is None:
        raise not_found()
    permissions.check(st, caller(request), row, action)
    if row["status"] == "trashed" and not allow_trashed:
        raise BoxError(404, "trashed", "Item is trashed")
    return row


async def get_file(request: Request) -> Response:
    fields = parse_fields(request.query_params.get("fields"))
    row = load_file(request, request.path_params["file_id"], "read")
    if not_modified(request, row):
        return Response(status_code=304)
    return box_json(view(request).item(row, fields), headers={"ETag": str(row["etag"])})


async def download(request: Request) -> Response:
    st = store(request)
    row = load_file(request, request.path_params["file_id"], "download")
    version_id = request.query_params.get("version") or row["version_id"]
    version = st.one("SELECT * FROM file_versions WHERE id = ? AND file_id = ?", (version_id, row["id"]))
    if version is None:
        raise not_found("File version not found")
    token = st.new_secret()
    with st.tx():
        st.x("DELETE FROM download_links WHERE expires_at < ?", (now(),))
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
    link = st.one(
        "SELECT * FROM download_links WHERE sha256 = ?", (sha256_hex(request.path_params["token"]),)
    )
    if link is None or link["expires_at"] < now():
        raise not_found("Download link expired or unknown")
    version = st.one("SELECT * FROM file_versions WHERE id = ?", (link["version_id"],))
    if version is None:
        raise not_found()
    return FileResponse(
        st.blob_path(version["blob"]),
        media_type="application/octet-stream",
        filename=version["name"],
        headers={"Cache-Control": "no-cache, no-store"},
    )


routes: list[BaseRoute] = [
    Route("/2.0/files/{file_id:boxid}", get_file, methods=["GET"]),
    Route("/2.0/files/{file_id:boxid}/content", download, methods=["GET"]),
    Route("/dl/{token}/{file_id:boxid}", serve_download, methods=["GET"]),
]
