"""tasks toolset: list the tasks attached to a file."""

from __future__ import annotations

from typing import Any

from box_mcp.access import Access
from box_mcp.tools.models import UserMini
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


class ListTasksInput(ToolInput):
    file_id: BoxId


class Task(ToolOutput):
    id: str
    action: str | None = None
    message: str | None = None
    due_at: str | None = None
    is_completed: bool | None = None
    completion_rule: str | None = None
    created_by: UserMini | None = None
    assignees: list[str] = []


class Tasks(ToolOutput):
    file_id: str
    total_count: int | None = None
    entries: list[Task]


def _task(raw: dict[str, Any]) -> Task:
    by = raw.get("created_by")
    assignments = (raw.get("task_assignment_collection") or {}).get("entries") or []
    assignees = []
    for a in assignments:
        to = a.get("assigned_to") if isinstance(a, dict) else None
        if isinstance(to, dict) and (to.get("login") or to.get("id")):
            assignees.append(str(to.get("login") or to.get("id")))
    return Task.model_validate(
        {
            **{
                k: raw.get(k)
                for k in ("id", "action", "message", "due_at", "is_completed", "completion_rule")
            },
            "created_by": UserMini.model_validate(by) if isinstance(by, dict) and by.get("id") else None,
            "assignees": assignees,
        }
    )


async def list_tasks(ctx: ToolContext, args: ListTasksInput) -> Tasks:
    raw = await ctx.box.get(f"/files/{args.file_id}/tasks")
    entries = [_task(t) for t in raw.get("entries") or () if isinstance(t, dict) and t.get("id")]
    return Tasks(file_id=args.file_id, total_count=raw.get("total_count"), entries=entries)


SPECS = (
    ToolSpec(
        name="list_tasks",
        title="List a file's tasks",
        description=(
            "List a file's tasks: action (review or complete), message, due date, whether done, and "
            "assignees."
        ),
        toolset="tasks",
        access=Access.READ,
        box_scopes=box_scopes("list_tasks"),
        hints=READ_HINTS,
        input_model=ListTasksInput,
        output_model=Tasks,
        handler=list_tasks,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
)
