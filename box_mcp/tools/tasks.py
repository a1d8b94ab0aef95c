"""tasks toolset: a file's tasks (review or complete), their assignments, and resolving one's own.

How the policy sees them: a task belongs to its file. `list_tasks` needs read on the file; creating a task
on it, assigning it, resolving an assignment and deleting the task each need write on the file (they change
its workflow and notify people). A task id and a task assignment id stand for the file they are on: the
policy looks that file up in Box, as it does a collaboration's item, so folder grants and forbids apply.

Assigning e-mails the assignee the task's message and the file's name, so an assignee meets the same
`invitee_domains` conditions a collaborator does (by login, or by the login of the user id given). Box
itself only lets a task be assigned to someone who can already see the file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.tools.models import UserMini
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Hints,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    item,
)

Email = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
Message = Annotated[str, StringConstraints(max_length=10000)]
DueAt = Annotated[
    str,
    StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$"),
    Field(description="RFC 3339, e.g. 2026-12-31T17:00:00Z"),
]


# --- outputs ------------------------------------------------------------------------------------


class Assignment(ToolOutput):
    id: str
    assigned_to: str | None = Field(None, description="The assignee's login (or user id)")
    resolution_state: str | None = None


class Task(ToolOutput):
    id: str
    action: str | None = None
    message: str | None = None
    due_at: str | None = None
    is_completed: bool | None = None
    completion_rule: str | None = None
    created_by: UserMini | None = None
    assignments: list[Assignment] = []


class Tasks(ToolOutput):
    file_id: str
    total_count: int | None = None
    entries: list[Task]


class TaskAssignment(ToolOutput):
    id: str
    file_id: str | None = None
    assigned_to: UserMini | None = None
    assigned_by: UserMini | None = None
    resolution_state: str | None = Field(None, description="incomplete, completed, approved or rejected")
    message: str | None = None
    assigned_at: str | None = None
    completed_at: str | None = None


class TaskRemoved(ToolOutput):
    task_id: str
    removed: bool = True


def _user(raw: Any) -> UserMini | None:
    return UserMini.model_validate(raw) if isinstance(raw, dict) and raw.get("id") else None


def _assignment(raw: Any) -> Assignment | None:
    if not isinstance(raw, dict) or not raw.get("id"):
        return None
    to = raw.get("assigned_to")
    who = (to.get("login") or to.get("id")) if isinstance(to, dict) else None
    return Assignment(
        id=str(raw["id"]),
        assigned_to=str(who) if who else None,
        resolution_state=raw.get("resolution_state")
        if isinstance(raw.get("resolution_state"), str)
        else None,
    )


def _task(raw: dict[str, Any]) -> Task:
    collection = raw.get("task_assignment_collection")
    entries = collection.get("entries") if isinstance(collection, dict) else None
    assignments = [a for a in map(_assignment, entries or ()) if a is not None]
    return Task.model_validate(
        {
            **{k: raw.get(k) for k in ("action", "message", "due_at", "is_completed", "completion_rule")},
            "id": str(raw.get("id")),
            "created_by": _user(raw.get("created_by")),
            "assignments": assignments,
        }
    )


def _task_assignment(raw: dict[str, Any]) -> TaskAssignment:
    target = raw.get("item")
    plain = ("resolution_state", "message", "assigned_at", "completed_at")
    return TaskAssignment.model_validate(
        {
            **{k: raw.get(k) for k in plain},
            "id": str(raw.get("id")),
            "file_id": str(target["id"]) if isinstance(target, dict) and target.get("id") else None,
            "assigned_to": _user(raw.get("assigned_to")),
            "assigned_by": _user(raw.get("assigned_by")),
        }
    )


# --- list_tasks / create_task / delete_task -----------------------------------------------------


class ListTasksInput(ToolInput):
    file_id: BoxId


async def list_tasks(ctx: ToolContext, args: ListTasksInput) -> Tasks:
    raw = await ctx.box.get(f"/files/{args.file_id}/tasks")
    entries = [_task(t) for t in raw.get("entries") or () if isinstance(t, dict) and t.get("id")]
    return Tasks(file_id=args.file_id, total_count=raw.get("total_count"), entries=entries)


class CreateTaskInput(ToolInput):
    file_id: BoxId
    action: Literal["review", "complete"] = Field(
        "review", description="review: approve or reject; complete: mark done"
    )
    message: Message = ""
    due_at: DueAt | None = None
    completion_rule: Literal["all_assignees", "any_assignee"] = "all_assignees"


async def create_task(ctx: ToolContext, args: CreateTaskInput) -> Task:
    body: dict[str, Any] = {
        "item": {"type": "file", "id": args.file_id},
        "action": args.action,
        "message": args.message,
        "completion_rule": args.completion_rule,
    }
    if args.due_at is not None:
        body["due_at"] = args.due_at
    return _task(await ctx.box.post("/tasks", json=body))


class TaskIdInput(ToolInput):
    task_id: BoxId


async def delete_task(ctx: ToolContext, args: TaskIdInput) -> TaskRemoved:
    await ctx.box.delete(f"/tasks/{args.task_id}")
    return TaskRemoved(task_id=args.task_id)


# --- assign_task / update_task_assignment -------------------------------------------------------


class AssignTaskInput(ToolInput):
    task_id: BoxId
    user_id: BoxId | None = Field(None, description="The assignee's Box user id")
    login: Email | None = Field(None, description="Or their Box login")

    @model_validator(mode="after")
    def _one_assignee(self) -> AssignTaskInput:
        if (self.user_id is None) == (self.login is None):
            raise ValueError("give exactly one of user_id, login")
        return self


async def assign_task(ctx: ToolContext, args: AssignTaskInput) -> TaskAssignment:
    to = {"id": args.user_id} if args.user_id is not None else {"login": args.login}
    raw = await ctx.box.post(
        "/task_assignments", json={"task": {"type": "task", "id": args.task_id}, "assign_to": to}
    )
    return _task_assignment(raw)


class UpdateAssignmentInput(ToolInput):
    assignment_id: BoxId
    resolution_state: Literal["completed", "approved", "rejected", "incomplete"] = Field(
        description="A complete task: completed; a review: approved or rejected; incomplete reopens"
    )
    message: Message | None = Field(None, description="The assignee's note")


async def update_task_assignment(ctx: ToolContext, args: UpdateAssignmentInput) -> TaskAssignment:
    body = args.model_dump(include={"resolution_state", "message"}, exclude_none=True)
    return _task_assignment(await ctx.box.put(f"/task_assignments/{args.assignment_id}", json=body))


def _on(kind: str, ident: str) -> tuple[ResourceUse, ...]:
    # Not in the arguments: the file the task is on, which the policy looks up (locate.STANDS_FOR).
    return (ResourceUse(ItemRef(kind, ident), Access.WRITE, "item"),)


WRITE_ONCE = Hints(read_only=False, destructive=False, idempotent=False)

SPECS = (
    ToolSpec(
        name="list_tasks",
        title="List a file's tasks",
        description=(
            "List a file's tasks: action (review or complete), message, due date, whether done, and each "
            "assignment (id, assignee, state)."
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
    ToolSpec(
        name="create_task",
        title="Create a task on a file",
        description=(
            "Create a task on a file: review (approve/reject) or complete, with a message, optional due date "
            "and completion rule. Assign people with assign_task."
        ),
        toolset="tasks",
        access=Access.WRITE,
        box_scopes=box_scopes("create_task"),
        hints=WRITE_ONCE,
        input_model=CreateTaskInput,
        output_model=Task,
        handler=create_task,
        keeps_items_in_place=True,
        resources=lambda a: (item("file", a.file_id, Access.WRITE),),
    ),
    ToolSpec(
        name="assign_task",
        title="Assign a task",
        description=(
            "Assign a task (id from list_tasks or create_task) to a person by user_id or login; Box e-mails "
            "them. They must already have access to the file."
        ),
        toolset="tasks",
        access=Access.WRITE,
        box_scopes=box_scopes("assign_task"),
        hints=WRITE_ONCE,
        input_model=AssignTaskInput,
        output_model=TaskAssignment,
        handler=assign_task,
        keeps_items_in_place=True,
        invitee_user_field="user_id",
        resources=lambda a: _on("task", a.task_id),
        facts=lambda a: CallFacts(invitee_email=str(a.login).lower() if a.login else None),
    ),
    ToolSpec(
        name="update_task_assignment",
        title="Resolve a task assignment",
        description=(
            "Resolve an assignment given to you (id from list_tasks): completed for a complete task, "
            "approved or rejected for a review, incomplete to reopen; optional message."
        ),
        toolset="tasks",
        access=Access.WRITE,
        box_scopes=box_scopes("update_task_assignment"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=UpdateAssignmentInput,
        output_model=TaskAssignment,
        handler=update_task_assignment,
        keeps_items_in_place=True,
        resources=lambda a: _on("task_assignment", a.assignment_id),
    ),
    ToolSpec(
        name="delete_task",
        title="Delete a task",
        description="Delete a task and its assignments from its file (not restorable).",
        toolset="tasks",
        access=Access.WRITE,
        box_scopes=box_scopes("delete_task"),
        hints=Hints(read_only=False, destructive=True, idempotent=True),
        input_model=TaskIdInput,
        output_model=TaskRemoved,
        handler=delete_task,
        keeps_items_in_place=True,
        resources=lambda a: _on("task", a.task_id),
    ),
)
