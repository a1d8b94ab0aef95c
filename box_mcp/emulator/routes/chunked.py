"""Chunked upload sessions: create (new file or new version), upload parts, list parts, plan, commit, abort.

Parts stream to blob files as they arrive (each checked against its `Digest` and `Content-Range`);
commit checks the part list and the whole-file digest, then joins the parts in a worker thread.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import secrets
import sqlite3
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..changes import check_unlocked, conflict_error
from ..common import box_json, caller, check_if_match, emulator, json_body, load_item, paging, store, view
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import parse_fields
from ..store import Blob, Store, iso, now

MIN_FILE_SIZE = 20_000_000  # Box refuses chunked sessions for smaller files (file_size_too_small)
PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000
SESSION_TTL = 7 * 24 * 3600
RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
COPY_CHUNK = 1024 * 1024


def part_size_for(file_size: int) -> int:
    size = PART_SIZE
    while math.ceil(file_size / size) > MAX_PARTS:
        size *= 2
    return size


def session_json(request: Request, row: sqlite3.Row) -> dict[str, Any]:
    base = f"{emulator(request).origin(request)}/api/2.0/files/upload_sessions/{row['id']}"
    processed = store(request).fetch_one(
        "SELECT COUNT(*) AS n FROM upload_parts WHERE session_id = ?", (row["id"],)
    )
    return {
        "type": "upload_session",
        "id": row["id"],
        "session_expires_at": iso(row["expires_at"]),
        "part_size": row["part_size"],
        "total_parts": row["total_parts"],
        "num_parts_processed": int(processed["n"]) if processed else 0,
        "session_endpoints": {
            "upload_part": base,
            "commit": f"{base}/commit",
            "abort": base,
            "list_parts": f"{base}/parts",
            "status": base,
            "log_event": f"{base}/log",
            "plan": f"{base}/plan",
        },
    }


def _file_size(body: dict[str, Any]) -> int:
    if "file_size" not in body:
        raise BoxError(400, "missing_file_size", "'file_size' is required")
    size = body["file_size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise BoxError(400, "invalid_file_size", "'file_size' must be a whole number of bytes")
    if size < MIN_FILE_SIZE:
        raise BoxError(
            400,
            "file_size_too_small",
            f"Chunked uploads need at least {MIN_FILE_SIZE} bytes; use a simple upload for smaller files",
        )
    return size


def _new_session(st: Store, user_id: str, folder_id: str, file_id: str | None, name: str, size: int) -> str:
    part = part_size_for(size)
    session_id = secrets.token_hex(16).upper()
    ts = now()
    st.insert(
        "upload_sessions",
        {
            "id": session_id,
            "user_id": user_id,
            "folder_id": folder_id,
            "file_id": file_id,
            "file_name": name,
            "file_size": size,
            "part_size": part,
            "total_parts": math.ceil(size / part),
            "created_at": ts,
            "expires_at": ts + SESSION_TTL,
        },
    )
    return session_id


async def create_session(request: Request) -> Response:
    body = await json_body(request)
    st, who = store(request), caller(request)
    folder_id = body.get("folder_id")
    if folder_id is None:
        raise BoxError(400, "missing_destination", "'folder_id' is required")
    if not isinstance(folder_id, str) or not folder_id.isdigit():
        raise BoxError(400, "invalid_folder_id", "'folder_id' must be a folder id")
    if body.get("file_name") is None:
        raise BoxError(400, "missing_file_name", "'file_name' is required")
    name = items.validate_name(body["file_name"])
    size = _file_size(body)
    with st.tx():
        if folder_id == items.ROOT_ID:
            permissions.check_root(st, who, "upload")
        else:
            folder = items.get(st, folder_id, "folder")
            if folder is None or folder["status"] != "active":
                raise not_found("The destination folder was not found")
            permissions.check(st, who, folder, "upload")
        conflict = items.find_conflict(st, folder_id, who.user_id, name)
        if conflict is not None:
            raise conflict_error(view(request), conflict, as_list=False)
        items.check_upload_size(st, who.user_id, items.owner_for_new_child(st, folder_id, who.user_id), size)
        session_id = _new_session(st, who.user_id, folder_id, None, name, size)
        row = st.fetch_one("SELECT * FROM upload_sessions WHERE id = ?", (session_id,))
    assert row is not None
    return box_json(session_json(request, row), status=201)


async def create_version_session(request: Request) -> Response:
    body = await json_body(request)
    st, who = store(request), caller(request)
    size = _file_size(body)
    with st.tx():
        file_row = load_item(request, "file", request.path_params["file_id"], "upload")
        check_unlocked(file_row, who)
        items.check_upload_size(st, who.user_id, file_row["owner_id"], size)
        name = (
            items.validate_name(body["file_name"]) if body.get("file_name") is not None else file_row["name"]
        )
        session_id = _new_session(st, who.user_id, file_row["parent_id"], file_row["id"], name, size)
        row = st.fetch_one("SELECT * FROM upload_sessions WHERE id = ?", (session_id,))
    assert row is not None
    return box_json(session_json(request, row), status=201)


def load_session(request: Request) -> sqlite3.Row:
    st = store(request)
    session_id = request.path_params["session_id"]
    if not re.fullmatch(r"[0-9A-Fa-f]{32}", session_id):
        raise BoxError(
            400,
            "invalid_upload_session_id",
            "The upload session ID provided in the URL is not of a valid format.",
        )
    row = st.fetch_one(
        "SELECT * FROM upload_sessions WHERE id = ? AND status = 'open'", (session_id.upper(),)
    )
    if row is None or row["user_id"] != caller(request).user_id:
        raise not_found("Upload session not found")
    if row["expires_at"] <= now():
        raise BoxError(410, "session_expired", "The upload session has expired")
    return row


def _digest(request: Request) -> str:
    """The base64 SHA-1 from `Digest: sha=<base64>` (one of possibly several algorithms)."""
    header = request.headers.get("digest", "")
    for part in header.split(","):
        algorithm, _, value = part.strip().partition("=")
        if algorithm.lower() == "sha" and value:
            return value.strip()
    raise BoxError(400, "bad_request", "A 'Digest: sha=<base64 SHA-1>' header is required")


def _range(request: Request, session: sqlite3.Row) -> tuple[int, int]:
    match = RANGE.match(request.headers.get("content-range", "").strip())
    bad = BoxError(
        416,
        "requested_range_not_satisfiable",
        f"Content-Range must be 'bytes <first>-<last>/{session['file_size']}' for one part of "
        f"{session['part_size']} bytes (the last part may be shorter)",
    )
    if match is None:
        raise bad
    lo, hi, total = (int(g) for g in match.groups())
    if total != session["file_size"] or hi < lo or hi >= total or lo % session["part_size"]:
        raise bad
    if hi - lo + 1 != session["part_size"] and hi != total - 1:
        raise bad
    return lo, hi


async def upload_part(request: Request) -> Response:
    st = store(request)
    session = load_session(request)
    expected_b64 = _digest(request)
    lo, hi = _range(request, session)
    size = hi - lo + 1
    writer = st.blob_writer()
    sha512 = hashlib.sha512()
    try:
        async for chunk in request.stream():
            if writer.size + len(chunk) > size:
                raise BoxError(
                    416, "requested_range_not_satisfiable", "The body is longer than its Content-Range"
                )
            writer.write(chunk)
            sha512.update(chunk)
    except BaseException:
        writer.discard()
        raise
    if writer.size != size:
        writer.discard()
        raise BoxError(416, "requested_range_not_satisfiable", "The body is shorter than its Content-Range")
    sha1_hex = writer.sha1
    if base64.b64encode(bytes.fromhex(sha1_hex)).decode() != expected_b64:
        writer.discard()
        raise BoxError(400, "bad_digest", "The specified digest did not match what we received")
    blob = writer.finish()
    with st.tx():
        existing = st.fetch_one(
            "SELECT * FROM upload_parts WHERE session_id = ? AND offset = ?", (session["id"], lo)
        )
        if existing is not None and existing["sha1"] != sha1_hex:
            raise BoxError(409, "conflict", "A different part was already uploaded at this offset")
        if existing is None:
            st.insert(
                "upload_parts",
                {
                    "session_id": session["id"],
                    "part_id": secrets.token_hex(4).upper(),
                    "offset": lo,
                    "size": size,
                    "sha1": sha1_hex,
                    "sha512": sha512.hexdigest(),
                    "blob": blob.address,
                },
            )
        part = st.fetch_one(
            "SELECT * FROM upload_parts WHERE session_id = ? AND offset = ?", (session["id"], lo)
        )
    assert part is not None
    return box_json({"part": _part_json(part)})


def _part_json(row: sqlite3.Row) -> dict[str, Any]:
    return {"part_id": row["part_id"], "offset": row["offset"], "size": row["size"], "sha1": row["sha1"]}


async def list_parts(request: Request) -> Response:
    session = load_session(request)
    limit, offset = paging(request, 1000, 1000, max_offset=10**12)
    rows = store(request).fetch_all(
        "SELECT * FROM upload_parts WHERE session_id = ? ORDER BY offset", (session["id"],)
    )
    return box_json(
        {
            "entries": [_part_json(r) for r in rows[offset : offset + limit]],
            "limit": limit,
            "offset": offset,
            "total_count": len(rows),
        }
    )


async def get_session(request: Request) -> Response:
    return box_json(session_json(request, load_session(request)))


async def plan(request: Request) -> Response:
    """Which of the planned parts this session already holds (same offset, size and SHA-512)."""
    session = load_session(request)
    body = await json_body(request)
    planned = body.get("parts")
    if not isinstance(planned, list) or not all(isinstance(p, dict) for p in planned):
        raise BoxError(400, "bad_request", "'parts' must be a list of {offset, size, sha_512}")
    hits, misses = [], []
    for part in planned:
        row = store(request).fetch_one(
            "SELECT * FROM upload_parts WHERE session_id = ? AND offset = ? AND size = ? AND sha512 = ?",
            (session["id"], part.get("offset"), part.get("size"), str(part.get("sha_512", "")).lower()),
        )
        if row is not None:
            hits.append({**part, "part_id": row["part_id"]})
        else:
            misses.append(part)
    return box_json({"upload_session_id": session["id"], "hits": hits, "misses": misses})


async def abort(request: Request) -> Response:
    st = store(request)
    session = load_session(request)
    with st.tx():
        parts = st.fetch_all("SELECT blob FROM upload_parts WHERE session_id = ?", (session["id"],))
        st.execute("DELETE FROM upload_parts WHERE session_id = ?", (session["id"],))
        st.execute("UPDATE upload_sessions SET status = 'aborted' WHERE id = ?", (session["id"],))
    for part in parts:
        st.release_blob(part["blob"])
    return Response(status_code=204)


def _check_parts(session: sqlite3.Row, given: Any, stored: list[sqlite3.Row]) -> None:
    if not isinstance(given, list) or not all(isinstance(p, dict) for p in given):
        raise BoxError(400, "bad_request", "'parts' must be the list of uploaded parts")
    by_id = {row["part_id"]: row for row in stored}
    position = 0
    for part in sorted(given, key=lambda p: p.get("offset", -1) if isinstance(p.get("offset"), int) else -1):
        row = by_id.get(str(part.get("part_id")))
        if row is None or part.get("offset") != row["offset"] or part.get("size") != row["size"]:
            raise BoxError(
                400, "bad_request", f"Part {part.get('part_id')!r} does not match an uploaded part"
            )
        if part.get("sha1") is not None and str(part["sha1"]).lower() != row["sha1"]:
            raise BoxError(400, "bad_digest", f"Part {part.get('part_id')!r} has a different sha1")
        if row["offset"] != position:
            raise BoxError(400, "bad_request", f"The parts leave a gap or overlap at byte {position}")
        position += row["size"]
    if position != session["file_size"]:
        raise BoxError(400, "bad_request", f"The parts cover {position} of {session['file_size']} bytes")


def _join(st: Store, paths: list[Any]) -> Blob:
    writer = st.blob_writer()
    try:
        for path in paths:
            with open(path, "rb") as fh:
                while chunk := fh.read(COPY_CHUNK):
                    writer.write(chunk)
    except BaseException:
        writer.discard()
        raise
    return writer.finish()


async def commit(request: Request) -> Response:
    st, who = store(request), caller(request)
    session = load_session(request)
    expected_b64 = _digest(request)
    body = await json_body(request)
    fields = parse_fields(request.query_params.get("fields"))
    stored = st.fetch_all("SELECT * FROM upload_parts WHERE session_id = ? ORDER BY offset", (session["id"],))
    _check_parts(session, body.get("parts"), stored)
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise BoxError(400, "bad_request", "'attributes' must be an object")
    if session["file_id"] is not None:
        check_if_match(request, load_item(request, "file", session["file_id"], "upload"))
    paths = [st.blob_path(row["blob"]) for row in stored]
    blob = await anyio.to_thread.run_sync(_join, st, paths)
    if base64.b64encode(bytes.fromhex(blob.sha1)).decode() != expected_b64:
        st.release_blob(blob.address)
        raise BoxError(400, "bad_digest", "The whole-file digest does not match the committed parts")
    with st.tx():
        v = view(request)
        if session["file_id"] is None:
            conflict = items.find_conflict(st, session["folder_id"], who.user_id, session["file_name"])
            if conflict is not None:
                raise conflict_error(v, conflict, as_list=False)
            row = items.create_file(
                st,
                session["folder_id"],
                session["file_name"],
                who.user_id,
                blob,
                description=str(attributes.get("description", "")),
            )
        else:
            current = items.require(st, session["file_id"], "file")
            row = items.add_version(st, current, blob, who.user_id, name=session["file_name"])
        st.execute("DELETE FROM upload_parts WHERE session_id = ?", (session["id"],))
        st.execute("UPDATE upload_sessions SET status = 'committed' WHERE id = ?", (session["id"],))
        emit_event(st, "ITEM_UPLOAD", v.item(row), who.user_id)
        data = v.item(row, fields)
    for part in stored:
        st.release_blob(part["blob"])
    return box_json({"total_count": 1, "entries": [data]}, status=201)


_SESSION = "/files/upload_sessions/{session_id}"
routes: list[BaseRoute] = []
for prefix in ("/api/2.0", "/2.0"):
    routes += [
        Route(f"{prefix}/files/upload_sessions", create_session, methods=["POST"]),
        Route(f"{prefix}/files/{{file_id:boxid}}/upload_sessions", create_version_session, methods=["POST"]),
        Route(f"{prefix}{_SESSION}", upload_part, methods=["PUT"]),
        Route(f"{prefix}{_SESSION}", get_session, methods=["GET"]),
        Route(f"{prefix}{_SESSION}", abort, methods=["DELETE"]),
        Route(f"{prefix}{_SESSION}/parts", list_parts, methods=["GET"]),
        Route(f"{prefix}{_SESSION}/plan", plan, methods=["POST"]),
        Route(f"{prefix}{_SESSION}/commit", commit, methods=["POST"]),
    ]
