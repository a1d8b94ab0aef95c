"""The official SDK against trash (where a trashed item came from, restore and its conflicts), file version
restore (`PUT /files/{id}/versions/{version_id}`), and folder locks (`/folder_locks`)."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.internal.null_value import NullValue
from box_sdk_gen.managers.folder_locks import CreateFolderLockFolder, CreateFolderLockLockedOperations
from box_sdk_gen.managers.folders import UpdateFolderByIdParent
from box_sdk_gen.managers.trashed_files import RestoreFileFromTrashParent
from box_sdk_gen.managers.uploads import UploadFileVersionAttributes

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def code_of(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


# --- trash ------------------------------------------------------------------------------------------


def test_a_trashed_file_names_its_original_folder_as_parent_and_the_trash_as_its_path(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    notes = box.credentials["files"]["Engineering/notes.txt"]
    ada.files.delete_file_by_id(notes)
    trashed = ada.trashed_files.get_trashed_file_by_id(notes)
    assert trashed.parent is not None and trashed.parent.id == box.credentials["folders"]["Engineering"]
    assert [(e.id, e.name) for e in trashed.path_collection.entries] == [("1", "Trash")]
    listed = ada.trashed_items.get_trashed_items(fields=["name", "parent"], usemarker=True, limit=1)
    assert [(e.id, e.parent.id) for e in listed.entries or []] == [(notes, trashed.parent.id)]  # type: ignore[union-attr]


def test_restoring_into_a_folder_holding_the_name_is_a_409_and_a_new_name_or_parent_resolves_it(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    engineering = box.credentials["folders"]["Engineering"]
    notes = box.credentials["files"]["Engineering/notes.txt"]
    ada.files.delete_file_by_id(notes)
    ada.uploads.upload_file(
        _attrs("notes.txt", engineering), io.BytesIO(b"a new notes file where the old one was")
    )
    with pytest.raises(BoxAPIError) as err:
        ada.trashed_files.restore_file_from_trash(notes)
    assert code_of(err) == (409, "item_name_in_use")
    restored = ada.trashed_files.restore_file_from_trash(notes, name="notes (restored).txt")
    assert restored.name == "notes (restored).txt" and restored.parent is not None
    assert restored.parent.id == engineering
    ada.files.delete_file_by_id(notes)
    finance = box.credentials["folders"]["Finance"]
    moved = ada.trashed_files.restore_file_from_trash(notes, parent=RestoreFileFromTrashParent(id=finance))
    assert moved.parent is not None and moved.parent.id == finance


def test_restore_refuses_unknown_items_viewers_and_live_items(sdk: Sdk, box: RunningEmulator) -> None:
    readme = box.credentials["files"]["Engineering/README.md"]
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").trashed_files.restore_file_from_trash("987654321")
    assert code_of(err)[0] == 404
    sdk("ada").files.delete_file_by_id(readme)
    with pytest.raises(BoxAPIError) as err:  # bob only views Engineering: Box does not show him the item
        sdk("bob").trashed_files.restore_file_from_trash(readme)
    assert code_of(err)[0] == 404
    sdk("ada").trashed_files.restore_file_from_trash(readme)
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").trashed_files.restore_file_from_trash(readme)
    assert code_of(err) == (404, "not_trashed")


# --- file versions ----------------------------------------------------------------------------------


def _attrs(name: str, folder_id: str) -> object:
    from box_sdk_gen.managers.uploads import UploadFileAttributes, UploadFileAttributesParentField

    return UploadFileAttributes(name=name, parent=UploadFileAttributesParentField(id=folder_id))


def _file_with_old_version(ada: BoxClient, box: RunningEmulator) -> tuple[str, str]:
    file_id = box.credentials["files"]["Engineering/notes.txt"]
    ada.uploads.upload_file_version(file_id, UploadFileVersionAttributes(name="notes.txt"), io.BytesIO(b"v2"))
    (old,) = ada.file_versions.get_file_versions(file_id).entries or []
    return file_id, old.id


def test_a_deleted_version_is_restored_by_clearing_trashed_at(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id, old = _file_with_old_version(ada, box)
    ada.file_versions.delete_file_version_by_id(file_id, old)
    assert ada.file_versions.get_file_version_by_id(file_id, old).trashed_at is not None
    restored = ada.file_versions.update_file_version_by_id(file_id, old, trashed_at=NullValue())
    assert restored.id == old and restored.trashed_at is None
    assert ada.file_versions.get_file_version_by_id(file_id, old).trashed_at is None
    ada.file_versions.promote_file_version(file_id, id=old, type="file_version")  # usable again
    stream = ada.downloads.download_file(file_id)
    assert stream is not None and stream.read() != b"v2"


def test_version_restore_refuses_unknown_versions_other_bodies_and_viewers(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    file_id, old = _file_with_old_version(ada, box)
    with pytest.raises(BoxAPIError) as err:
        ada.file_versions.update_file_version_by_id(file_id, "999999999", trashed_at=NullValue())
    assert code_of(err)[0] == 404
    with pytest.raises(BoxAPIError) as err:  # only a restore: trashed_at must be null
        ada.file_versions.update_file_version_by_id(file_id, old, trashed_at="2026-01-01T00:00:00Z")
    assert code_of(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:  # a viewer cannot change the file's history
        sdk("bob").file_versions.update_file_version_by_id(file_id, old, trashed_at=NullValue())
    assert code_of(err)[0] == 403


# --- folder locks ------------------------------------------------------------------------------------


def _lock(client: BoxClient, folder_id: str) -> str:
    lock = client.folder_locks.create_folder_lock(
        CreateFolderLockFolder(type="folder", id=folder_id),
        locked_operations=CreateFolderLockLockedOperations(move=True, delete=True),
    )
    assert lock.folder is not None and lock.folder.id == folder_id and lock.lock_type == "freeze"
    ops = lock.locked_operations
    assert ops is not None and ops.move and ops.delete
    assert lock.id is not None
    return lock.id


def test_a_folder_lock_freezes_moves_and_deletes_until_it_is_removed(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    inbox = box.credentials["folders"]["Contracts/Inbox"]
    contracts = box.credentials["folders"]["Contracts"]
    finance = box.credentials["folders"]["Finance"]
    lock_id = _lock(ada, inbox)
    listed = ada.folder_locks.get_folder_locks(inbox)
    assert [lock.id for lock in listed.entries or []] == [lock_id]
    with pytest.raises(BoxAPIError) as err:
        ada.folders.update_folder_by_id(inbox, parent=UpdateFolderByIdParent(id=finance))
    assert code_of(err) == (403, "access_denied_item_locked")
    with pytest.raises(BoxAPIError) as err:
        ada.folders.delete_folder_by_id(inbox, recursive=True)
    assert code_of(err) == (403, "access_denied_item_locked")
    with pytest.raises(BoxAPIError) as err:  # deleting the folder above would delete the locked one
        ada.folders.delete_folder_by_id(contracts, recursive=True)
    assert code_of(err) == (403, "access_denied_item_locked")
    assert ada.folders.update_folder_by_id(inbox, name="Incoming").name == "Incoming"  # renames still work
    ada.folder_locks.delete_folder_lock_by_id(lock_id)
    assert ada.folder_locks.get_folder_locks(inbox).entries == []
    moved = ada.folders.update_folder_by_id(inbox, parent=UpdateFolderByIdParent(id=finance))
    assert moved.parent is not None and moved.parent.id == finance


def test_only_the_owner_or_a_co_owner_manages_folder_locks(sdk: Sdk, box: RunningEmulator) -> None:
    contracts = box.credentials["folders"]["Contracts"]
    with pytest.raises(BoxAPIError) as err:  # carol edits Contracts but does not own it
        _lock(sdk("carol"), contracts)
    assert code_of(err) == (404, "not_found")
    with pytest.raises(BoxAPIError) as err:
        sdk("carol").folder_locks.get_folder_locks(contracts)
    assert code_of(err) == (404, "not_found")
    lock_id = _lock(sdk("ada"), contracts)
    with pytest.raises(BoxAPIError) as err:
        sdk("carol").folder_locks.delete_folder_lock_by_id(lock_id)
    assert code_of(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").folder_locks.delete_folder_lock_by_id("999999999")
    assert code_of(err)[0] == 404


def test_a_folder_lock_must_lock_both_move_and_delete(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").folder_locks.create_folder_lock(
            CreateFolderLockFolder(type="folder", id=box.credentials["folders"]["HR"]),
            locked_operations=CreateFolderLockLockedOperations(move=True, delete=False),
        )
    assert code_of(err) == (400, "schema_validation_failed")
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").folder_locks.create_folder_lock(CreateFolderLockFolder(type="folder", id="987654321"))
    assert code_of(err)[0] == 404
