"""The official SDK against comments, tasks and task assignments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.comments import CreateCommentItem, CreateCommentItemTypeField
from box_sdk_gen.managers.task_assignments import (
    CreateTaskAssignmentAssignTo,
    CreateTaskAssignmentTask,
    UpdateTaskAssignmentByIdResolutionState,
)
from box_sdk_gen.managers.tasks import CreateTaskAction, CreateTaskCompletionRule, CreateTaskItem

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def test_comment_reply_list_edit_and_delete(sdk: Sdk, box: RunningEmulator) -> None:
    file_id = box.credentials["files"]["Engineering/design.md"]
    bob, ada = sdk("bob"), sdk("ada")  # Bob is a viewer on Engineering: viewers may comment
    first = bob.comments.create_comment(
        "Is gRPC settled?", CreateCommentItem(id=file_id, type=CreateCommentItemTypeField.FILE)
    )
    reply = ada.comments.create_comment(
        "Yes, see the ADR.",
        CreateCommentItem(id=first.id, type=CreateCommentItemTypeField.COMMENT),
        tagged_message=f"@[{box.user_id('bob')}:Bob Builder] yes, see the ADR.",
    )
    assert reply.is_reply_comment and reply.tagged_message.startswith("@[")
    listed = ada.comments.get_file_comments(file_id)
    assert [c.id for c in listed.entries or []] == [first.id, reply.id]
    assert ada.files.get_file_by_id(file_id, fields=["comment_count"]).comment_count == 2
    edited = bob.comments.update_comment_by_id(first.id, message="Is gRPC final?")
    assert edited.message == "Is gRPC final?"
    with pytest.raises(BoxAPIError) as err:
        ada.comments.update_comment_by_id(first.id, message="not mine")
    assert _code(err)[0] == 403
    ada.comments.delete_comment_by_id(first.id)  # the owner may delete anyone's comment
    assert ada.comments.get_file_comments(file_id).total_count == 0


def test_comment_on_an_invisible_file_is_404_and_empty_message_400(sdk: Sdk, box: RunningEmulator) -> None:
    salaries = box.credentials["files"]["HR/salaries.csv"]
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").comments.create_comment(
            "hi", CreateCommentItem(id=salaries, type=CreateCommentItemTypeField.FILE)
        )
    assert _code(err) == (404, "not_found")
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").comments.create_comment(
            "", CreateCommentItem(id=salaries, type=CreateCommentItemTypeField.FILE)
        )
    assert _code(err) == (400, "bad_request")


def test_task_assignments_complete_the_task_by_rule(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Contracts/NDA-Initech.pdf"]
    task = ada.tasks.create_task(
        CreateTaskItem(id=file_id),
        action=CreateTaskAction.COMPLETE,
        message="Countersign",
        completion_rule=CreateTaskCompletionRule.ANY_ASSIGNEE,
    )
    assert task.is_completed is False
    assignment = ada.task_assignments.create_task_assignment(
        CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(id=box.user_id("carol"))
    )
    with pytest.raises(BoxAPIError) as err:  # Bob cannot see Contracts
        ada.task_assignments.create_task_assignment(
            CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(login="bob@acme.example")
        )
    assert _code(err) == (400, "task_assignee_not_allowed")
    done = sdk("carol").task_assignments.update_task_assignment_by_id(
        assignment.id, resolution_state=UpdateTaskAssignmentByIdResolutionState.COMPLETED
    )
    assert done.resolution_state.value == "completed" and done.completed_at is not None
    assert ada.tasks.get_task_by_id(task.id).is_completed is True
    assert [t.id for t in ada.tasks.get_file_tasks(file_id).entries or []] == [task.id]
    assert ada.task_assignments.get_task_assignments(task.id).total_count == 1
    with pytest.raises(BoxAPIError) as err:  # a complete-task cannot be "approved"
        sdk("carol").task_assignments.update_task_assignment_by_id(
            assignment.id, resolution_state=UpdateTaskAssignmentByIdResolutionState.APPROVED
        )
    assert _code(err) == (400, "bad_request")
    ada.task_assignments.delete_task_assignment_by_id(assignment.id)
    ada.tasks.delete_task_by_id(task.id)
    assert ada.tasks.get_file_tasks(file_id).total_count == 0


def test_get_comment_update_task_and_get_assignment(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Finance/budget-2026.csv"]
    comment = ada.comments.create_comment(
        "Check Q2", CreateCommentItem(id=file_id, type=CreateCommentItemTypeField.FILE)
    )
    assert ada.comments.get_comment_by_id(comment.id, fields=["message"]).message == "Check Q2"
    task = ada.tasks.create_task(CreateTaskItem(id=file_id), message="Review budget")
    changed = ada.tasks.update_task_by_id(
        task.id, message="Review budget by Friday", due_at=datetime(2030, 1, 4, tzinfo=UTC)
    )
    assert changed.message == "Review budget by Friday" and changed.due_at is not None
    assignment = ada.task_assignments.create_task_assignment(
        CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(id=box.user_id("ada"))
    )
    fetched = ada.task_assignments.get_task_assignment_by_id(assignment.id)
    assert fetched.assigned_to is not None and fetched.assigned_to.id == box.user_id("ada")
    assert fetched.resolution_state.value == "incomplete"
