"""The official Box SDK against the emulator core: users/me, folders, upload, download, range, errors."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.folders import CreateFolderParent
from box_sdk_gen.managers.uploads import UploadFileAttributes, UploadFileAttributesParentField

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def test_users_me_returns_the_token_owner(sdk: Sdk, box: RunningEmulator) -> None:
    me = sdk("ada").users.get_user_me()
    assert me.id == box.user_id("ada")
    assert me.name == "Ada Admin"
    assert me.enterprise is not None and me.enterprise.name == "Acme Corp"


def test_root_lists_the_admins_top_folders_folders_first(sdk: Sdk) -> None:
    items = sdk("ada").folders.get_folder_items("0")
    names = [entry.name for entry in items.entries or []]
    assert names == ["Contracts", "Engineering", "Finance", "HR", "Marketing"]
    assert items.total_count == 5


def test_collaborator_sees_collaborated_folder_in_root_and_nothing_else(
    sdk: Sdk, box: RunningEmulator
) -> None:
    names = [entry.name for entry in sdk("bob").folders.get_folder_items("0").entries or []]
    assert names == ["Engineering"]
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").folders.get_folder_by_id(box.credentials["folders"]["HR"])
    assert err.value.response_info.status_code == 404


def test_get_folder_includes_path_and_item_collection(sdk: Sdk, box: RunningEmulator) -> None:
    folder = sdk("ada").folders.get_folder_by_id(box.credentials["folders"]["Contracts/Inbox"])
    assert folder.name == "Inbox"
    assert [e.name for e in folder.path_collection.entries] == ["All Files", "Contracts"]
    assert folder.item_collection is not None
    assert [e.name for e in folder.item_collection.entries or []] == ["SOW-Umbrella-draft.pdf"]


def test_folder_items_page_by_offset_and_by_marker(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    contracts = box.credentials["folders"]["Contracts"]
    first = client.folders.get_folder_items(contracts, limit=2, offset=0)
    second = client.folders.get_folder_items(contracts, limit=2, offset=2)
    names = [e.name for e in (first.entries or []) + (second.entries or [])]
    assert names == ["Archive", "Inbox", "MSA-Globex.pdf", "NDA-Initech.pdf"]
    page = client.folders.get_folder_items(contracts, limit=3, usemarker=True)
    rest = client.folders.get_folder_items(contracts, limit=3, usemarker=True, marker=page.next_marker)
    assert [e.name for e in (page.entries or []) + (rest.entries or [])] == names
    assert not rest.next_marker


def test_create_folder_then_name_conflict_is_409_with_conflicts(sdk: Sdk) -> None:
    client = sdk("ada")
    made = client.folders.create_folder("Legal Hold", CreateFolderParent(id="0"))
    assert made.name == "Legal Hold"
    with pytest.raises(BoxAPIError) as err:
        client.folders.create_folder("legal hold", CreateFolderParent(id="0"))
    assert err.value.response_info.status_code == 409
    assert err.value.response_info.code == "item_name_in_use"
    assert err.value.response_info.context_info["conflicts"][0]["id"] == made.id


def test_upload_then_download_returns_the_same_bytes_and_sha1(sdk: Sdk, box: RunningEmulator) -> None:
    client = sdk("ada")
    data = b"quarterly numbers\n" * 1000
    files = client.uploads.upload_file(
        UploadFileAttributes(
            name="numbers.txt",
            parent=UploadFileAttributesParentField(id=box.credentials["folders"]["Finance"]),
        ),
        io.BytesIO(data),
        content_md_5=hashlib.sha1(data).hexdigest(),  # noqa: S324 - Box's digest is SHA-1
    )
    uploaded = files.entries[0]
    assert uploaded.sha_1 == hashlib.sha1(data).hexdigest()  # noqa: S324
    assert uploaded.size == len(data)
    stream = client.downloads.download_file(uploaded.id)
    assert stream is not None and stream.read() == data
    part = client.downloads.download_file(uploaded.id, range="bytes=0-8")
    assert part is not None and part.read() == data[:9]


def test_upload_with_wrong_content_md5_is_bad_digest(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").uploads.upload_file(
            UploadFileAttributes(name="x.txt", parent=UploadFileAttributesParentField(id="0")),
            io.BytesIO(b"abc"),
            content_md_5="0" * 40,
        )
    assert err.value.response_info.status_code == 400
    assert err.value.response_info.code == "bad_digest"


def test_viewer_cannot_upload_into_collaborated_folder(sdk: Sdk, box: RunningEmulator) -> None:
    engineering = box.credentials["folders"]["Engineering"]
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").uploads.upload_file(
            UploadFileAttributes(name="x.txt", parent=UploadFileAttributesParentField(id=engineering)),
            io.BytesIO(b"abc"),
        )
    assert err.value.response_info.status_code == 403
    assert err.value.response_info.code == "access_denied_insufficient_permissions"


def test_get_file_with_fields_returns_mini_plus_those_fields(sdk: Sdk, box: RunningEmulator) -> None:
    file = sdk("ada").files.get_file_by_id(
        box.credentials["files"]["Contracts/MSA-Globex.pdf"], fields=["tags", "permissions", "extension"]
    )
    assert file.tags == ["contract", "globex"]
    assert file.extension == "pdf"
    assert file.permissions is not None and file.permissions.can_download
    assert file.description is None  # not requested, so not returned
