"""The official SDK against task errors and group collaborations: who may resolve, delete and be assigned a
task, and who may invite a group (its invitability_level), whose members then reach the item."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.folders import CreateFolderParent
from box_sdk_gen.managers.groups import UpdateGroupByIdInvitabilityLevel
from box_sdk_gen.managers.task_assignments import (
    CreateTaskAssignmentAssignTo,
    CreateTaskAssignmentTask,
    UpdateTaskAssignmentByIdResolutionState,
)
from box_sdk_gen.managers.tasks import CreateTaskAction, CreateTaskItem
from box_sdk_gen.managers.user_collaborations import (
    CreateCollaborationAccessibleBy,
    CreateCollaborationAccessibleByTypeField,
    CreateCollaborationItem,
    CreateCollaborationItemTypeField,
    CreateCollaborationRole,
)
from box_sdk_gen.managers.web_links import CreateWebLinkParent

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _invite_group(client: BoxClient, folder_id: str, group_id: str, role: CreateCollaborationRole) -> str:
    made = client.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=folder_id),
        CreateCollaborationAccessibleBy(type=CreateCollaborationAccessibleByTypeField.GROUP, id=group_id),
        role,
    )
    return made.id


def test_task_errors_as_box_answers_them(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")  # Bob views Engineering
    design = box.credentials["files"]["Engineering/design.md"]
    task = ada.tasks.create_task(CreateTaskItem(id=design), action=CreateTaskAction.REVIEW, message="Check")
    mine = ada.task_assignments.create_task_assignment(
        CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(id=box.user_id("ada"))
    )
    with pytest.raises(BoxAPIError) as err:  # assigned twice
        ada.task_assignments.create_task_assignment(
            CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(login="ada@acme.example")
        )
    assert _code(err)[0] == 400
    with pytest.raises(BoxAPIError) as err:  # nobody by that login
        ada.task_assignments.create_task_assignment(
            CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(login="nobody@acme.example")
        )
    assert _code(err) == (404, "not_found")
    with pytest.raises(BoxAPIError) as err:  # only the assignee resolves
        bob.task_assignments.update_task_assignment_by_id(
            mine.id, resolution_state=UpdateTaskAssignmentByIdResolutionState.APPROVED
        )
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:  # a review is approved or rejected, not "completed"
        ada.task_assignments.update_task_assignment_by_id(
            mine.id, resolution_state=UpdateTaskAssignmentByIdResolutionState.COMPLETED
        )
    assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:  # a viewer may not delete someone else's task
        bob.tasks.delete_task_by_id(task.id)
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    rejected = ada.task_assignments.update_task_assignment_by_id(
        mine.id, resolution_state=UpdateTaskAssignmentByIdResolutionState.REJECTED, message="Not yet"
    )
    assert rejected.resolution_state is not None and rejected.resolution_state.value == "rejected"
    assert rejected.message == "Not yet"
    ada.tasks.delete_task_by_id(task.id)
    for call in (lambda: ada.tasks.get_task_by_id(task.id), lambda: ada.tasks.delete_task_by_id(task.id)):
        with pytest.raises(BoxAPIError) as err:
            call()
        assert _code(err) == (404, "not_found")
    with pytest.raises(BoxAPIError) as err:  # the assignment went with its task
        ada.task_assignments.get_task_assignment_by_id(mine.id)
    assert _code(err) == (404, "not_found")


def test_a_group_collaboration_lets_its_members_see_items_and_take_tasks(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada, carol = sdk("ada"), sdk("carol")  # Carol is in Legal and has nothing in Finance
    finance, legal = box.credentials["folders"]["Finance"], box.credentials["groups"]["Legal"]
    budget = box.credentials["files"]["Finance/budget-2026.csv"]
    link = ada.web_links.create_web_link("https://ledger.acme.example", CreateWebLinkParent(id=finance))
    with pytest.raises(BoxAPIError) as err:
        carol.web_links.get_web_link_by_id(link.id)
    assert _code(err) == (404, "not_found")
    task = ada.tasks.create_task(CreateTaskItem(id=budget), action=CreateTaskAction.COMPLETE)
    with pytest.raises(BoxAPIError) as err:  # not yet: Carol cannot see the file
        ada.task_assignments.create_task_assignment(
            CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(login="carol@acme.example")
        )
    assert _code(err) == (400, "task_assignee_not_allowed")
    collab = _invite_group(ada, finance, legal, CreateCollaborationRole.VIEWER)
    assert carol.web_links.get_web_link_by_id(link.id).url == "https://ledger.acme.example"
    assert carol.files.get_file_by_id(budget).id == budget
    assigned = ada.task_assignments.create_task_assignment(
        CreateTaskAssignmentTask(id=task.id), CreateTaskAssignmentAssignTo(login="carol@acme.example")
    )
    done = carol.task_assignments.update_task_assignment_by_id(
        assigned.id, resolution_state=UpdateTaskAssignmentByIdResolutionState.COMPLETED
    )
    assert done.resolution_state is not None and done.resolution_state.value == "completed"
    with pytest.raises(BoxAPIError) as err:  # a viewer through the group: no uploads
        carol.web_links.create_web_link("https://x.acme.example", CreateWebLinkParent(id=finance))
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    ada.user_collaborations.delete_collaboration_by_id(collab)
    with pytest.raises(BoxAPIError) as err:  # the group's access ends with its collaboration
        carol.web_links.get_web_link_by_id(link.id)
    assert _code(err) == (404, "not_found")


def test_who_may_invite_a_group_follows_its_invitability_level(sdk: Sdk, box: RunningEmulator) -> None:
    ada, carol, bob = sdk("ada"), sdk("carol"), sdk("bob")
    legal = box.credentials["groups"]["Legal"]
    inbox, engineering = (
        box.credentials["folders"]["Contracts/Inbox"],
        box.credentials["folders"]["Engineering"],
    )
    assert ada.groups.get_group_by_id(legal).invitability_level.value == "admins_only"
    with pytest.raises(BoxAPIError) as err:  # Carol edits Contracts, but Legal is admins_only
        _invite_group(carol, inbox, legal, CreateCollaborationRole.VIEWER)
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    ada.groups.update_group_by_id(
        legal, invitability_level=UpdateGroupByIdInvitabilityLevel.ADMINS_AND_MEMBERS
    )
    made = _invite_group(carol, inbox, legal, CreateCollaborationRole.VIEWER)  # she is a member
    assert carol.user_collaborations.get_collaboration_by_id(made).accessible_by is not None
    ada.user_collaborations.delete_collaboration_by_id(made)
    # Bob is no member: on a folder of his own he may invite people, but not this group
    own = bob.folders.create_folder("Bob's", CreateFolderParent(id="0"))
    with pytest.raises(BoxAPIError) as err:
        _invite_group(bob, own.id, legal, CreateCollaborationRole.VIEWER)
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    ada.groups.update_group_by_id(
        legal, invitability_level=UpdateGroupByIdInvitabilityLevel.ALL_MANAGED_USERS
    )
    assert _invite_group(bob, own.id, legal, CreateCollaborationRole.EDITOR)
    with pytest.raises(BoxAPIError) as err:  # a viewer cannot invite at all, whatever the group allows
        _invite_group(bob, engineering, legal, CreateCollaborationRole.VIEWER)
    assert _code(err)[0] == 403
    with pytest.raises(BoxAPIError) as err:  # no such group
        _invite_group(ada, inbox, "17999999999", CreateCollaborationRole.VIEWER)
    assert _code(err) == (404, "not_found")
