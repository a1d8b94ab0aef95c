"""The official SDK against shared links: set them on items, open them with `/shared_items` + `boxapi`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx2
import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.internal.utils import create_null
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


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def test_seeded_company_link_opens_for_a_colleague(sdk: Sdk, box: RunningEmulator) -> None:
    readme = sdk("ada").shared_links_files.get_shared_link_for_file(
        box.credentials["files"]["Engineering/README.md"], "shared_link"
    )
    assert readme.shared_link is not None and readme.shared_link.access.value == "company"
    found = sdk("carol").shared_links_files.find_file_for_shared_link(f"shared_link={readme.shared_link.url}")
    assert found.name == "README.md"
    assert found.path_collection is not None


def test_open_link_with_password_needs_the_password(sdk: Sdk, box: RunningEmulator) -> None:
    file_id = box.credentials["files"]["Finance/budget-2026.csv"]
    shared = sdk("ada").shared_links_files.add_share_link_to_file(
        file_id,
        "shared_link",
        shared_link=AddShareLinkToFileSharedLink(
            access=AddShareLinkToFileSharedLinkAccessField.OPEN,
            password="s3cret-budget",
            permissions=AddShareLinkToFileSharedLinkPermissionsField(can_download=False),
        ),
    )
    link = shared.shared_link
    assert link is not None and link.is_password_enabled and link.permissions.can_download is False
    bob = sdk("bob")
    with pytest.raises(BoxAPIError) as err:
        bob.shared_links_files.find_file_for_shared_link(f"shared_link={link.url}")
    assert _code(err) == (403, "incorrect_shared_item_password")
    with pytest.raises(BoxAPIError) as err:
        bob.shared_links_files.find_file_for_shared_link(
            f"shared_link={link.url}&shared_link_password=wrong-one"
        )
    assert _code(err) == (403, "incorrect_shared_item_password")
    found = bob.shared_links_files.find_file_for_shared_link(
        f"shared_link={link.url}&shared_link_password=s3cret-budget"
    )
    assert found.id == file_id


def test_collaborators_link_refuses_non_collaborators_and_removed_link_is_404(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    folder_id = box.credentials["folders"]["Contracts"]
    shared = ada.shared_links_folders.add_share_link_to_folder(
        folder_id,
        "shared_link",
        shared_link=AddShareLinkToFolderSharedLink(
            access=AddShareLinkToFolderSharedLinkAccessField.COLLABORATORS
        ),
    )
    assert shared.shared_link is not None
    url = shared.shared_link.url
    assert sdk("carol").shared_links_folders.find_folder_for_shared_link(f"shared_link={url}").id == folder_id
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").shared_links_folders.find_folder_for_shared_link(f"shared_link={url}")
    assert _code(err)[0] == 403
    ada.shared_links_folders.remove_shared_link_from_folder(
        folder_id, "shared_link", shared_link=create_null()
    )
    with pytest.raises(BoxAPIError) as err:
        sdk("carol").shared_links_folders.find_folder_for_shared_link(f"shared_link={url}")
    assert _code(err) == (404, "not_found")


def test_shared_items_without_boxapi_header_is_bad_request(box: RunningEmulator) -> None:
    with httpx2.Client() as http:
        response = http.get(
            f"{box.base_url}/2.0/shared_items", headers={"Authorization": f"Bearer {box.token('ada')}"}
        )
        assert response.status_code == 400 and response.json()["code"] == "bad_request"
        unknown = http.get(
            f"{box.base_url}/2.0/shared_items",
            headers={"Authorization": f"Bearer {box.token('ada')}", "boxapi": "shared_link=http://x/s/nope"},
        )
        assert unknown.status_code == 404


def test_link_past_its_unshared_at_no_longer_opens(sdk: Sdk, box: RunningEmulator) -> None:
    file_id = box.credentials["files"]["Finance/q3-report.md"]
    shared = sdk("ada").shared_links_files.add_share_link_to_file(
        file_id,
        "shared_link",
        shared_link=AddShareLinkToFileSharedLink(
            access=AddShareLinkToFileSharedLinkAccessField.OPEN,
            unshared_at=datetime.now(UTC) + timedelta(days=7),
        ),
    )
    assert shared.shared_link is not None and shared.shared_link.unshared_at is not None
    url = shared.shared_link.url
    assert sdk("bob").shared_links_files.find_file_for_shared_link(f"shared_link={url}").id == file_id
    # A week passes: the link's expiry is now behind us.
    store = box.emulator.store
    row = store.fetch_one("SELECT shared_link FROM items WHERE id = ?", (file_id,))
    link = json.loads(row["shared_link"])
    link["unshared_at"] = "2020-01-01T00:00:00+00:00"
    store.execute("UPDATE items SET shared_link = ? WHERE id = ?", (json.dumps(link), file_id))
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").shared_links_files.find_file_for_shared_link(f"shared_link={url}")
    assert _code(err) == (404, "not_found")


def test_an_unshared_at_already_past_is_refused_and_the_link_is_left_as_it_was(
    sdk: Sdk, box: RunningEmulator
) -> None:
    file_id = box.credentials["files"]["Finance/q3-report.md"]
    ada = sdk("ada")
    with pytest.raises(BoxAPIError) as err:
        ada.shared_links_files.add_share_link_to_file(
            file_id,
            "shared_link",
            shared_link=AddShareLinkToFileSharedLink(
                access=AddShareLinkToFileSharedLinkAccessField.OPEN,
                unshared_at=datetime.now(UTC) - timedelta(minutes=1),
            ),
        )
    assert _code(err) == (400, "bad_request")
    errors = err.value.response_info.context_info["errors"]
    assert errors[0]["name"] == "unshared_at" and errors[0]["reason"] == "invalid_parameter"
    assert ada.files.get_file_by_id(file_id, fields=["shared_link"]).shared_link is None
