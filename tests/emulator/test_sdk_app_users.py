"""App users as `box-mcp sandbox` uses them, through the official SDK: made with is_platform_access_only
and an external_app_user_id, found by it (GET /users?external_app_user_id=), renamed and set inactive
(PUT /users/{id}), deleted (DELETE /users/{id}); an inactive user's tokens and As-User calls are refused;
`box-notifications: off` is accepted and shows in the request log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from box_sdk_gen import BoxAPIError, BoxCCGAuth, BoxClient, CCGConfig
from box_sdk_gen.managers.users import GetUsersUserType, UpdateUserByIdStatus

from box_mcp.emulator.request_log import RequestLog
from box_mcp.emulator.testing import RunningEmulator

from .conftest import network_session

Sdk = Callable[[str], BoxClient]


def service(box: RunningEmulator) -> str:
    """The login prefix of the app's service account (sdk() takes one)."""
    return str(next(u for u in box.credentials["users"] if u["role"] == "service_account")["login"][:10])


def ccg(box: RunningEmulator, **who: Any) -> BoxClient:
    app = box.credentials["ccg"]
    auth = BoxCCGAuth(CCGConfig(app["client_id"], app["client_secret"], **who))
    return BoxClient(auth, network_session=network_session(box.base_url))


def test_app_user_found_by_its_external_app_user_id(sdk: Sdk, box: RunningEmulator) -> None:
    sa = ccg(box, enterprise_id=box.credentials["enterprise_id"])
    made = sa.users.create_user(
        "box-mcp claims", is_platform_access_only=True, external_app_user_id="box-mcp:claims"
    )
    sa.users.create_user("box-mcp other", is_platform_access_only=True, external_app_user_id="box-mcp:other")
    assert made.is_platform_access_only is True
    for user_type in (None, GetUsersUserType.ALL, GetUsersUserType.MANAGED):
        found = sa.users.get_users(
            external_app_user_id="box-mcp:claims", user_type=user_type, fields=["external_app_user_id"]
        )
        assert [(u.id, u.external_app_user_id) for u in found.entries or []] == [(made.id, "box-mcp:claims")]
    assert sa.users.get_users(external_app_user_id="box-mcp:nobody").entries == []
    # a managed user never matches the filter, whatever it holds
    assert sdk("ada").users.get_users(external_app_user_id="box-mcp:claims").total_count == 1


def test_update_renames_and_deactivates_and_the_inactive_user_cannot_act(
    sdk: Sdk, box: RunningEmulator
) -> None:
    sa = ccg(box, enterprise_id=box.credentials["enterprise_id"])
    bot = sa.users.create_user("Bot", is_platform_access_only=True)
    as_bot = sa.with_as_user_header(bot.id)
    assert as_bot.users.get_user_me().id == bot.id
    own = ccg(box, user_id=bot.id)  # a CCG token for the app user itself
    assert own.users.get_user_me().id == bot.id
    renamed = sa.users.update_user_by_id(bot.id, name="Bot 2", status=UpdateUserByIdStatus.INACTIVE)
    assert (renamed.name, renamed.status) == ("Bot 2", "inactive")
    with pytest.raises(BoxAPIError) as as_user:
        as_bot.users.get_user_me()
    assert as_user.value.response_info.status_code == 400
    # the token it had is refused (401), and the SDK's new one too: Box grants an inactive user none
    for client in (own, ccg(box, user_id=bot.id)):
        with pytest.raises(BoxAPIError) as refused:
            client.users.get_user_me()
        assert refused.value.response_info.body.get("error") == "invalid_grant", refused.value
    back = sa.users.update_user_by_id(bot.id, status=UpdateUserByIdStatus.ACTIVE)
    assert back.status == "active" and as_bot.users.get_user_me().name == "Bot 2"


def test_update_refuses_bad_values_and_callers_who_may_not(sdk: Sdk, box: RunningEmulator) -> None:
    sa = sdk(service(box))
    bot = sa.users.create_user("Bot", is_platform_access_only=True)
    cases: list[tuple[BoxClient, str, dict[str, Any], int]] = [
        (sa, bot.id, {"name": "x" * 51}, 400),
        (sa, bot.id, {"login": "bot@acme.example"}, 400),  # an app user's login is Box's
        (sa, box.user_id("ada"), {"name": "Not the admin"}, 403),
        (sdk("bob"), bot.id, {"name": "Bob's bot"}, 403),
        (sa, "99999999999", {"name": "Nobody"}, 404),
    ]
    for client, user_id, change, status in cases:
        with pytest.raises(BoxAPIError) as err:
            client.users.update_user_by_id(user_id, **change)
        assert err.value.response_info.status_code == status, (user_id, change)
    with pytest.raises(BoxAPIError) as bad_status:
        sa.users.update_user_by_id(bot.id, extra_headers={}, status="asleep")  # type: ignore[arg-type]
    assert bad_status.value.response_info.status_code == 400
    assert sa.users.get_user_by_id(bot.id).name == "Bot"


def test_delete_needs_force_while_the_user_owns_content(sdk: Sdk, box: RunningEmulator) -> None:
    sa = sdk(service(box))
    bot = sa.users.create_user("Bot", is_platform_access_only=True)
    sa.with_as_user_header(bot.id).folders.create_folder("Mine", parent=_root())
    with pytest.raises(BoxAPIError) as owns:
        sa.users.delete_user_by_id(bot.id)
    assert owns.value.response_info.code == "user_not_deletable"
    sa.users.delete_user_by_id(bot.id, force=True, notify=False)
    with pytest.raises(BoxAPIError) as gone:
        sa.users.get_user_by_id(bot.id)
    assert gone.value.response_info.status_code == 404
    with pytest.raises(BoxAPIError) as again:
        sa.users.delete_user_by_id(bot.id)
    assert again.value.response_info.status_code == 404
    with pytest.raises(BoxAPIError) as not_yours:
        sdk("bob").users.delete_user_by_id(box.user_id("carol"))
    assert not_yours.value.response_info.status_code == 403


def _root() -> Any:
    from box_sdk_gen.managers.folders import CreateFolderParent

    return CreateFolderParent(id="0")


def test_box_notifications_off_is_accepted_and_logged(emulators: Any) -> None:
    box = emulators.fresh(seed="demo", rate_limits=False, count_requests=True)
    log: RequestLog = box.app.state.request_log
    quiet = BoxClient(
        __import__("box_sdk_gen").BoxDeveloperTokenAuth(token=box.token("ada")),
        network_session=network_session(box.base_url),
    ).with_suppressed_notifications()
    mark = log.mark()
    made = quiet.folders.create_folder("Quiet", parent=_root())
    assert made.name == "Quiet"
    [(method, path, headers)] = log.detailed_since(mark)
    assert (method, path, headers) == ("POST", "/2.0/folders", {"box-notifications": "off"})
