"""Box Doc Gen (2025.0 API): mark files as templates, list and read them and their tags, generate
documents in batches, and read the jobs.

Permissions as Box checks them on the files involved: marking or unmarking a template needs edit rights
on the file; reading a template (and its tags) needs read; a batch needs download on the template and
upload into the destination folder. Jobs and batches are the requesting user's own (anyone else: 404).
The engine (docgen_render.py) fills `{{tags}}` over the template's text; a batch runs at once, so its
jobs are `completed`, `completed_with_error` (a tag had no input) or `failed` when listed.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import docgen_render, items, permissions, versioned
from ..common import box_json, caller, json_body, load_item, marker_page, store, user_row
from ..errors import BoxError, not_found
from ..store import Store, iso, now
from .folders import load_folder

MAX_DOCUMENTS = 100  # inputs per batch the emulator accepts (Box does not publish its own cap)
OUTPUT_TYPES = tuple(docgen_render.OUTPUTS)


def _template_row(st: Store, file_id: str) -> sqlite3.Row | None:
    return st.fetch_one("SELECT * FROM docgen_templates WHERE file_id = ?", (file_id,))


def _load_template(request: Request, template_id: str, action: str) -> sqlite3.Row:
    """The template's file row after the permission check; 404 for a file that is not a template."""
    file_row = load_item(request, "file", template_id, action)
    if _template_row(store(request), template_id) is None:
        raise not_found("That file is not a Box Doc Gen template")
    return file_row


def _file_ref(file_id: str) -> dict[str, str]:
    return {"type": "file", "id": file_id}


def _version(st: Store, file_row: sqlite3.Row, version_id: str | None) -> sqlite3.Row:
    if version_id is None:
        return items.current_version(st, file_row)
    row = st.fetch_one(
        "SELECT * FROM file_versions WHERE id = ? AND file_id = ?", (version_id, file_row["id"])
    )
    if row is None:
        raise not_found("No such version of the template")
    return row


def _text(st: Store, file_row: sqlite3.Row, version: sqlite3.Row) -> str:
    data = st.blob_path(version["blob"]).read_bytes()
    try:
        return docgen_render.template_text(file_row["name"], data)
    except docgen_render.TemplateError as exc:
        raise BoxError(400, "bad_request", str(exc)) from None


# -- templates -----------------------------------------------------------------------------------
async def create_template(request: Request) -> Response:
    versioned.require(request)
    who = caller(request)
    body = await json_body(request)
    ref = body.get("file")
    if not isinstance(ref, dict) or ref.get("type", "file") != "file" or not str(ref.get("id", "")).isdigit():
        raise BoxError(400, "bad_request", "'file' is required: {type: file, id} of the file to mark")
    st = store(request)
    with st.tx():
        file_row = load_item(request, "file", str(ref["id"]), "update")
        _text(st, file_row, items.current_version(st, file_row))  # refuse a file the engine cannot read
        if _template_row(st, file_row["id"]) is None:
            st.insert(
                "docgen_templates",
                {"file_id": file_row["id"], "created_by": who.user_id, "created_at": now()},
            )
    return box_json({"file": _file_ref(file_row["id"])}, status=201)


def _template_json(file_row: sqlite3.Row) -> dict[str, Any]:
    return {"file": _file_ref(file_row["id"]), "file_name": file_row["name"]}


async def list_templates(request: Request) -> Response:
    versioned.require(request)
    st, who = store(request), caller(request)
    visible = []
    for row in st.fetch_all("SELECT file_id FROM docgen_templates ORDER BY CAST(file_id AS INTEGER)"):
        file_row = items.get(st, row["file_id"], "file")
        if (
            file_row is not None
            and file_row["status"] == "active"
            and permissions.can(st, who, file_row, "read")
        ):
            visible.append(file_row)
    page, limit, next_marker = marker_page(request, visible, 100, 1000)
    return box_json(
        {
            "entries": [_template_json(r) for r in page],
            "limit": limit,
            "next_marker": next_marker,
            "prev_marker": None,
        }
    )


async def get_template(request: Request) -> Response:
    versioned.require(request)
    return box_json(_template_json(_load_template(request, request.path_params["template_id"], "read")))


async def delete_template(request: Request) -> Response:
    versioned.require(request)
    st = store(request)
    with st.tx():
        file_row = _load_template(request, request.path_params["template_id"], "update")
        st.execute("DELETE FROM docgen_templates WHERE file_id = ?", (file_row["id"],))
    return Response(status_code=204)


async def list_tags(request: Request) -> Response:
    versioned.require(request)
    st = store(request)
    file_row = _load_template(request, request.path_params["template_id"], "read")
    version = _version(st, file_row, request.query_params.get("template_version_id"))
    found = docgen_render.tags(_text(st, file_row, version))
    entries = [{"tag_content": t.content, "tag_type": t.kind, "json_paths": t.paths} for t in found]
    page, limit, next_marker = marker_page(request, entries, 100, 1000)
    return box_json({"entries": page, "limit": limit, "next_marker": next_marker, "prev_marker": None})


# -- batches and jobs ----------------------------------------------------------------------------
def _ref_id(body: dict[str, Any], key: str, kind: str, *, required: bool = True) -> str | None:
    ref = body.get(key)
    if ref is None and not required:
        return None
    if not isinstance(ref, dict) or ref.get("type", kind) != kind or not str(ref.get("id", "")).isdigit():
        raise BoxError(400, "bad_request", f"'{key}' is required: {{type: {kind}, id}}")
    return str(ref["id"])


def _inputs(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    data = body.get("document_generation_data")
    if not isinstance(data, list) or not data:
        raise BoxError(
            400,
            "bad_request",
            "'document_generation_data' is required: a list of {generated_file_name, user_input}",
        )
    if len(data) > MAX_DOCUMENTS:
        raise BoxError(400, "bad_request", f"At most {MAX_DOCUMENTS} documents per batch")
    out = []
    for index, entry in enumerate(data):
        where = f"document_generation_data[{index}]"
        if not isinstance(entry, dict):
            raise BoxError(400, "bad_request", f"'{where}' must be an object")
        name, user_input = entry.get("generated_file_name"), entry.get("user_input")
        if not isinstance(name, str) or not name.strip():
            raise BoxError(400, "bad_request", f"'{where}.generated_file_name' must be a non-empty string")
        if not isinstance(user_input, dict):
            raise BoxError(400, "bad_request", f"'{where}.user_input' must be an object")
        out.append((name, user_input))
    return out


def _generate(
    st: Store, who_id: str, folder_id: str, text: str, name: str, user_input: dict[str, Any], output_type: str
) -> tuple[str, str | None, str | None, dict[str, list[str]] | None]:
    """Fill one document and write it: (status, output file id, output version id, failures)."""
    file_name = f"{name}.{output_type}"
    try:
        items.validate_name(file_name)
        result = docgen_render.fill(text, user_input)
    except BoxError as exc:
        return "failed", None, None, {"errors": [f"generated_file_name: {exc.message}"], "warnings": []}
    except docgen_render.TemplateError as exc:
        return "failed", None, None, {"errors": [str(exc)], "warnings": []}
    if items.find_conflict(st, folder_id, who_id, file_name) is not None:
        errors = [f"An item named '{file_name}' already exists in the destination folder"]
        return "failed", None, None, {"errors": errors, "warnings": result.warnings}
    data = docgen_render.OUTPUTS[output_type](result.text)
    owner = items.owner_for_new_child(st, folder_id, who_id)
    try:
        items.check_upload_size(st, who_id, owner, len(data))
    except BoxError as exc:
        return "failed", None, None, {"errors": [exc.message], "warnings": result.warnings}
    row = items.create_file(st, folder_id, file_name, who_id, st.put_bytes(data))
    failures = (
        {"errors": result.errors, "warnings": result.warnings} if result.errors or result.warnings else None
    )
    status = "completed_with_error" if result.errors else "completed"
    return status, row["id"], row["version_id"], failures


async def create_batch(request: Request) -> Response:
    versioned.require(request)
    who = caller(request)
    body = await json_body(request)
    template_id = _ref_id(body, "file", "file")
    folder_id = _ref_id(body, "destination_folder", "folder")
    version_ref = body.get("file_version")
    version_id = None
    if version_ref is not None:
        if not isinstance(version_ref, dict) or not str(version_ref.get("id", "")).isdigit():
            raise BoxError(400, "bad_request", "'file_version' must be {id} of a version of the template")
        version_id = str(version_ref["id"])
    if body.get("input_source") != "api":
        raise BoxError(400, "bad_request", "'input_source' is required and must be 'api'")
    output_type = body.get("output_type")
    if output_type not in OUTPUT_TYPES:
        raise BoxError(400, "bad_request", f"'output_type' must be one of: {', '.join(OUTPUT_TYPES)}")
    inputs = _inputs(body)
    st = store(request)
    assert template_id is not None and folder_id is not None
    with st.tx():
        file_row = _load_template(request, template_id, "download")
        load_folder(request, folder_id, "upload")
        version = _version(st, file_row, version_id)
        text = _text(st, file_row, version)
        user = user_row(st, who.user_id)
        batch_id = st.next_id("docgen_batch")
        ts = now()
        st.insert(
            "docgen_batches",
            {
                "id": batch_id,
                "template_file_id": file_row["id"],
                "template_version_id": version["id"],
                "destination_folder_id": folder_id,
                "output_type": output_type,
                "input_source": "api",
                "created_by": who.user_id,
                "created_at": ts,
            },
        )
        for name, user_input in inputs:
            status, out_id, out_version, failures = _generate(
                st, who.user_id, folder_id, text, name, user_input, str(output_type)
            )
            st.insert(
                "docgen_jobs",
                {
                    "id": st.next_id("docgen_job"),
                    "batch_id": batch_id,
                    "template_file_id": file_row["id"],
                    "template_version_id": version["id"],
                    "generated_file_name": name,
                    "status": status,
                    "output_type": output_type,
                    "output_file_id": out_id,
                    "output_version_id": out_version,
                    "failures": json.dumps(failures) if failures is not None else None,
                    "enterprise_id": user["enterprise_id"] if user is not None else None,
                    "created_by": who.user_id,
                    "created_at": ts,
                },
            )
    return box_json({"id": batch_id, "type": "docgen_batch"}, status=202)


def job_json(row: sqlite3.Row, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": row["id"],
        "type": "docgen_job",
        "batch": {"id": row["batch_id"], "type": "docgen_batch"},
        "template_file": _file_ref(row["template_file_id"]),
        "template_file_version": {"id": row["template_version_id"], "type": "file_version"},
        "output_file": _file_ref(row["output_file_id"]) if row["output_file_id"] else None,
        "output_file_version": (
            {"id": row["output_version_id"], "type": "file_version"} if row["output_version_id"] else None
        ),
        "status": row["status"],
        "output_type": row["output_type"],
        "failures": json.loads(row["failures"]) if row["failures"] else None,
    }
    if full:
        data.update(
            created_at=iso(row["created_at"]),
            created_by={"type": "user", "id": row["created_by"]},
            enterprise={"type": "enterprise", "id": row["enterprise_id"] or ""},
            source="api",
        )
    return data


def _jobs_page(request: Request, rows: list[sqlite3.Row], *, full: bool = False) -> Response:
    page, limit, next_marker = marker_page(request, rows, 100, 1000)
    return box_json(
        {
            "entries": [job_json(r, full=full) for r in page],
            "limit": limit,
            "next_marker": next_marker,
            "prev_marker": None,
        }
    )


def _my_jobs(st: Store, user_id: str, where: str = "", params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
    return st.fetch_all(
        f"SELECT * FROM docgen_jobs WHERE created_by = ? {where} ORDER BY CAST(id AS INTEGER)",  # noqa: S608
        (user_id, *params),
    )


async def get_job(request: Request) -> Response:
    versioned.require(request)
    st, who = store(request), caller(request)
    rows = _my_jobs(st, who.user_id, "AND id = ?", (request.path_params["job_id"],))
    if not rows:
        raise not_found()
    return box_json(job_json(rows[0]))


async def list_jobs(request: Request) -> Response:
    versioned.require(request)
    st, who = store(request), caller(request)
    return _jobs_page(request, _my_jobs(st, who.user_id), full=True)


async def list_template_jobs(request: Request) -> Response:
    versioned.require(request)
    st, who = store(request), caller(request)
    file_row = _load_template(request, request.path_params["template_id"], "read")
    return _jobs_page(request, _my_jobs(st, who.user_id, "AND template_file_id = ?", (file_row["id"],)))


async def list_batch_jobs(request: Request) -> Response:
    versioned.require(request)
    st, who = store(request), caller(request)
    batch = st.fetch_one(
        "SELECT id FROM docgen_batches WHERE id = ? AND created_by = ?",
        (request.path_params["batch_id"], who.user_id),
    )
    if batch is None:
        raise not_found()
    return _jobs_page(request, _my_jobs(st, who.user_id, "AND batch_id = ?", (batch["id"],)))


routes: list[BaseRoute] = [
    Route("/2.0/docgen_templates", create_template, methods=["POST"]),
    Route("/2.0/docgen_templates", list_templates, methods=["GET"]),
    Route("/2.0/docgen_templates/{template_id:boxid}", get_template, methods=["GET"]),
    Route("/2.0/docgen_templates/{template_id:boxid}", delete_template, methods=["DELETE"]),
    Route("/2.0/docgen_templates/{template_id:boxid}/tags", list_tags, methods=["GET"]),
    Route("/2.0/docgen_template_jobs/{template_id:boxid}", list_template_jobs, methods=["GET"]),
    Route("/2.0/docgen_batches", create_batch, methods=["POST"]),
    Route("/2.0/docgen_jobs", list_jobs, methods=["GET"]),
    Route("/2.0/docgen_jobs/{job_id:boxid}", get_job, methods=["GET"]),
    Route("/2.0/docgen_batch_jobs/{batch_id:boxid}", list_batch_jobs, methods=["GET"]),
]
