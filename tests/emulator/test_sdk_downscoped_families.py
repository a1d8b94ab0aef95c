"""A downscoped token stays inside its item and scopes on the collaboration, comment, metadata, search,
event and webhook routes too (404 outside the resource, 403 insufficient_scope for a wider action)."""

from __future__ import annotations

import pytest
from box_sdk_gen import BaseUrls, BoxAPIError, BoxClient, BoxDeveloperTokenAuth, NetworkSession
from box_sdk_gen.managers.comments import CreateCommentItem, CreateCommentItemTypeField
from box_sdk_gen.managers.file_metadata import CreateFileMetadataByIdScope, GetFileMetadataByIdScope
from box_sdk_gen.managers.user_collaborations import (
    CreateCollaborationAccessibleBy,
    CreateCollaborationAccessibleByTypeField,
    CreateCollaborationItem,
    CreateCollaborationItemTypeField,
    CreateCollaborationRole,
)

from box_mcp.emulator.testing import RunningEmulator


def _session(base: str) -> NetworkSession:
    return NetworkSession(
        base_urls=BaseUrls(base_url=base, upload_url=f"{base}/api", oauth_2_url=f"{base}/oauth2")
    )


def _downscoped(box: RunningEmulator, scopes: list[str], folder_path: str) -> BoxClient:
    folder = box.credentials["folders"][folder_path]
    small = BoxDeveloperTokenAuth(token=box.token("ada")).downscope_token(
        scopes, resource=f"https://api.box.com/2.0/folders/{folder}", network_session=_session(box.base_url)
    )
    return BoxClient(BoxDeveloperTokenAuth(token=small.access_token), network_session=_session(box.base_url))


def _status(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def test_read_only_token_on_a_folder_searches_and_reads_only_inside_it(box: RunningEmulator) -> None:
    client = _downscoped(box, ["item_read", "item_preview"], "Contracts")
    found = client.search.search_for_content(query="Acme")
    # Engineering/README.md also says "Acme", but it lies outside the token's folder.
    assert {e.name for e in found.entries or []} == {"MSA-Globex.pdf", "NDA-Initech.pdf"}
    msa = box.credentials["files"]["Contracts/MSA-Globex.pdf"]
    instance = client.file_metadata.get_file_metadata_by_id(
        msa, GetFileMetadataByIdScope.ENTERPRISE, "contract"
    )
    assert instance.extra_data["counterparty"] == "Globex Corporation"
    with pytest.raises(BoxAPIError) as err:  # outside the resource: as if it did not exist
        client.file_metadata.get_file_metadata(box.credentials["files"]["HR/salaries.csv"])
    assert _status(err) == (404, "not_found")
    with pytest.raises(BoxAPIError) as err:  # inside, but writing needs more than item_read
        client.file_metadata.create_file_metadata_by_id(
            msa, CreateFileMetadataByIdScope.GLOBAL, "properties", {"reviewed": "yes"}
        )
    assert _status(err) == (403, "insufficient_scope")
    with pytest.raises(BoxAPIError) as err:
        client.comments.create_comment("ok", CreateCommentItem(id=msa, type=CreateCommentItemTypeField.FILE))
    assert _status(err) == (403, "insufficient_scope")
    with pytest.raises(BoxAPIError) as err:
        client.user_collaborations.create_collaboration(
            CreateCollaborationItem(
                type=CreateCollaborationItemTypeField.FOLDER, id=box.credentials["folders"]["Contracts"]
            ),
            CreateCollaborationAccessibleBy(
                type=CreateCollaborationAccessibleByTypeField.USER, id=box.user_id("bob")
            ),
            CreateCollaborationRole.VIEWER,
        )
    assert _status(err) == (403, "insufficient_scope")


def test_downscoped_event_stream_shows_only_the_resource(box: RunningEmulator) -> None:
    ada = BoxClient(BoxDeveloperTokenAuth(token=box.token("ada")), network_session=_session(box.base_url))
    start = ada.events.get_events(stream_position="now").next_stream_position
    ada.downloads.download_file(box.credentials["files"]["Finance/q3-report.md"]).read()
    ada.downloads.download_file(box.credentials["files"]["Contracts/NDA-Initech.pdf"]).read()
    client = _downscoped(box, ["item_read", "item_preview"], "Contracts")
    seen = client.events.get_events(stream_position=str(start))
    assert [e.source.name for e in seen.entries or []] == ["NDA-Initech.pdf"]
