"""Items reached through a shared link: the `boxapi` header on ordinary item routes lets a
non-collaborator read (and download, when the link allows) what the link covers, and nothing more."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.shared_links_files import (
    AddShareLinkToFileSharedLink,
    AddShareLinkToFileSharedLinkAccessField,
    AddShareLinkToFileSharedLinkPermissionsField,
)
from box_sdk_gen.managers.shared_links_folders import (
    AddShareLinkToFolderSharedLink,
    AddShareLinkToFolderSharedLinkAccessField,
)

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def _status(err: pytest.ExceptionInfo[BoxAPIError]) -> int:
    return err.value.response_info.status_code


def test_file_link_without_download_lets_others_preview_but_not_download(
    sdk: Sdk, box: RunningEmulator
) -> None:
    budget = box.credentials["files"]["Finance/budget-2026.csv"]
    link = (
        sdk("ada")
        .shared_links_files.add_share_link_to_file(
            budget,
            "shared_link",
            shared_link=AddShareLinkToFileSharedLink(
                access=AddShareLinkToFileSharedLinkAccessField.OPEN,
                permissions=AddShareLinkToFileSharedLinkPermissionsField(can_download=False),
            ),
        )
        .shared_link
    )
    assert link is not None
    header = {"boxapi": f"shared_link={link.url}"}
    bob = sdk("bob")
    with pytest.raises(BoxAPIError) as err:
        bob.files.get_file_by_id(budget)
    assert _status(err) == 404  # without the link Bob cannot see it at all
    seen = bob.files.get_file_by_id(budget, fields=["permissions"], extra_headers=header)
    assert seen.permissions is not None and not seen.permissions.can_download
    assert not seen.permissions.can_share and not seen.permissions.can_comment
    with pytest.raises(BoxAPIError) as err:
        bob.downloads.download_file(budget, extra_headers=header)
    assert _status(err) == 403
    with pytest.raises(BoxAPIError) as err:  # the link covers only that file
        bob.files.get_file_by_id(box.credentials["files"]["Finance/q3-report.md"], extra_headers=header)
    assert _status(err) == 404


def test_folder_link_lets_others_list_and_download_inside_but_not_write(
    sdk: Sdk, box: RunningEmulator
) -> None:
    hr = box.credentials["folders"]["HR"]
    link = (
        sdk("ada")
        .shared_links_folders.add_share_link_to_folder(
            hr,
            "shared_link",
            shared_link=AddShareLinkToFolderSharedLink(
                access=AddShareLinkToFolderSharedLinkAccessField.COMPANY
            ),
        )
        .shared_link
    )
    assert link is not None
    header = {"boxapi": f"shared_link={link.url}"}
    bob = sdk("bob")
    names = [e.name for e in bob.folders.get_folder_items(hr, extra_headers=header).entries or []]
    assert names == ["Sandbox", "handbook.md", "salaries.csv"]
    handbook = box.credentials["files"]["HR/handbook.md"]
    stream = bob.downloads.download_file(handbook, extra_headers=header)
    assert stream is not None and stream.read().startswith(b"# Employee handbook")
    with pytest.raises(BoxAPIError) as err:
        bob.files.delete_file_by_id(handbook, extra_headers=header)
    assert _status(err) == 403
    wrong = {"boxapi": f"shared_link={link.url.replace('/s/', '/s/x')}"}
    with pytest.raises(BoxAPIError) as err:
        bob.folders.get_folder_items(hr, extra_headers=wrong)
    assert _status(err) == 404
