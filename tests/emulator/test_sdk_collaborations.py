"""The official SDK against the emulator's collaborations: roles, inheritance down the tree, invites."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.folders import CreateFolderParent
from box_sdk_gen.managers.list_collaborations import GetCollaborationsStatus
from box_sdk_gen.managers.uploads import UploadFileAttributes, UploadFileAttributesParentField
from box_sdk_gen.managers.user_collaborations import (
    CreateCollaborationAccessibleBy,
    CreateCollaborationAccessibleByTypeField,
    CreateCollaborationItem,
    CreateCollaborationItemTypeField,
    CreateCollaborationRole,
    UpdateCollaborationByIdRole,
)

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def _invite(client: BoxClient, folder_id: str, user_id: str, role: CreateCollaborationRole) -> str:
    collab = client.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=folder_id),
        CreateCollaborationAccessibleBy(type=CreateCollaborationAccessibleByTypeField.USER, id=user_id),
        role,
    )
    assert collab.role is not None and collab.role.value == role.value
    return collab.id


def _upload(client: BoxClient, folder_id: str, name: str, data: bytes = b"hello") -> str:
    files = client.uploads.upload_file(
        UploadFileAttributes(name=name, parent=UploadFileAttributesParentField(id=folder_id)),
        io.BytesIO(data),
    )
    assert files.entries
    return files.entries[0].id


def _status(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def test_collaborator_on_a_folder_sees_files_in_its_subfolders(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    finance = box.credentials["folders"]["Finance"]
    sub = ada.folders.create_folder("Forecasts", CreateFolderParent(id=finance))
    file_id = _upload(ada, sub.id, "fy27.md", b"# forecast\n")
    with pytest.raises(BoxAPIError) as err:
        bob.files.get_file_by_id(file_id)
    assert _status(err)[0] == 404
    _invite(ada, finance, box.user_id("bob"), CreateCollaborationRole.VIEWER)
    assert bob.files.get_file_by_id(file_id).name == "fy27.md"
    listed = bob.folders.get_folder_items(sub.id)
    assert [e.name for e in listed.entries or []] == ["fy27.md"]
    assert "Finance" in [e.name for e in bob.folders.get_folder_items("0").entries or []]


def test_viewer_cannot_upload_and_uploader_cannot_download(sdk: Sdk, box: RunningEmulator) -> None:
    ada, carol = sdk("ada"), sdk("carol")
    marketing = box.credentials["folders"]["Marketing"]
    collab_id = _invite(ada, marketing, box.user_id("carol"), CreateCollaborationRole.VIEWER)
    with pytest.raises(BoxAPIError) as err:
        _upload(carol, marketing, "brief.txt")
    assert _status(err) == (403, "access_denied_insufficient_permissions")
    ada.user_collaborations.update_collaboration_by_id(collab_id, role=UpdateCollaborationByIdRole.UPLOADER)
    uploaded = _upload(carol, marketing, "brief.txt")
    with pytest.raises(BoxAPIError) as err:
        carol.downloads.download_file(box.credentials["files"]["Marketing/launch-plan.docx"])
    assert _status(err) == (403, "access_denied_insufficient_permissions")
    assert ada.files.get_file_by_id(uploaded).owned_by.id == box.user_id("ada")


def test_inviting_the_same_user_twice_is_user_already_collaborator(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        _invite(
            sdk("ada"),
            box.credentials["folders"]["Engineering"],
            box.user_id("bob"),
            CreateCollaborationRole.EDITOR,
        )
    assert _status(err) == (400, "user_already_collaborator")


def test_invite_by_login_and_by_group_then_list_get_and_delete(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    hr = box.credentials["folders"]["HR"]
    by_login = ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=hr),
        CreateCollaborationAccessibleBy(
            type=CreateCollaborationAccessibleByTypeField.USER, login="bob@acme.example"
        ),
        CreateCollaborationRole.PREVIEWER,
    )
    assert by_login.accessible_by is not None and by_login.accessible_by.id == box.user_id("bob")
    by_group = ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=hr),
        CreateCollaborationAccessibleBy(
            type=CreateCollaborationAccessibleByTypeField.GROUP, id=box.credentials["groups"]["Legal"]
        ),
        CreateCollaborationRole.EDITOR,
    )
    # Carol is in Legal: the group's editor role reaches her, down the tree.
    assert sdk("carol").files.get_file_by_id(box.credentials["files"]["HR/handbook.md"]).name == "handbook.md"
    listed = ada.list_collaborations.get_folder_collaborations(hr)
    ids = {c.id for c in listed.entries or []}
    assert {by_login.id, by_group.id} <= ids
    assert ada.user_collaborations.get_collaboration_by_id(by_group.id).role.value == "editor"
    ada.user_collaborations.delete_collaboration_by_id(by_group.id)
    with pytest.raises(BoxAPIError) as err:
        sdk("carol").files.get_file_by_id(box.credentials["files"]["HR/handbook.md"])
    assert _status(err)[0] == 404


def test_file_collaborations_and_previewer_cannot_download(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Finance/q3-report.md"]
    collab = ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FILE, id=file_id),
        CreateCollaborationAccessibleBy(
            type=CreateCollaborationAccessibleByTypeField.USER, id=box.user_id("bob")
        ),
        CreateCollaborationRole.PREVIEWER,
    )
    entries = ada.list_collaborations.get_file_collaborations(file_id).entries or []
    assert [c.id for c in entries] == [collab.id]
    assert sdk("bob").files.get_file_by_id(file_id).name == "q3-report.md"
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").downloads.download_file(file_id)
    assert _status(err)[0] == 403


def test_only_someone_who_can_invite_may_add_collaborators(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        _invite(
            sdk("bob"),
            box.credentials["folders"]["Engineering"],
            box.user_id("carol"),
            CreateCollaborationRole.VIEWER,
        )
    assert _status(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        _invite(
            sdk("carol"),
            box.credentials["folders"]["Contracts"],
            box.user_id("bob"),
            CreateCollaborationRole.CO_OWNER,
        )
    assert _status(err)[0] == 403


def test_collaborating_the_root_folder_is_refused(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        _invite(sdk("ada"), "0", box.user_id("bob"), CreateCollaborationRole.VIEWER)
    assert _status(err) == (400, "collaborations_not_available_on_root_folder")


def test_ownership_transfer_makes_the_old_owner_an_editor(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    folder = ada.folders.create_folder("Handover", CreateFolderParent(id="0"))
    collab_id = _invite(ada, folder.id, box.user_id("bob"), CreateCollaborationRole.EDITOR)
    ada.user_collaborations.update_collaboration_by_id(collab_id, role=UpdateCollaborationByIdRole.OWNER)
    moved = sdk("bob").folders.get_folder_by_id(folder.id)
    assert moved.owned_by is not None and moved.owned_by.id == box.user_id("bob")
    assert ada.user_collaborations.get_collaboration_by_id(collab_id).role.value == "editor"


def test_invite_to_an_unknown_login_is_pending_and_listed_for_nobody_else(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    collab = ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(
            type=CreateCollaborationItemTypeField.FOLDER, id=box.credentials["folders"]["Finance"]
        ),
        CreateCollaborationAccessibleBy(
            type=CreateCollaborationAccessibleByTypeField.USER, login="auditor@outside.example"
        ),
        CreateCollaborationRole.VIEWER,
    )
    assert collab.status is not None and collab.status.value == "pending"
    assert collab.invite_email == "auditor@outside.example" and collab.item is None
    assert sdk("bob").list_collaborations.get_collaborations(GetCollaborationsStatus.PENDING).entries == []


def test_expired_collaboration_grants_nothing(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    marketing = box.credentials["folders"]["Marketing"]
    collab = ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=marketing),
        CreateCollaborationAccessibleBy(
            type=CreateCollaborationAccessibleByTypeField.USER, id=box.user_id("bob")
        ),
        CreateCollaborationRole.VIEWER,
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )
    assert sdk("bob").folders.get_folder_by_id(marketing).name == "Marketing"
    # Time passes: the collaboration's expiry is now behind us.
    box.emulator.store.execute("UPDATE collaborations SET expires_at = 1 WHERE id = ?", (collab.id,))
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").folders.get_folder_by_id(marketing)
    assert _status(err)[0] == 404
    with pytest.raises(BoxAPIError) as err:
        ada.user_collaborations.create_collaboration(
            CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=marketing),
            CreateCollaborationAccessibleBy(
                type=CreateCollaborationAccessibleByTypeField.USER, id=box.user_id("carol")
            ),
            CreateCollaborationRole.VIEWER,
            expires_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
    assert _status(err) == (400, "bad_request")


def test_group_collaborations_list_what_the_group_was_invited_to(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    legal = box.credentials["groups"]["Legal"]
    collab = ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(
            type=CreateCollaborationItemTypeField.FOLDER, id=box.credentials["folders"]["Finance"]
        ),
        CreateCollaborationAccessibleBy(type=CreateCollaborationAccessibleByTypeField.GROUP, id=legal),
        CreateCollaborationRole.VIEWER,
    )
    listed = ada.list_collaborations.get_group_collaborations(legal)
    assert [c.id for c in listed.entries or []] == [collab.id] and listed.total_count == 1
