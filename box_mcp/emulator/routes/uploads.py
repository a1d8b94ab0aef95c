"""Uploads: simple multipart upload, new version, and the upload preflight check."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items
from ..changes import check_unlocked
from ..common import box_json, caller, check_if_match, emulator, json_body, store, view
from ..errors import BoxError
from ..events import emit_event
from ..serialize import parse_fields
from ..store import Blob, Store
from .files import load_file
from .folders import load_folder

COPY_CHUNK = 1024 * 1024


def _timestamp(value: Any, name: str) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        raise BoxError(400, "bad_request", f"'{name}' must be an ISO-8601 date-time") from None


async def _read_upload(
    request: Request, *, attributes_required: bool
) -> tuple[dict[str, Any], UploadFile, Any]:
    """Parse the multipart body; `attributes` must come before `file` (Box's rule)."""
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        raise BoxError(
            400, "bad_request", "Uploads must be multipart/form-data with 'attributes' and 'file' parts"
        )
    form = await request.form(max_files=1, max_fields=10)
    keys = [key for key, _ in form.multi_items()]
    upload = next((v for _, v in form.multi_items() if isinstance(v, UploadFile)), None)
    if upload is None:
        await form.close()
        raise BoxError(400, "bad_request", "The upload has no file part (a part with a filename)")
    attributes: dict[str, Any] = {}
    if "attributes" in keys:
        file_key = next(k for k, v in form.multi_items() if isinstance(v, UploadFile))
        if keys.index("attributes") > keys.index(file_key):
            await form.close()
            raise BoxError(
                400,
                "metadata_after_file_contents",
                "Metadata is included after file contents in a file upload request.",
            )
        raw = form["attributes"]
        try:
            parsed = json.loads(raw if isinstance(raw, str) else "")
        except json.JSONDecodeError:
            await form.close()
            raise BoxError(400, "bad_request", "The 'attributes' part is not valid JSON") from None
        if not isinstance(parsed, dict):
            await form.close()
            raise BoxError(400, "bad_request", "The 'attributes' part must be a JSON object")
        attributes = parsed
    elif attributes_required:
        await form.close()
        raise BoxError(400, "bad_request", "The upload has no 'attributes' part (it must precede 'file')")
    return attributes, upload, form


async def _store_blob(request: Request, st: Store, upload: UploadFile) -> Blob:
    writer = st.blob_writer()
    try:
        while chunk := await upload.read(COPY_CHUNK):
            writer.write(chunk)
    except BaseException:
        writer.discard()
        raise
    expected = request.headers.get("content-md5")
    if expected is not None and expected.strip().lower() != writer.sha1:
        writer.discard()
        raise BoxError(400, "bad_digest", "The specified content-md5 did not match what we received")
    return writer.finish()


def _conflict(st: Store, request: Request, conflict: sqlite3.Row) -> BoxError:
    return BoxError(
        409,
        "item_name_in_use",
        "Item with the same name already exists",
        context_info={"conflicts": view(request).mini(conflict)},
    )


async def upload_file(request: Request) -> Response:
    st, who = store(request), caller(request)
    fields = parse_fields(request.query_params.get("fields"))
    attributes, upload, form = await _read_upload(request, attributes_required=True)
    try:
        name = items.validate_name(attributes.get("name", upload.filename))
        parent = attributes.get("parent")
        if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
            raise BoxError(
                400, "bad_request", "'attributes.parent.id' is required (the folder to upload into)"
            )
        load_folder(request, parent["id"], "upload")
        created = _timestamp(attributes.get("content_created_at"), "content_created_at")
        modified = _timestamp(attributes.get("content_modified_at"), "content_modified_at")
        conflict = items.find_conflict(st, parent["id"], who.user_id, name)
        if conflict is not None:
            raise _conflict(st, request, conflict)
        blob = await _store_blob(request, st, upload)
    finally:
        await form.close()
    with st.tx():
        conflict = items.find_conflict(st, parent["id"], who.user_id, name)  # re-check under the lock
        if conflict is not None:
            raise _conflict(st, request, conflict)
        row = items.create_file(
            st,
            parent["id"],
            name,
            who.user_id,
            blob,
            content_created_at=created,
            content_modified_at=modified,
        )
        v = view(request)
        emit_event(st, "ITEM_UPLOAD", v.item(row), who.user_id)
        data = v.item(row, fields)
    return box_json({"total_count": 1, "entries": [data]}, status=201)


async def upload_version(request: Request) -> Response:
    st, who = store(request), caller(request)
    fields = parse_fields(request.query_params.get("fields"))
    row = load_file(request, request.path_params["file_id"], "upload")
    check_unlocked(row, who)
    check_if_match(request, row)
    attributes, upload, form = await _read_upload(request, attributes_required=False)
    try:
        new_name = attributes.get("name")
        if new_name is not None:
            items.validate_name(new_name)
            conflict = items.find_conflict(
                st, row["parent_id"], row["owner_id"], new_name, exclude_id=row["id"]
            )
            if conflict is not None:
                raise _conflict(st, request, conflict)
        modified = _timestamp(attributes.get("content_modified_at"), "content_modified_at")
        blob = await _store_blob(request, st, upload)
    finally:
        await form.close()
    with st.tx():
        current = items.require(st, row["id"], "file")
        check_if_match(request, current)
        updated = items.add_version(
            st, current, blob, who.user_id, name=new_name, content_modified_at=modified
        )
        v = view(request)
        emit_event(st, "ITEM_UPLOAD", v.item(updated), who.user_id)
        data = v.item(updated, fields)
    return box_json({"total_count": 1, "entries": [data]}, status=201)


async def preflight(request: Request) -> Response:
    """OPTIONS /2.0/files/content: would this upload be accepted? Answers where to send it."""
    st, who = store(request), caller(request)
    body = await json_body(request)
    name = items.validate_name(body.get("name"))
    parent = body.get("parent")
    if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
        raise BoxError(400, "bad_request", "'parent.id' is required (the folder to upload into)")
    size = body.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise BoxError(400, "bad_request", "'size' must be a non-negative integer")
    load_folder(request, parent["id"], "upload")
    user = st.one("SELECT max_upload_size FROM users WHERE id = ?", (who.user_id,))
    if size is not None and user is not None and size > user["max_upload_size"]:
        raise BoxError(413, "file_size_limit_exceeded", "File is larger than the maximum upload size")
    conflict = items.find_conflict(st, parent["id"], who.user_id, name)
    if conflict is not None:
        raise _conflict(st, request, conflict)
    return box_json(
        {
            "upload_url": f"{emulator(request).origin(request)}/api/2.0/files/content",
            "upload_token": st.new_secret(),
        }
    )


routes: list[BaseRoute] = [
    Route("/api/2.0/files/content", upload_file, methods=["POST"]),
    Route("/2.0/files/content", upload_file, methods=["POST"]),
    Route("/2.0/files/content", preflight, methods=["OPTIONS"]),
    Route("/api/2.0/files/{file_id:boxid}/content", upload_version, methods=["POST"]),
    Route("/2.0/files/{file_id:boxid}/content", upload_version, methods=["POST"]),
]
