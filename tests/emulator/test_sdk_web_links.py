"""The official SDK against web links: CRUD, their place in folder listings, and trash."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.web_links import CreateWebLinkParent, UpdateWebLinkByIdParent

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def test_web_link_crud_and_it_lists_after_files(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    engineering = box.credentials["folders"]["Engineering"]
    link = ada.web_links.create_web_link(
        "https://status.acme.example",
        CreateWebLinkParent(id=engineering),
        name="Status page",
        description="uptime",
    )
    assert link.url == "https://status.acme.example" and link.name == "Status page"
    names = [(e.type, e.name) for e in ada.folders.get_folder_items(engineering).entries or []]
    assert names[-1] == ("web_link", "Status page")
    assert sdk("bob").web_links.get_web_link_by_id(link.id).name == "Status page"  # viewers see it
    renamed = ada.web_links.update_web_link_by_id(link.id, name="Status", url="https://status2.acme.example")
    assert renamed.name == "Status" and renamed.url == "https://status2.acme.example"
    moved = ada.web_links.update_web_link_by_id(
        link.id, parent=UpdateWebLinkByIdParent(id=box.credentials["folders"]["Finance"])
    )
    assert moved.parent is not None and moved.parent.id == box.credentials["folders"]["Finance"]
    ada.web_links.delete_web_link_by_id(link.id)
    assert link.id not in [
        e.id for e in ada.folders.get_folder_items(box.credentials["folders"]["Finance"]).entries or []
    ]


def test_bad_web_links_are_refused_with_box_errors(sdk: Sdk, box: RunningEmulator) -> None:
    engineering = box.credentials["folders"]["Engineering"]
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").web_links.create_web_link("ftp://files.acme.example", CreateWebLinkParent(id=engineering))
    assert err.value.response_info.status_code == 400
    with pytest.raises(BoxAPIError) as err:  # a viewer cannot add to the folder
        sdk("bob").web_links.create_web_link("https://x.example", CreateWebLinkParent(id=engineering))
    assert err.value.response_info.status_code == 403
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").web_links.get_web_link_by_id("999999999")
    assert err.value.response_info.status_code == 404


def test_trashed_web_link_can_be_read_restored_and_purged(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    finance = box.credentials["folders"]["Finance"]
    link = ada.web_links.create_web_link(
        "https://ledger.acme.example", CreateWebLinkParent(id=finance), name="Ledger"
    )
    ada.web_links.delete_web_link_by_id(link.id)
    trashed = ada.trashed_web_links.get_trashed_web_link_by_id(link.id)
    assert trashed.item_status is not None and trashed.item_status.value == "trashed"
    restored = ada.trashed_web_links.restore_weblink_from_trash(link.id)
    assert restored.item_status is not None and restored.item_status.value == "active"
    assert "Ledger" in [e.name for e in ada.folders.get_folder_items(finance).entries or []]
    ada.web_links.delete_web_link_by_id(link.id)
    ada.trashed_web_links.delete_trashed_web_link_by_id(link.id)
    with pytest.raises(BoxAPIError) as err:
        ada.trashed_web_links.get_trashed_web_link_by_id(link.id)
    assert err.value.response_info.status_code == 404


def test_a_web_link_without_a_name_is_named_by_its_url(sdk: Sdk, box: RunningEmulator) -> None:
    link = sdk("ada").web_links.create_web_link(
        "https://acme.example/launch?x=1", CreateWebLinkParent(id=box.credentials["folders"]["Marketing"])
    )
    assert link.name == "https://acme.example/launch?x=1"  # Box: "Defaults to the URL if not set"
    assert link.parent is not None and link.parent.id == box.credentials["folders"]["Marketing"]


def test_changing_web_links_is_refused_with_box_errors(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")  # Bob views Engineering and sees nothing of HR
    engineering, hr = box.credentials["folders"]["Engineering"], box.credentials["folders"]["HR"]
    link = ada.web_links.create_web_link("https://status.acme.example", CreateWebLinkParent(id=engineering))
    cases = [
        (
            lambda: ada.web_links.update_web_link_by_id(link.id, url="mailto:x@acme.example"),
            400,
            "bad_request",
        ),
        (lambda: bob.web_links.update_web_link_by_id(link.id, name="mine"), 403, None),
        (lambda: bob.web_links.update_web_link_by_id(link.id, url="https://x.example"), 403, None),
        (lambda: bob.web_links.delete_web_link_by_id(link.id), 403, None),
        (
            lambda: ada.web_links.update_web_link_by_id(link.id, parent=UpdateWebLinkByIdParent(id="999999")),
            404,
            "not_found",
        ),
        (lambda: ada.web_links.update_web_link_by_id(link.id, name="a/b"), 400, "item_name_invalid"),
    ]
    for call, status, code in cases:
        with pytest.raises(BoxAPIError) as err:
            call()
        assert err.value.response_info.status_code == status
        if code is not None:
            assert err.value.response_info.code == code
    hr_link = ada.web_links.create_web_link("https://payroll.acme.example", CreateWebLinkParent(id=hr))
    with pytest.raises(BoxAPIError) as err:  # Box never confirms a link the caller cannot see
        bob.web_links.get_web_link_by_id(hr_link.id)
    assert err.value.response_info.status_code == 404
    with pytest.raises(BoxAPIError) as err:  # nor moves anything into a folder the caller cannot see
        bob.web_links.update_web_link_by_id(link.id, parent=UpdateWebLinkByIdParent(id=hr))
    assert err.value.response_info.status_code == 403  # a viewer may not move it at all
    assert ada.web_links.get_web_link_by_id(link.id).url == "https://status.acme.example"
