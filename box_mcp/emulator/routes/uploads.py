"""Uploads: simple multipart upload, new version, and the upload preflight check."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, upload_grants
from ..changes import check_unlocked
from ..common import box_json, caller, check_if_match, json_body, load_item, store, view
from ..errors import BoxError
from ..events import emit_event
from ..multipart import read_upload
from ..serialize import parse_fields
from ..store import timestamp
from .folders import load_folder


def _conflict(request: Request, conflict: sqlite3.Row) -> BoxError:
    return BoxError(
        409,
        "item_name_in_use",
        "Item with the same name already exists",
        context_info={"conflicts": view(request).mini(conflict)},
    )


async def upload_file(request: Request) -> Response:
    grant = upload_grants.claim(request)  # an upload to a preflight's upload_url: its token, its folder
    st, who = store(request), caller(request)
    fields = parse_fields(request.query_params.get("fields"))
    checked: dict[str, Any] = {}

    def check(attributes: dict[str, Any]) -> None:
        # Runs when the attributes part ends: a refused upload is refused before its file is read.
        name = items.validate_name(attributes.get("name"))
        parent = attributes.get("parent")
        if not isinstance(parent, dict) or not isinstance(parent.get("id"), str):
            raise BoxError(
                400, "bad_request", "'attributes.parent.id' is required (the folder to upload into)"
            )
        load_folder(request, parent["id"], "upload")
        upload_grants.check_new_file(grant, parent["id"], name)
        checked.update(
            name=name,
            parent_id=parent["id"],
            created=timestamp(attributes.get("content_created_at"), "content_created_at"),
            modified=timestamp(attributes.get("content_modified_at"), "content_modified_at"),
        )
        conflict = items.find_conflict(st, parent["id"], who.user_id, name)
        if conflict is not None:
            raise _conflict(request, conflict)

    upload = await read_upload(request, st, attributes_required=True, on_attributes=check)
    try:
        with st.tx():
            owner = items.owner_for_new_child(st, checked["parent_id"], who.user_id)
            items.check_upload_size(st, who.user_id, owner, upload.blob.size)
            upload_grants.check_size(grant, upload.blob.size)
            upload_grants.use(st, grant)
            conflict = items.find_conflict(st, checked["parent_id"], who.user_id, checked["name"])
            if conflict is not None:  # someone took the name while the file was streaming in
                raise _conflict(request, conflict)
            row = items.create_file(
                st,
                checked["parent_id"],
                checked["name"],
                who.user_id,
                upload.blob,
                content_created_at=checked["created"],
                content_modified_at=checked["modified"],
            )
            v = view(request)
            emit_event(st, "ITEM_UPLOAD", v.item(row), who.user_id)
            data = v.item(row, fields)
    except BaseException:
        st.release_blob(upload.blob.address)
        raise
    return box_json({"total_count": 1, "entries": [data]}, status=201)


async def upload_version(request: Request) -> Response:
    grant = upload_grants.claim(request)  # an upload to a preflight's upload_url: its token, its file
    st, who = store(request), caller(request)
    fields = parse_fields(request.query_params.get("fields"))
    row = load_item(request, "file", request.path_params["file_id"], "upload")
    upload_grants.check_new_version(grant, row["id"], None)
    check_unlocked(row, who)
    check_if_match(request, row)
    checked: dict[str, Any] = {}

    def check(attributes: dict[str, Any]) -> None:
        new_name = attributes.get("name")
        upload_grants.check_new_version(grant, row["id"], new_name)
        if new_name is not None:
            items.validate_name(new_name)
            conflict = items.find_conflict(
                st, row["parent_id"], row["owner_id"], new_name, exclude_id=row["id"]
            )
            if conflict is not None:
                raise _conflict(request, conflict)
        checked.update(
            name=new_name, modified=timestamp(attributes.get("content_modified_at"), "content_modified_at")
        )

    upload = await read_upload(request, st, attributes_required=False, on_attributes=check)
    try:
        with st.tx():
            current = items.require(st, row["id"], "file")
            check_if_match(request, current)
            items.check_upload_size(st, who.user_id, current["owner_id"], upload.blob.size)
            upload_grants.check_size(grant, upload.blob.size)
            upload_grants.use(st, grant)
            updated = items.add_version(
                st,
                current,
                upload.blob,
                who.user_id,
                name=checked.get("name"),
                content_modified_at=checked.get("modified"),
            )
            v = view(request)
            emit_event(st, "ITEM_UPLOAD", v.item(updated), who.user_id)
            data = v.item(updated, fields)
    except BaseException:
        st.release_blob(upload.blob.address)
        raise
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
    if size is not None:
        owner = items.owner_for_new_child(st, parent["id"], who.user_id)
        items.check_upload_size(st, who.user_id, owner, size)
    conflict = items.find_conflict(st, parent["id"], who.user_id, name)
    if conflict is not None:
        raise _conflict(request, conflict)
    return box_json(
        upload_grants.issue(request, who.user_id, folder_id=parent["id"], file_name=name, size=size)
    )


async def preflight_version(request: Request) -> Response:
    """OPTIONS /2.0/files/{id}/content: would a new version (optionally renamed, of `size` bytes) be
    accepted? Box's reference documents it beside the new-file check; answers the same UploadUrl."""
    st, who = store(request), caller(request)
    body = await json_body(request, required=False)
    row = load_item(request, "file", request.path_params["file_id"], "upload")
    check_unlocked(row, who)
    name = body.get("name")
    if name is not None:
        name = items.validate_name(name)
        conflict = items.find_conflict(st, row["parent_id"], row["owner_id"], name, exclude_id=row["id"])
        if conflict is not None:
            raise _conflict(request, conflict)
    size = body.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
        raise BoxError(400, "bad_request", "'size' must be a non-negative integer")
    if size is not None:
        items.check_upload_size(st, who.user_id, row["owner_id"], size)
    return box_json(upload_grants.issue(request, who.user_id, file_id=row["id"], file_name=name, size=size))


routes: list[BaseRoute] = [
    Route("/api/2.0/files/content", upload_file, methods=["POST"]),
    Route("/2.0/files/content", upload_file, methods=["POST"]),
    Route("/2.0/files/content", preflight, methods=["OPTIONS"]),
    Route("/api/2.0/files/{file_id:boxid}/content", upload_version, methods=["POST"]),
    Route("/2.0/files/{file_id:boxid}/content", upload_version, methods=["POST"]),
    Route("/2.0/files/{file_id:boxid}/content", preflight_version, methods=["OPTIONS"]),
]
