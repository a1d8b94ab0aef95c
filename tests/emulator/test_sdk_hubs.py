"""The official SDK against Box Hubs (2025.0): hubs, copy, items, collaborations, the enterprise listing,
and their errors; every JSON answer is checked against Box's 2025.0 OpenAPI spec (the `box` fixture)."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest
from box_sdk_gen import BaseUrls, BoxAPIError, BoxClient, BoxDeveloperTokenAuth, NetworkSession
from box_sdk_gen.managers.hub_collaborations import (
    CreateHubCollaborationV2025R0AccessibleBy,
    CreateHubCollaborationV2025R0Hub,
)
from box_sdk_gen.managers.hubs import GetHubsV2025R0Direction, UpdateHubByIdV2025R0CopyHubAccess
from box_sdk_gen.schemas.v2025_r0.file_reference_v2025_r0 import FileReferenceV2025R0
from box_sdk_gen.schemas.v2025_r0.folder_reference_v2025_r0 import FolderReferenceV2025R0
from box_sdk_gen.schemas.v2025_r0.hub_item_operation_v2025_r0 import (
    HubItemOperationV2025R0,
    HubItemOperationV2025R0ActionField,
)

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
ADD, REMOVE = HubItemOperationV2025R0ActionField.ADD, HubItemOperationV2025R0ActionField.REMOVE


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _share(client: BoxClient, hub_id: str, login: str, role: str) -> str:
    collab = client.hub_collaborations.create_hub_collaboration_v2025_r0(
        CreateHubCollaborationV2025R0Hub(id=hub_id),
        CreateHubCollaborationV2025R0AccessibleBy(type="user", login=login),
        role,
    )
    return str(collab.id)


def test_create_get_update_list_and_delete_a_hub(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    hub = ada.hubs.create_hub_v2025_r0("Contracts hub", description="All the contracts")
    assert hub.type == "hubs" and hub.title == "Contracts hub" and hub.created_by.login == "ada@acme.example"
    assert hub.copy_hub_access.value == "company" and hub.is_ai_enabled is True
    got = ada.hubs.get_hub_by_id_v2025_r0(hub.id)
    assert got.description == "All the contracts" and got.view_count == 1
    updated = ada.hubs.update_hub_by_id_v2025_r0(
        hub.id, title="Legal hub", copy_hub_access=UpdateHubByIdV2025R0CopyHubAccess.NONE, is_ai_enabled=False
    )
    assert (
        updated.title == "Legal hub" and updated.copy_hub_access.value == "none" and not updated.is_ai_enabled
    )
    other = ada.hubs.create_hub_v2025_r0("Alpha hub")
    listed = ada.hubs.get_hubs_v2025_r0(sort="name", direction=GetHubsV2025R0Direction.ASC)
    assert [h.title for h in listed.entries] == ["Alpha hub", "Legal hub"]
    assert [h.id for h in ada.hubs.get_hubs_v2025_r0(query="legal").entries] == [hub.id]
    first = ada.hubs.get_hubs_v2025_r0(limit=1, sort="name", direction=GetHubsV2025R0Direction.ASC)
    assert [h.id for h in first.entries] == [other.id] and first.next_marker
    second = ada.hubs.get_hubs_v2025_r0(limit=1, marker=first.next_marker, sort="name")
    assert [h.id for h in second.entries] == [hub.id] and not second.next_marker
    ada.hubs.delete_hub_by_id_v2025_r0(hub.id)
    with pytest.raises(BoxAPIError) as err:
        ada.hubs.get_hub_by_id_v2025_r0(hub.id)
    assert _code(err) == (404, "not_found")


def test_hub_input_errors(sdk: Sdk) -> None:
    ada = sdk("ada")
    for title in ("", "x" * 51):
        with pytest.raises(BoxAPIError) as err:
            ada.hubs.create_hub_v2025_r0(title)
        assert _code(err) == (400, "bad_request")
    hub = ada.hubs.create_hub_v2025_r0("Hub")
    with pytest.raises(BoxAPIError) as err:
        ada.hubs.get_hubs_v2025_r0(scope="mine")
    assert _code(err) == (400, "bad_request") and "scope" in str(err.value.response_info.body)
    with pytest.raises(BoxAPIError) as err:
        ada.hub_items.manage_hub_items_v2025_r0(hub.id, operations=[])
    assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:
        ada.hubs.get_hub_by_id_v2025_r0("999999999")
    assert _code(err) == (404, "not_found")


def test_hubs_need_the_2025_version_header(box: RunningEmulator) -> None:
    headers = {"Authorization": f"Bearer {box.token('ada')}"}
    missing = httpx2.get(f"{box.base_url}/2.0/hubs", headers=headers)
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_api_version"
    assert "Missing required box-version header" in missing.json()["message"]
    old = httpx2.get(f"{box.base_url}/2.0/hubs", headers=headers | {"box-version": "2024.0"})
    assert old.status_code == 400 and "Unsupported API version" in old.json()["message"]
    ok = httpx2.get(f"{box.base_url}/2.0/hubs", headers=headers | {"box-version": "2025.0"})
    assert ok.status_code == 200 and ok.json()["entries"] == []


def test_hub_items_add_list_remove_with_per_operation_status(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    files, folders = box.credentials["files"], box.credentials["folders"]
    hub = ada.hubs.create_hub_v2025_r0("Engineering hub")
    result = ada.hub_items.manage_hub_items_v2025_r0(
        hub.id,
        operations=[
            HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id=files["Engineering/design.md"])),
            HubItemOperationV2025R0(action=ADD, item=FolderReferenceV2025R0(id=folders["Finance"])),
            HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id="999999999")),
            HubItemOperationV2025R0(action=ADD, item=FolderReferenceV2025R0(id=folders["Finance"])),
        ],
    )
    assert [op.status for op in result.operations] == [200, 200, 404, 409]
    items = ada.hub_items.get_hub_items_v2025_r0(hub.id)
    assert [(i.type.value, i.name) for i in items.entries] == [("file", "design.md"), ("folder", "Finance")]
    page = ada.hub_items.get_hub_items_v2025_r0(hub.id, limit=1)
    assert len(page.entries) == 1 and page.next_marker
    removed = ada.hub_items.manage_hub_items_v2025_r0(
        hub.id,
        operations=[
            HubItemOperationV2025R0(action=REMOVE, item=FolderReferenceV2025R0(id=folders["Finance"])),
            HubItemOperationV2025R0(action=REMOVE, item=FolderReferenceV2025R0(id=folders["HR"])),
        ],
    )
    assert [op.status for op in removed.operations] == [200, 404]
    assert [i.name for i in ada.hub_items.get_hub_items_v2025_r0(hub.id).entries] == ["design.md"]
    with pytest.raises(BoxAPIError) as err:
        ada.hub_items.get_hub_items_v2025_r0(hub.id, parent_id="not-a-block")
    assert _code(err) == (404, "not_found")


def test_hub_roles_visibility_and_item_visibility(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    files = box.credentials["files"]
    hub = ada.hubs.create_hub_v2025_r0("Mixed hub")
    ada.hub_items.manage_hub_items_v2025_r0(
        hub.id,
        operations=[
            HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id=files["Engineering/design.md"])),
            HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id=files["HR/salaries.csv"])),
        ],
    )
    with pytest.raises(BoxAPIError) as err:  # not a collaborator: Box never confirms the hub exists
        bob.hubs.get_hub_by_id_v2025_r0(hub.id)
    assert _code(err) == (404, "not_found")
    assert bob.hubs.get_hubs_v2025_r0().entries == []
    collab = _share(ada, hub.id, "bob@acme.example", "viewer")
    assert [h.id for h in bob.hubs.get_hubs_v2025_r0(scope="view_only").entries] == [hub.id]
    assert bob.hubs.get_hubs_v2025_r0(scope="editable").entries == []
    # Bob sees only the hub items he can see himself (Engineering is shared with him; HR is not)
    assert [i.name for i in bob.hub_items.get_hub_items_v2025_r0(hub.id).entries] == ["design.md"]
    with pytest.raises(BoxAPIError) as err:  # a viewer may not change the hub
        bob.hubs.update_hub_by_id_v2025_r0(hub.id, title="mine")
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        bob.hub_items.manage_hub_items_v2025_r0(
            hub.id,
            operations=[
                HubItemOperationV2025R0(
                    action=ADD, item=FileReferenceV2025R0(id=files["Engineering/README.md"])
                )
            ],
        )
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        bob.hubs.delete_hub_by_id_v2025_r0(hub.id)
    assert _code(err)[0] == 403
    listed = ada.hub_collaborations.get_hub_collaborations_v2025_r0(hub.id)
    assert [(c.accessible_by.login, c.role) for c in listed.entries] == [("bob@acme.example", "viewer")]
    ada.hub_collaborations.delete_hub_collaboration_by_id_v2025_r0(collab)
    with pytest.raises(BoxAPIError) as err:
        bob.hubs.get_hub_by_id_v2025_r0(hub.id)
    assert _code(err) == (404, "not_found")


def test_an_editor_adds_only_items_they_can_see(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    files = box.credentials["files"]
    hub = ada.hubs.create_hub_v2025_r0("Team hub")
    _share(ada, hub.id, "bob@acme.example", "editor")
    result = bob.hub_items.manage_hub_items_v2025_r0(
        hub.id,
        operations=[
            HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id=files["Engineering/README.md"])),
            HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id=files["HR/salaries.csv"])),
        ],
    )
    assert [op.status for op in result.operations] == [200, 404]  # HR is invisible to Bob
    with pytest.raises(BoxAPIError) as err:  # editors manage items, not the hub's settings
        bob.hubs.update_hub_by_id_v2025_r0(hub.id, title="Bob's")
    assert _code(err)[0] == 403


def test_copy_hub_with_and_without_items_and_copy_access(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    files = box.credentials["files"]
    hub = ada.hubs.create_hub_v2025_r0("Source hub", description="desc")
    ada.hub_items.manage_hub_items_v2025_r0(
        hub.id,
        operations=[
            HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id=files["Engineering/design.md"]))
        ],
    )
    plain = ada.hubs.copy_hub_v2025_r0(hub.id)
    assert plain.id != hub.id and plain.title == "Source hub" and plain.description == "desc"
    assert ada.hub_items.get_hub_items_v2025_r0(plain.id).entries == []
    full = ada.hubs.copy_hub_v2025_r0(hub.id, title="Copy", include_items=True)
    assert [i.name for i in ada.hub_items.get_hub_items_v2025_r0(full.id).entries] == ["design.md"]
    _share(ada, hub.id, "bob@acme.example", "viewer")
    # Bob is only a viewer of Engineering: the copy leaves out items he cannot edit
    bobs = bob.hubs.copy_hub_v2025_r0(hub.id, title="Bob's copy", include_items=True)
    assert bobs.created_by.login == "bob@acme.example"
    assert bob.hub_items.get_hub_items_v2025_r0(bobs.id).entries == []
    ada.hubs.update_hub_by_id_v2025_r0(hub.id, copy_hub_access=UpdateHubByIdV2025R0CopyHubAccess.NONE)
    with pytest.raises(BoxAPIError) as err:
        bob.hubs.copy_hub_v2025_r0(hub.id)
    assert _code(err) == (403, "access_denied_insufficient_permissions")


def test_enterprise_hubs_are_for_admins(sdk: Sdk) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    bobs = bob.hubs.create_hub_v2025_r0("Bob's own hub")
    listed = ada.hubs.get_enterprise_hubs_v2025_r0()
    assert bobs.id in [h.id for h in listed.entries]
    with pytest.raises(BoxAPIError) as err:
        bob.hubs.get_enterprise_hubs_v2025_r0()
    assert _code(err) == (403, "access_denied_insufficient_permissions")


def test_downscoped_tokens_on_hubs(sdk: Sdk, box: RunningEmulator) -> None:
    session = NetworkSession(
        base_urls=BaseUrls(
            base_url=box.base_url, upload_url=f"{box.base_url}/api", oauth_2_url=f"{box.base_url}/oauth2"
        )
    )
    hub = sdk("ada").hubs.create_hub_v2025_r0("Scoped hub")

    def client(scopes: list[str], resource: str | None = None) -> BoxClient:
        small = BoxDeveloperTokenAuth(token=box.token("ada")).downscope_token(
            scopes, resource=resource, network_session=session
        )
        return BoxClient(BoxDeveloperTokenAuth(token=small.access_token), network_session=session)

    reader = client(["base_explorer"])  # unbound: reads hubs, changes none
    assert reader.hubs.get_hub_by_id_v2025_r0(hub.id).title == "Scoped hub"
    with pytest.raises(BoxAPIError) as err:
        reader.hubs.create_hub_v2025_r0("Nope")
    assert _code(err) == (403, "insufficient_scope")
    with pytest.raises(BoxAPIError) as err:
        reader.hubs.update_hub_by_id_v2025_r0(hub.id, title="Nope")
    assert _code(err) == (403, "insufficient_scope")
    writer = client(["root_readwrite"])
    assert writer.hubs.update_hub_by_id_v2025_r0(hub.id, title="Renamed").title == "Renamed"
    folder = box.credentials["folders"]["Engineering"]
    bound = client(["base_explorer", "item_read"], f"https://api.box.com/2.0/folders/{folder}")
    with pytest.raises(BoxAPIError) as err:  # a token bound to one item reaches no hub
        bound.hubs.get_hub_by_id_v2025_r0(hub.id)
    assert _code(err) == (404, "not_found")
    assert bound.hubs.get_hubs_v2025_r0().entries == []
