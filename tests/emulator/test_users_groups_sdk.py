"""Users (me, list, get, create managed and app users), As-User, groups and memberships through the SDK."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.memberships import CreateGroupMembershipGroup, CreateGroupMembershipUser

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]


def test_admin_lists_managed_users_with_filter(sdk: Sdk) -> None:
    users = sdk("ada").users.get_users()  # Box: `managed` is "all managed and app users"
    names = ["Ada Admin", "Bob Builder", "Carol Counsel", "HR Sandbox Bot"]
    assert [u.name for u in users.entries or []] == names
    found = sdk("ada").users.get_users(filter_term="car")
    assert [u.login for u in found.entries or []] == ["carol@acme.example"]


def test_users_page_by_marker(sdk: Sdk) -> None:
    first = sdk("ada").users.get_users(usemarker=True, limit=3)
    rest = sdk("ada").users.get_users(usemarker=True, limit=3, marker=first.next_marker)
    names = [u.name for u in (first.entries or []) + (rest.entries or [])]
    assert names == ["Ada Admin", "Bob Builder", "Carol Counsel", "HR Sandbox Bot"] and not rest.next_marker


def test_regular_user_cannot_list_enterprise_users(sdk: Sdk) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").users.get_users()
    assert err.value.response_info.status_code == 403


def test_get_user_by_id_and_unknown_user_is_404(sdk: Sdk, box: RunningEmulator) -> None:
    assert sdk("bob").users.get_user_by_id(box.user_id("carol")).name == "Carol Counsel"
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").users.get_user_by_id("99999999999")
    assert err.value.response_info.status_code == 404


def test_admin_creates_managed_user_and_duplicate_login_conflicts(sdk: Sdk) -> None:
    made = sdk("ada").users.create_user("Dan Designer", login="dan@acme.example", job_title="Designer")
    assert made.login == "dan@acme.example" and made.job_title == "Designer"
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").users.create_user("Dan Again", login="DAN@acme.example")
    assert err.value.response_info.status_code == 409
    assert err.value.response_info.code == "user_login_already_used"


def test_service_account_creates_app_user_who_owns_an_empty_root(sdk: Sdk, box: RunningEmulator) -> None:
    service = next(u for u in box.credentials["users"] if u["role"] == "service_account")
    app_user = sdk(service["login"][:10]).users.create_user("Claims Bot", is_platform_access_only=True)
    assert app_user.login and app_user.login.startswith("AppUser_")
    with_header = sdk(service["login"][:10]).folders.get_folder_items(
        "0", extra_headers={"As-User": app_user.id}
    )
    assert with_header.total_count == 0


def test_regular_user_cannot_create_users(sdk: Sdk) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").users.create_user("Eve", login="eve@acme.example")
    assert err.value.response_info.status_code == 403


def test_as_user_cannot_name_the_service_account(sdk: Sdk, box: RunningEmulator) -> None:
    service = next(u for u in box.credentials["users"] if u["role"] == "service_account")
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").users.get_user_me(extra_headers={"As-User": service["id"]})
    assert err.value.response_info.status_code == 400


def test_group_lifecycle_and_memberships(sdk: Sdk, box: RunningEmulator) -> None:
    admin = sdk("ada")
    group = admin.groups.create_group("Platform", description="Platform team")
    assert group.name == "Platform" and group.description == "Platform team"
    with pytest.raises(BoxAPIError) as err:
        admin.groups.create_group("platform")
    assert err.value.response_info.status_code == 409
    membership = admin.memberships.create_group_membership(
        CreateGroupMembershipUser(id=box.user_id("bob")), CreateGroupMembershipGroup(id=group.id)
    )
    assert membership.user is not None and membership.user.id == box.user_id("bob")
    members = admin.memberships.get_group_memberships(group.id)
    assert [m.user.name for m in members.entries or [] if m.user] == ["Bob Builder"]
    mine = sdk("bob").memberships.get_user_memberships(box.user_id("bob"))
    assert [m.group.name for m in mine.entries or [] if m.group] == ["Platform"]
    assert [g.name for g in sdk("bob").groups.get_groups().entries or []] == ["Platform"]
    admin.memberships.delete_group_membership_by_id(membership.id)
    admin.groups.delete_group_by_id(group.id)
    with pytest.raises(BoxAPIError) as gone:
        admin.groups.get_group_by_id(group.id)
    assert gone.value.response_info.status_code == 404


def test_group_collaboration_grants_members_access(sdk: Sdk, box: RunningEmulator) -> None:
    legal = box.credentials["groups"]["Legal"]
    store = box.emulator.store
    finance = box.credentials["folders"]["Finance"]
    with store.tx():
        store.insert(
            "collaborations",
            {
                "id": store.next_id("collaboration"),
                "item_type": "folder",
                "item_id": finance,
                "accessible_by_type": "group",
                "accessible_by_id": legal,
                "role": "viewer",
                "created_by": box.user_id("ada"),
                "created_at": 0,
                "modified_at": 0,
            },
        )
    names = [e.name for e in sdk("carol").folders.get_folder_items(finance).entries or []]
    assert names == ["budget-2026.csv", "q3-report.md"]
    with pytest.raises(BoxAPIError):
        sdk("bob").folders.get_folder_items(finance)


def test_regular_user_cannot_create_groups(sdk: Sdk) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("carol").groups.create_group("Shadow IT")
    assert err.value.response_info.status_code == 403
