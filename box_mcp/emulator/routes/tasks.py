"""Tasks on files (review / complete) and their assignments, with completion by the assignees."""

from __future__ import annotations

import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, choice, item_ref, json_body, load_item, store, text, view
from ..errors import BoxError, not_found
from ..events import emit_event
from ..serialize import View, user_mini
from ..store import Store, iso, now, timestamp

ACTIONS = ("review", "complete")
RULES = ("all_assignees", "any_assignee")
# What an assignee may answer: a review is approved/rejected, a to-do completed.
RESOLUTIONS = {"review": ("incomplete", "approved", "rejected"), "complete": ("incomplete", "completed")}


def assignment_json(st: Store, v: View, row: sqlite3.Row, file_row: sqlite3.Row | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "task_assignment",
        "id": row["id"],
        "item": v.mini(file_row) if file_row is not None else None,
        "assigned_to": user_mini(st, row["assigned_to"]),
        "message": row["message"],
        "completed_at": iso(row["completed_at"]),
        "assigned_at": iso(row["assigned_at"]),
        "reminded_at": iso(row["reminded_at"]),
        "resolution_state": row["resolution_state"],
        "assigned_by": user_mini(st, row["assigned_by"]),
    }
    # The spec types these as plain date-times: an unset one is left out rather than sent as null.
    return {k: val for k, val in data.items() if val is not None or k not in ("completed_at", "reminded_at")}


def task_json(st: Store, v: View, row: sqlite3.Row) -> dict[str, Any]:
    file_row = items.get(st, row["file_id"], "file")
    assignments = st.fetch_all(
        "SELECT * FROM task_assignments WHERE task_id = ? ORDER BY CAST(id AS INTEGER)", (row["id"],)
    )
    data: dict[str, Any] = {
        "type": "task",
        "id": row["id"],
        "item": v.mini(file_row) if file_row is not None else None,
        "due_at": iso(row["due_at"]),
        "action": row["action"],
        "message": row["message"],
        "task_assignment_collection": {
            "total_count": len(assignments),
            "entries": [assignment_json(st, v, a, file_row) for a in assignments],
        },
        "is_completed": bool(row["is_completed"]),
        "created_by": user_mini(st, row["created_by"]),
        "created_at": iso(row["created_at"]),
        "completion_rule": row["completion_rule"],
    }
    if data["due_at"] is None:
        del data["due_at"]  # the spec types due_at as a plain date-time: omit it rather than send null
    return data


def _load_task(request: Request, task_id: str, action: str) -> tuple[sqlite3.Row, sqlite3.Row]:
    row = store(request).fetch_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
    if row is None:
        raise not_found()
    return row, load_item(request, "file", row["file_id"], action)


def _refresh_completion(st: Store, task_id: str) -> None:
    task = st.fetch_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
    if task is None:
        return
    states = [
        r["resolution_state"]
        for r in st.fetch_all("SELECT resolution_state FROM task_assignments WHERE task_id = ?", (task_id,))
    ]
    done = [s != "incomplete" for s in states]
    complete = bool(done) and (all(done) if task["completion_rule"] == "all_assignees" else any(done))
    st.update("tasks", {"id": task_id}, {"is_completed": int(complete)})


async def create_task(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    _, file_id = item_ref(body, "item", ("file",))
    action = choice(body, "action", ACTIONS, "review")
    rule = choice(body, "completion_rule", RULES, "all_assignees")
    message = text(body, "message", max_len=10000) or ""
    due_at = timestamp(body.get("due_at"), "due_at")
    st, who = store(request), caller(request)
    with st.tx():
        load_item(request, "file", file_id, "task")
        task_id = st.next_id("task")
        st.insert(
            "tasks",
            {
                "id": task_id,
                "file_id": file_id,
                "action": action,
                "message": message,
                "due_at": due_at,
                "completion_rule": rule,
                "created_by": who.user_id,
                "created_at": now(),
            },
        )
        row = st.fetch_one("SELECT * FROM tasks WHERE id = ?", (task_id,))
        assert row is not None
        data = task_json(st, view(request), row)
        emit_event(st, "TASK_CREATE", data, who.user_id)
        return box_json(data, status=201)


async def list_file_tasks(request: Request) -> Response:
    st = store(request)
    file_row = load_item(request, "file", request.path_params["file_id"], "activity")
    rows = st.fetch_all(
        "SELECT * FROM tasks WHERE file_id = ? ORDER BY CAST(id AS INTEGER)", (file_row["id"],)
    )
    v = view(request)
    return box_json({"total_count": len(rows), "entries": [task_json(st, v, r) for r in rows]})


async def get_task(request: Request) -> Response:
    row, _ = _load_task(request, request.path_params["task_id"], "activity")
    return box_json(task_json(store(request), view(request), row))


async def update_task(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    st, who = store(request), caller(request)
    with st.tx():
        row, file_row = _load_task(request, request.path_params["task_id"], "activity")
        if row["created_by"] != who.user_id:
            permissions.check(st, who, file_row, "update")
        changes: dict[str, Any] = {}
        if "action" in body:
            changes["action"] = choice(body, "action", ACTIONS)
        if "completion_rule" in body:
            changes["completion_rule"] = choice(body, "completion_rule", RULES)
        if "message" in body:
            changes["message"] = text(body, "message", max_len=10000) or ""
        if "due_at" in body:
            changes["due_at"] = timestamp(body["due_at"], "due_at")
        if changes:
            st.update("tasks", {"id": row["id"]}, changes)
            _refresh_completion(st, row["id"])
        fresh = st.fetch_one("SELECT * FROM tasks WHERE id = ?", (row["id"],))
        assert fresh is not None
        data = task_json(st, view(request), fresh)
        emit_event(st, "TASK_UPDATE", data, who.user_id)
        return box_json(data)


async def delete_task(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        row, file_row = _load_task(request, request.path_params["task_id"], "activity")
        if row["created_by"] != who.user_id:
            permissions.check(st, who, file_row, "delete")
        st.execute("DELETE FROM task_assignments WHERE task_id = ?", (row["id"],))
        st.execute("DELETE FROM tasks WHERE id = ?", (row["id"],))
    return Response(status_code=204)


# -- assignments --------------------------------------------------------------------------------
def _load_assignment(request: Request, assignment_id: str) -> tuple[sqlite3.Row, sqlite3.Row, sqlite3.Row]:
    st = store(request)
    row = st.fetch_one("SELECT * FROM task_assignments WHERE id = ?", (assignment_id,))
    if row is None:
        raise not_found()
    task, file_row = _load_task(request, row["task_id"], "activity")
    return row, task, file_row


async def create_assignment(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    task_ref = body.get("task")
    if not isinstance(task_ref, dict) or not isinstance(task_ref.get("id"), str):
        raise BoxError(400, "bad_request", "'task' is required: {type: task, id}")
    target = body.get("assign_to")
    if not isinstance(target, dict) or not (
        isinstance(target.get("id"), str) or isinstance(target.get("login"), str)
    ):
        raise BoxError(400, "bad_request", "'assign_to' is required: {id} or {login} of a user")
    st, who = store(request), caller(request)
    with st.tx():
        task, file_row = _load_task(request, task_ref["id"], "task")
        if "id" in target:
            user = st.fetch_one("SELECT * FROM users WHERE id = ?", (target["id"],))
        else:
            user = st.fetch_one("SELECT * FROM users WHERE lower(login) = lower(?)", (target["login"],))
        if user is None:
            raise not_found("User not found; 'assign_to' must name an existing user")
        if permissions.role_on(st, user["id"], file_row) is None:
            raise BoxError(
                400,
                "task_assignee_not_allowed",
                "Assigner does not have sufficient privileges to assign task to assignee",
            )
        if st.fetch_one(
            "SELECT id FROM task_assignments WHERE task_id = ? AND assigned_to = ?", (task["id"], user["id"])
        ):
            raise BoxError(400, "bad_request", "That user is already assigned to this task")
        assignment_id = st.next_id("task_assignment")
        st.insert(
            "task_assignments",
            {
                "id": assignment_id,
                "task_id": task["id"],
                "assigned_to": user["id"],
                "assigned_by": who.user_id,
                "message": task["message"],
                "assigned_at": now(),
            },
        )
        _refresh_completion(st, task["id"])
        row = st.fetch_one("SELECT * FROM task_assignments WHERE id = ?", (assignment_id,))
        assert row is not None
        data = assignment_json(st, view(request), row, file_row)
        emit_event(st, "TASK_ASSIGNMENT_CREATE", data, who.user_id)
        return box_json(data, status=201)


async def list_assignments(request: Request) -> Response:
    st = store(request)
    task, file_row = _load_task(request, request.path_params["task_id"], "activity")
    rows = st.fetch_all(
        "SELECT * FROM task_assignments WHERE task_id = ? ORDER BY CAST(id AS INTEGER)", (task["id"],)
    )
    v = view(request)
    return box_json(
        {"total_count": len(rows), "entries": [assignment_json(st, v, r, file_row) for r in rows]}
    )


async def get_assignment(request: Request) -> Response:
    row, _, file_row = _load_assignment(request, request.path_params["assignment_id"])
    return box_json(assignment_json(store(request), view(request), row, file_row))


async def update_assignment(request: Request) -> Response:
    caller(request)  # authenticate before reading the body, as Box does
    body = await json_body(request)
    st, who = store(request), caller(request)
    with st.tx():
        row, task, file_row = _load_assignment(request, request.path_params["assignment_id"])
        if row["assigned_to"] != who.user_id:
            raise BoxError(
                403, "access_denied_insufficient_permissions", "Only the assignee can resolve an assignment"
            )
        changes: dict[str, Any] = {}
        if "resolution_state" in body:
            state = choice(body, "resolution_state", RESOLUTIONS[task["action"]])
            changes["resolution_state"] = state
            changes["completed_at"] = None if state == "incomplete" else now()
        if "message" in body:
            changes["message"] = text(body, "message", max_len=10000) or ""
        if changes:
            st.update("task_assignments", {"id": row["id"]}, changes)
            _refresh_completion(st, task["id"])
        fresh = st.fetch_one("SELECT * FROM task_assignments WHERE id = ?", (row["id"],))
        assert fresh is not None
        data = assignment_json(st, view(request), fresh, file_row)
        emit_event(st, "TASK_ASSIGNMENT_UPDATE", data, who.user_id)
        return box_json(data)


async def delete_assignment(request: Request) -> Response:
    st, who = store(request), caller(request)
    with st.tx():
        row, task, file_row = _load_assignment(request, request.path_params["assignment_id"])
        if row["assigned_by"] != who.user_id and task["created_by"] != who.user_id:
            permissions.check(st, who, file_row, "update")
        st.execute("DELETE FROM task_assignments WHERE id = ?", (row["id"],))
        _refresh_completion(st, task["id"])
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/2.0/tasks", create_task, methods=["POST"]),
    Route("/2.0/tasks/{task_id:boxid}", get_task, methods=["GET"]),
    Route("/2.0/tasks/{task_id:boxid}", update_task, methods=["PUT"]),
    Route("/2.0/tasks/{task_id:boxid}", delete_task, methods=["DELETE"]),
    Route("/2.0/tasks/{task_id:boxid}/assignments", list_assignments, methods=["GET"]),
    Route("/2.0/files/{file_id:boxid}/tasks", list_file_tasks, methods=["GET"]),
    Route("/2.0/task_assignments", create_assignment, methods=["POST"]),
    Route("/2.0/task_assignments/{assignment_id:boxid}", get_assignment, methods=["GET"]),
    Route("/2.0/task_assignments/{assignment_id:boxid}", update_assignment, methods=["PUT"]),
    Route("/2.0/task_assignments/{assignment_id:boxid}", delete_assignment, methods=["DELETE"]),
]
