"""Folders and files beyond the basics through the SDK: update, move, copy, delete, trash, versions, locks."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.internal.null_value import NullValue
from box_sdk_gen.managers.files import CopyFileParent, UpdateFileByIdLock, UpdateFileByIdParent
from box_sdk_gen.managers.folders import CopyFolderParent, CreateFolderParent, UpdateFolderByIdParent
from box_sdk_gen.managers.uploads import (
    PreflightFileUploadCheckParent,
    UploadFileAttributes,
    UploadFileAttributesParentField,
    UploadFileVersionAttributes,
)

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def code_of(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def upload(client: BoxClient, folder_id: str, name: str, data: bytes) -> str:
    files = client.uploads.upload_file(
        UploadFileAttributes(name=name, parent=UploadFileAttributesParentField(id=folder_id)),
        io.BytesIO(data),
    )
    return files.entries[0].id  # type: ignore[index]


def test_rename_move_describe_and_tag_a_folder(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    archive = box.credentials["folders"]["Contracts/Archive"]
    moved = client.folders.update_folder_by_id(
        archive,
        name="Old Contracts",
        description="closed deals",
        tags=["legal"],
        parent=UpdateFolderByIdParent(id=box.credentials["folders"]["Finance"]),
    )
    assert moved.name == "Old Contracts" and moved.description == "closed deals"
    assert [e.name for e in moved.path_collection.entries] == ["All Files", "Finance"]
    assert moved.etag != "0"


def test_moving_a_folder_into_its_own_subfolder_is_cyclical(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").folders.update_folder_by_id(
            box.credentials["folders"]["Contracts"],
            parent=UpdateFolderByIdParent(id=box.credentials["folders"]["Contracts/Inbox"]),
        )
    assert code_of(err) == (400, "cyclical_folder_structure")


def test_rename_onto_an_existing_name_is_item_name_in_use(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").files.update_file_by_id(
            box.credentials["files"]["Engineering/notes.txt"], name="README.md"
        )
    assert code_of(err) == (409, "item_name_in_use")
    assert err.value.response_info.context_info["conflicts"]["name"] == "README.md"


def test_stale_if_match_is_412(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").folders.update_folder_by_id(
            box.credentials["folders"]["HR"], name="People", if_match="999"
        )
    assert code_of(err) == (412, "precondition_failed")


def test_copy_folder_copies_its_tree(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    copy = client.folders.copy_folder(
        box.credentials["folders"]["Contracts"], CopyFolderParent(id="0"), name="Contracts (copy)"
    )
    names = [e.name for e in client.folders.get_folder_items(copy.id).entries or []]
    assert names == ["Archive", "Inbox", "MSA-Globex.pdf", "NDA-Initech.pdf"]


def test_delete_non_empty_folder_needs_recursive_then_trash_and_restore(
    sdk: Sdk, box: RunningEmulator
) -> None:
    client = sdk("ada")
    hr = box.credentials["folders"]["HR"]
    with pytest.raises(BoxAPIError) as err:
        client.folders.delete_folder_by_id(hr)
    assert code_of(err) == (400, "folder_not_empty")
    client.folders.delete_folder_by_id(hr, recursive=True)
    with pytest.raises(BoxAPIError) as gone:
        client.files.get_file_by_id(box.credentials["files"]["HR/handbook.md"])
    assert gone.value.response_info.status_code == 404
    trash = client.trashed_items.get_trashed_items()
    assert [e.name for e in trash.entries or []] == ["HR"]
    assert client.trashed_folders.get_trashed_folder_by_id(hr).item_status == "trashed"
    restored = client.trashed_folders.restore_folder_from_trash(hr)
    assert restored.name == "HR"
    assert client.files.get_file_by_id(box.credentials["files"]["HR/handbook.md"]).item_status == "active"


def test_permanently_deleted_file_is_gone_from_trash(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    notes = box.credentials["files"]["Engineering/notes.txt"]
    client.files.delete_file_by_id(notes)
    client.trashed_files.delete_trashed_file_by_id(notes)
    with pytest.raises(BoxAPIError) as err:
        client.trashed_files.get_trashed_file_by_id(notes)
    assert err.value.response_info.status_code == 404
    assert client.trashed_items.get_trashed_items().total_count == 0


def test_restore_of_a_live_item_is_not_trashed(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").trashed_files.restore_file_from_trash(box.credentials["files"]["Engineering/notes.txt"])
    assert code_of(err) == (404, "not_trashed")


def test_copy_and_move_a_file(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    budget = box.credentials["files"]["Finance/budget-2026.csv"]
    copy = client.files.copy_file(
        budget, CopyFileParent(id=box.credentials["folders"]["HR"]), name="budget.csv"
    )
    assert copy.sha_1 == client.files.get_file_by_id(budget).sha_1
    moved = client.files.update_file_by_id(copy.id, parent=UpdateFileByIdParent(id="0"))
    assert moved.parent is not None and moved.parent.id == "0"


def test_new_version_with_if_match_and_version_history(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    file_id = box.credentials["files"]["Finance/q3-report.md"]
    etag = client.files.get_file_by_id(file_id).etag
    with pytest.raises(BoxAPIError) as err:
        client.uploads.upload_file_version(
            file_id, UploadFileVersionAttributes(name="q3-report.md"), io.BytesIO(b"v2"), if_match="12345"
        )
    assert code_of(err) == (412, "precondition_failed")
    new = client.uploads.upload_file_version(
        file_id,
        UploadFileVersionAttributes(name="q3-report.md"),
        io.BytesIO(b"# Q3 report v2\n"),
        if_match=etag,
    )
    assert new.entries[0].size == len(b"# Q3 report v2\n")  # type: ignore[index]
    versions = client.file_versions.get_file_versions(file_id)
    assert versions.total_count == 1
    old = versions.entries[0]  # type: ignore[index]
    client.file_versions.promote_file_version(file_id, id=old.id, type="file_version")
    stream = client.downloads.download_file(file_id)
    assert stream is not None and stream.read().startswith(b"# Q3 report\n\nRevenue")


def test_lock_blocks_other_editors_until_unlocked(sdk: Sdk, box: RunningEmulator) -> None:
    msa = box.credentials["files"]["Contracts/MSA-Globex.pdf"]
    locked = sdk("ada").files.update_file_by_id(msa, lock=UpdateFileByIdLock(access="lock"), fields=["lock"])
    assert locked.lock is not None and locked.lock.created_by.id == box.user_id("ada")
    with pytest.raises(BoxAPIError) as err:
        sdk("carol").files.update_file_by_id(msa, name="MSA.pdf")
    assert code_of(err) == (403, "access_denied_item_locked")
    sdk("ada").files.update_file_by_id(msa, lock=NullValue())
    assert sdk("carol").files.update_file_by_id(msa, name="MSA.pdf").name == "MSA.pdf"


def test_a_lock_that_prevents_download_blocks_other_users_downloads(sdk: Sdk, box: RunningEmulator) -> None:
    msa = box.credentials["files"]["Contracts/MSA-Globex.pdf"]
    sdk("ada").files.update_file_by_id(
        msa, lock=UpdateFileByIdLock(access="lock", is_download_prevented=True)
    )
    with pytest.raises(BoxAPIError) as err:
        sdk("carol").downloads.download_file(msa)
    assert code_of(err) == (403, "access_denied_item_locked")
    stream = sdk("ada").downloads.download_file(msa)
    assert stream is not None and stream.read().startswith(b"%PDF")


def test_editor_collaborator_can_upload_but_viewer_cannot_delete(sdk: Sdk, box: RunningEmulator) -> None:
    upload(sdk("carol"), box.credentials["folders"]["Contracts/Inbox"], "from-carol.txt", b"hello")
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").files.delete_file_by_id(box.credentials["files"]["Engineering/design.md"])
    assert code_of(err) == (403, "access_denied_insufficient_permissions")


def test_preflight_answers_upload_url_or_conflict(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    finance = box.credentials["folders"]["Finance"]
    answer = client.uploads.preflight_file_upload_check(
        name="new.csv", size=10, parent=PreflightFileUploadCheckParent(id=finance)
    )
    # the URL names the grant the check made (test_sdk_transfer_previews.py: one upload, bound, expiring)
    assert answer.upload_url.startswith(f"{box.base_url}/api/2.0/files/content?upload_session_id=")
    assert answer.upload_token
    with pytest.raises(BoxAPIError) as err:
        client.uploads.preflight_file_upload_check(
            name="budget-2026.csv", size=10, parent=PreflightFileUploadCheckParent(id=finance)
        )
    assert code_of(err) == (409, "item_name_in_use")


def test_create_folder_in_a_folder_the_caller_cannot_see_is_404(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").folders.create_folder("x", CreateFolderParent(id=box.credentials["folders"]["HR"]))
    assert err.value.response_info.status_code == 404


def test_storage_quota_and_max_upload_size_are_enforced(sdk: Sdk, box: RunningEmulator) -> None:
    store = box.emulator.store
    store.execute(
        "UPDATE users SET space_amount = 3000 WHERE id = ?", (box.user_id("ada"),)
    )  # demo uses ~2.7 KB
    with pytest.raises(BoxAPIError) as full:
        upload(sdk("ada"), "0", "big.txt", b"x" * 1000)
    assert code_of(full) == (403, "storage_limit_exceeded")
    store.execute(
        "UPDATE users SET space_amount = -1, max_upload_size = 10 WHERE id = ?", (box.user_id("ada"),)
    )
    with pytest.raises(BoxAPIError) as too_big:
        sdk("ada").uploads.preflight_file_upload_check(
            name="a.txt", size=11, parent=PreflightFileUploadCheckParent(id="0")
        )
    assert code_of(too_big) == (413, "file_size_limit_exceeded")
