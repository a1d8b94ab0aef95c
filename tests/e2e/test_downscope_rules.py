"""The emulator answers downscoped tokens by Box's documented scopes (box_mcp/tools/scopes.py cites them),
judged through Box's official SDK: metadata edits need item_upload, a file's comments and tasks are read
with base_sidebar, comments are added with item_comment, and a move needs upload on the destination."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from box_sdk_gen import BaseUrls, BoxAPIError, BoxClient, BoxDeveloperTokenAuth, NetworkSession
from box_sdk_gen.managers.comments import CreateCommentItem, CreateCommentItemTypeField
from box_sdk_gen.managers.file_metadata import CreateFileMetadataByIdScope
from box_sdk_gen.managers.files import UpdateFileByIdParent
from box_sdk_gen.managers.tasks import CreateTaskAction, CreateTaskItem, CreateTaskItemTypeField

from box_mcp.emulator.testing import RunningEmulator


def _session(base: str) -> NetworkSession:
    return NetworkSession(
        base_urls=BaseUrls(base_url=base, upload_url=f"{base}/api", oauth_2_url=f"{base}/oauth2")
    )


def _client(box: RunningEmulator, token: str) -> BoxClient:
    return BoxClient(BoxDeveloperTokenAuth(token=token), network_session=_session(box.base_url))


def _narrow(box: RunningEmulator) -> Callable[..., BoxClient]:
    """Ada's token exchanged for `scopes`, bound to one file when given."""

    def narrow(scopes: list[str], file_id: str | None = None) -> BoxClient:
        resource = f"https://api.box.com/2.0/files/{file_id}" if file_id else None
        small = BoxDeveloperTokenAuth(token=box.token("ada")).downscope_token(
            scopes, resource=resource, network_session=_session(box.base_url)
        )
        assert small.access_token is not None
        return _client(box, small.access_token)

    return narrow


def _refusal(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def test_metadata_is_edited_with_item_upload_and_refused_with_item_rename(emulator: RunningEmulator) -> None:
    narrow, report = _narrow(emulator), emulator.credentials["files"]["Finance/q3-report.md"]
    with pytest.raises(BoxAPIError) as err:
        narrow(["base_explorer", "item_rename"], report).file_metadata.create_file_metadata_by_id(
            report, CreateFileMetadataByIdScope.GLOBAL, "properties", {"reviewed": "yes"}
        )
    assert _refusal(err) == (403, "insufficient_scope")
    made = narrow(["base_sidebar", "item_upload"], report).file_metadata.create_file_metadata_by_id(
        report, CreateFileMetadataByIdScope.GLOBAL, "properties", {"reviewed": "yes"}
    )
    assert made.extra_data["reviewed"] == "yes"


def test_comments_and_tasks_are_read_with_base_sidebar_and_refused_with_item_preview(
    emulator: RunningEmulator,
) -> None:
    narrow, report = _narrow(emulator), emulator.credentials["files"]["Finance/q3-report.md"]
    ada = _client(emulator, emulator.token("ada"))
    comment = ada.comments.create_comment(
        "Numbers check out", CreateCommentItem(id=report, type=CreateCommentItemTypeField.FILE)
    )
    task = ada.tasks.create_task(
        CreateTaskItem(id=report, type=CreateTaskItemTypeField.FILE),
        action=CreateTaskAction.REVIEW,
        message="Approve Q3",
    )
    preview = narrow(["item_preview"], report)
    for read in (preview.comments.get_file_comments, preview.tasks.get_file_tasks):
        with pytest.raises(BoxAPIError) as err:
            read(report)
        assert _refusal(err) == (403, "insufficient_scope")
    sidebar = narrow(["base_sidebar"], report)
    assert [c.id for c in sidebar.comments.get_file_comments(report).entries or []] == [comment.id]
    assert [t.id for t in sidebar.tasks.get_file_tasks(report).entries or []] == [task.id]


def test_comments_are_added_with_item_comment_and_refused_with_annotation_edit(
    emulator: RunningEmulator,
) -> None:
    narrow, report = _narrow(emulator), emulator.credentials["files"]["Finance/q3-report.md"]
    item = CreateCommentItem(id=report, type=CreateCommentItemTypeField.FILE)
    with pytest.raises(BoxAPIError) as err:
        narrow(["base_sidebar", "annotation_edit"], report).comments.create_comment("no", item)
    assert _refusal(err) == (403, "insufficient_scope")
    added = narrow(["base_sidebar", "item_comment"], report).comments.create_comment("yes", item)
    assert added.message == "yes"


def test_a_move_needs_upload_on_the_destination_which_a_token_bound_to_the_file_cannot_reach(
    emulator: RunningEmulator,
) -> None:
    narrow = _narrow(emulator)
    report = emulator.credentials["files"]["Finance/q3-report.md"]
    archive = emulator.credentials["folders"]["Contracts/Archive"]
    to_archive = UpdateFileByIdParent(id=archive)
    with pytest.raises(BoxAPIError) as bound:
        narrow(["base_explorer", "item_rename", "item_upload"], report).files.update_file_by_id(
            report, parent=to_archive
        )
    assert _refusal(bound) == (404, "not_found")
    with pytest.raises(BoxAPIError) as no_upload:
        narrow(["base_explorer", "item_rename"]).files.update_file_by_id(report, parent=to_archive)
    assert _refusal(no_upload) == (403, "insufficient_scope")
    moved = narrow(["base_explorer", "item_rename", "item_upload"]).files.update_file_by_id(
        report, parent=to_archive
    )
    assert moved.parent is not None and moved.parent.id == archive
