"""The official SDK against the emulator's `/shared_items`, users (filters, creation, invitations that wait
for a login), webhooks paging, `/recent_items` and collections (Favorites), error cases included; every
JSON answer is checked against Box's OpenAPI spec by the `box` fixture."""

from __future__ import annotations

import io
from collections.abc import Callable

import httpx2
import pytest
from box_sdk_gen import BoxAPIError, BoxClient, BoxDeveloperTokenAuth
from box_sdk_gen.internal.utils import create_null
from box_sdk_gen.managers.comments import CreateCommentItem, CreateCommentItemTypeField
from box_sdk_gen.managers.files import UpdateFileByIdCollections
from box_sdk_gen.managers.folders import UpdateFolderByIdCollections
from box_sdk_gen.managers.list_collaborations import GetCollaborationsStatus
from box_sdk_gen.managers.shared_links_files import (
    AddShareLinkToFileSharedLink,
    AddShareLinkToFileSharedLinkAccessField,
)
from box_sdk_gen.managers.shared_links_folders import (
    AddShareLinkToFolderSharedLink,
    AddShareLinkToFolderSharedLinkAccessField,
)
from box_sdk_gen.managers.uploads import UploadFileVersionAttributes
from box_sdk_gen.managers.user_collaborations import (
    CreateCollaborationAccessibleBy,
    CreateCollaborationAccessibleByTypeField,
    CreateCollaborationItem,
    CreateCollaborationItemTypeField,
    CreateCollaborationRole,
    UpdateCollaborationByIdStatus,
)
from box_sdk_gen.managers.users import GetUsersUserType
from box_sdk_gen.managers.webhooks import (
    CreateWebhookTarget,
    CreateWebhookTargetTypeField,
    CreateWebhookTriggers,
)

from box_mcp.emulator.auth import FULL_APP_SCOPES, issue_token
from box_mcp.emulator.testing import RunningEmulator

from .conftest import network_session

Sdk = Callable[[str], BoxClient]


def _status(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _share(client: BoxClient, file_id: str, **link: object) -> str:
    shared = client.shared_links_files.add_share_link_to_file(
        file_id, "shared_link", shared_link=AddShareLinkToFileSharedLink(**link)
    ).shared_link
    assert shared is not None
    return shared.url


def _as(box: RunningEmulator, user_id: str) -> BoxClient:
    token = issue_token(
        box.emulator.store, user_id=user_id, grant="developer", scopes=FULL_APP_SCOPES, ttl=3600
    )
    return BoxClient(BoxDeveloperTokenAuth(token=token), network_session=network_session(box.base_url))


# --- /shared_items -----------------------------------------------------------------------------------


def test_shared_items_resolves_file_and_folder_links_for_another_user(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    budget = box.credentials["files"]["Finance/budget-2026.csv"]
    url = _share(ada, budget, access=AddShareLinkToFileSharedLinkAccessField.OPEN, password="Budget-pass-1")
    found = bob.shared_links_files.find_file_for_shared_link(
        f"shared_link={url}&shared_link_password=Budget-pass-1", fields=["name", "path_collection"]
    )
    assert (found.id, found.name) == (budget, "budget-2026.csv")
    with pytest.raises(BoxAPIError) as err:
        bob.shared_links_files.find_file_for_shared_link(f"shared_link={url}&shared_link_password=wrong-one")
    assert _status(err) == (403, "incorrect_shared_item_password")
    with pytest.raises(BoxAPIError) as err:
        bob.shared_links_files.find_file_for_shared_link(f"shared_link={url}")
    assert _status(err) == (403, "incorrect_shared_item_password")
    with pytest.raises(BoxAPIError) as err:
        bob.shared_links_files.find_file_for_shared_link(f"shared_link={url.rsplit('/', 1)[0]}/nothinghere")
    assert _status(err)[0] == 404
    marketing = box.credentials["folders"]["Marketing"]
    folder_link = ada.shared_links_folders.add_share_link_to_folder(
        marketing,
        "shared_link",
        shared_link=AddShareLinkToFolderSharedLink(access=AddShareLinkToFolderSharedLinkAccessField.COMPANY),
    ).shared_link
    assert folder_link is not None
    folder = bob.shared_links_folders.find_folder_for_shared_link(f"shared_link={folder_link.url}")
    assert (folder.id, folder.name) == (marketing, "Marketing")
    ada.shared_links_folders.remove_shared_link_from_folder(
        marketing, "shared_link", shared_link=create_null()
    )
    with pytest.raises(BoxAPIError) as err:  # a removed link leads nowhere
        bob.shared_links_folders.find_folder_for_shared_link(f"shared_link={folder_link.url}")
    assert _status(err)[0] == 404


def test_shared_items_without_the_boxapi_header_is_a_bad_request(box: RunningEmulator) -> None:
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('bob')}"}) as http:
        answer = http.get(f"{box.base_url}/2.0/shared_items")
    assert answer.status_code == 400 and answer.json()["code"] == "bad_request"


# --- users -------------------------------------------------------------------------------------------


def test_users_filter_by_external_app_user_id_and_creation_errors(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    kiosk = ada.users.create_user("Kiosk", is_platform_access_only=True, external_app_user_id="kiosk-7")
    ada.users.create_user("Other", is_platform_access_only=True, external_app_user_id="kiosk-8")
    found = ada.users.get_users(external_app_user_id="kiosk-7", user_type=GetUsersUserType.ALL)
    assert [u.id for u in found.entries or []] == [kiosk.id]
    assert ada.users.get_users(external_app_user_id="nobody-has-this").entries == []
    with pytest.raises(BoxAPIError) as err:
        ada.users.create_user("No Login")
    assert _status(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:
        ada.users.create_user("Not Email", login="not-an-email")
    assert _status(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:
        ada.users.create_user("Bob Twice", login="BOB@acme.example")
    assert _status(err) == (409, "user_login_already_used")


def test_an_invitation_to_a_login_waits_for_the_user_created_with_it(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    finance = box.credentials["folders"]["Finance"]
    invite = ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=finance),
        CreateCollaborationAccessibleBy(
            type=CreateCollaborationAccessibleByTypeField.USER, login="dana@acme.example"
        ),
        CreateCollaborationRole.VIEWER,
    )
    assert invite.status is not None and invite.status.value == "pending"
    dana = ada.users.create_user("Dana New", login="dana@acme.example")
    as_dana = _as(box, dana.id)
    pending = as_dana.list_collaborations.get_collaborations(GetCollaborationsStatus.PENDING).entries or []
    assert [c.id for c in pending] == [invite.id]
    with pytest.raises(BoxAPIError) as err:  # pending: nothing is shared yet
        as_dana.folders.get_folder_by_id(finance)
    assert _status(err)[0] == 404
    with pytest.raises(BoxAPIError) as err:  # only the invitee answers an invitation
        sdk("bob").user_collaborations.update_collaboration_by_id(
            invite.id, status=UpdateCollaborationByIdStatus.ACCEPTED
        )
    assert _status(err)[0] in (403, 404)
    accepted = as_dana.user_collaborations.update_collaboration_by_id(
        invite.id, status=UpdateCollaborationByIdStatus.ACCEPTED
    )
    assert accepted.status is not None and accepted.status.value == "accepted"
    assert as_dana.folders.get_folder_by_id(finance).name == "Finance"
    with pytest.raises(BoxAPIError) as err:  # answered once
        as_dana.user_collaborations.update_collaboration_by_id(
            invite.id, status=UpdateCollaborationByIdStatus.REJECTED
        )
    assert _status(err) == (400, "invalid_status")
    assert as_dana.list_collaborations.get_collaborations(GetCollaborationsStatus.PENDING).entries == []


# --- webhooks paging ---------------------------------------------------------------------------------


def test_webhooks_page_by_marker_up_to_boxs_limit(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    made = []
    for path in ("Engineering/README.md", "Engineering/design.md", "Engineering/notes.txt"):
        hook = ada.webhooks.create_webhook(
            CreateWebhookTarget(id=box.credentials["files"][path], type=CreateWebhookTargetTypeField.FILE),
            "https://hooks.example.com/box",
            [CreateWebhookTriggers.FILE_TRASHED],
        )
        made.append(hook.id)
    first = ada.webhooks.get_webhooks(limit=2)
    assert [w.id for w in first.entries or []] == made[:2] and first.next_marker
    rest = ada.webhooks.get_webhooks(limit=2, marker=first.next_marker)
    assert [w.id for w in rest.entries or []] == made[2:] and rest.next_marker is None
    assert len(ada.webhooks.get_webhooks(limit=1000).entries or []) == 3
    assert ada.webhooks.get_webhooks(limit=5000).limit == 1000  # a larger limit is cut to Box's maximum


def test_every_trigger_in_boxs_spec_is_accepted_and_no_other(
    sdk: Sdk, box: RunningEmulator, openapi_spec: dict[str, object]
) -> None:
    post = openapi_spec["paths"]["/webhooks"]["post"]  # type: ignore[index]
    names = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["triggers"]["items"][
        "enum"
    ]
    ada = sdk("ada")
    target = CreateWebhookTarget(
        id=box.credentials["folders"]["Marketing"], type=CreateWebhookTargetTypeField.FOLDER
    )
    hook = ada.webhooks.create_webhook(
        target, "https://hooks.example.com/all", [CreateWebhookTriggers(n) for n in names]
    )
    assert sorted(hook.triggers or []) == sorted(names)
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        answer = http.put(f"{box.base_url}/2.0/webhooks/{hook.id}", json={"triggers": ["FILE.EXPLODED"]})
    assert answer.status_code == 400 and "FILE.EXPLODED" in answer.json()["message"]


# --- recent items and collections --------------------------------------------------------------------


def test_recent_items_are_what_the_user_touched_newest_first(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    design = box.credentials["files"]["Engineering/design.md"]
    notes = box.credentials["files"]["Engineering/notes.txt"]
    salaries = box.credentials["files"]["HR/salaries.csv"]
    bob.comments.create_comment(
        "looks good", CreateCommentItem(id=design, type=CreateCommentItemTypeField.FILE)
    )
    bob.downloads.download_file(notes)
    ada.uploads.upload_file_version(
        salaries, UploadFileVersionAttributes(name="salaries.csv"), io.BytesIO(b"x,y\n")
    )
    recent = bob.recent_items.get_recent_items()
    seen = [(r.item.id, r.interaction_type) for r in recent.entries or []]
    assert seen[:2] == [(notes, "item_open"), (design, "item_comment")]
    assert salaries not in {item for item, _ in seen}  # Ada's upload is hers, and Bob cannot read HR
    ada_recent = [r.item.id for r in ada.recent_items.get_recent_items(limit=1).entries or []]
    assert ada_recent == [salaries]
    page = bob.recent_items.get_recent_items(limit=1)
    assert page.next_marker and [r.item.id for r in page.entries or []] == [notes]
    after = bob.recent_items.get_recent_items(limit=1, marker=page.next_marker)
    assert [r.item.id for r in after.entries or []] == [design]


def test_favorites_collect_what_the_user_adds_and_drop_what_they_remove(
    sdk: Sdk, box: RunningEmulator
) -> None:
    bob = sdk("bob")
    collections = bob.collections.get_collections().entries or []
    assert [(c.name, c.collection_type) for c in collections] == [("Favorites", "favorites")]
    favorites = collections[0].id
    assert bob.collections.get_collection_by_id(favorites).id == favorites
    design = box.credentials["files"]["Engineering/design.md"]
    engineering = box.credentials["folders"]["Engineering"]
    bob.files.update_file_by_id(design, collections=[UpdateFileByIdCollections(id=favorites)])
    bob.folders.update_folder_by_id(engineering, collections=[UpdateFolderByIdCollections(id=favorites)])
    items = bob.collections.get_collection_items(favorites)
    assert [(i.type, i.id) for i in items.entries or []] == [("file", design), ("folder", engineering)]
    assert (
        sdk("carol")
        .collections.get_collection_items((sdk("carol").collections.get_collections().entries or [])[0].id)
        .entries
        == []
    )  # Favorites are each user's own
    bob.files.update_file_by_id(design, collections=[])
    assert [i.id for i in bob.collections.get_collection_items(favorites).entries or []] == [engineering]
    with pytest.raises(BoxAPIError) as err:  # another user's collection is not found
        sdk("carol").collections.get_collection_items(favorites)
    assert _status(err)[0] == 404
    with pytest.raises(BoxAPIError) as err:
        bob.files.update_file_by_id(design, collections=[UpdateFileByIdCollections(id="999999")])
    assert _status(err)[0] == 404
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('bob')}"}) as http:
        answer = http.put(f"{box.base_url}/2.0/files/{design}", json={"collections": "favorites"})
    assert answer.status_code == 400 and answer.json()["code"] == "bad_request"
