"""The official SDK against template creation and schema edits (what Box refuses, and that a refused change
changes nothing) and against Box AI over a hub (`/ai/ask` with one `hubs` item): answered from the hub's
files as the caller may read them. Every JSON answer is checked against Box's OpenAPI spec (`box`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.ai import CreateAiAskMode
from box_sdk_gen.managers.hub_collaborations import (
    CreateHubCollaborationV2025R0AccessibleBy,
    CreateHubCollaborationV2025R0Hub,
)
from box_sdk_gen.managers.metadata_templates import (
    CreateMetadataTemplateFields,
    CreateMetadataTemplateFieldsOptionsField,
    CreateMetadataTemplateFieldsTypeField,
    GetMetadataTemplateScope,
    UpdateMetadataTemplateRequestBody,
    UpdateMetadataTemplateRequestBodyOpField,
    UpdateMetadataTemplateScope,
)
from box_sdk_gen.schemas.ai_item_ask import AiItemAsk, AiItemAskTypeField
from box_sdk_gen.schemas.v2025_r0.file_reference_v2025_r0 import FileReferenceV2025R0
from box_sdk_gen.schemas.v2025_r0.folder_reference_v2025_r0 import FolderReferenceV2025R0
from box_sdk_gen.schemas.v2025_r0.hub_item_operation_v2025_r0 import (
    HubItemOperationV2025R0,
    HubItemOperationV2025R0ActionField,
)

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
Type = CreateMetadataTemplateFieldsTypeField
ENTERPRISE = UpdateMetadataTemplateScope.ENTERPRISE
ADD = HubItemOperationV2025R0ActionField.ADD


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _raw(box: RunningEmulator, method: str, path: str, body: Any, user: str = "ada") -> httpx2.Response:
    headers = {"Authorization": f"Bearer {box.token(user)}"}
    if method == "PUT":
        headers["Content-Type"] = "application/json-patch+json"
    with httpx2.Client() as http:
        return http.request(method, f"{box.base_url}/2.0{path}", json=body, headers=headers)


# --- creating and editing templates ----------------------------------------------------------------------


def test_a_created_template_reads_back_with_every_field_attribute(sdk: Sdk) -> None:
    ada = sdk("ada")
    made = ada.metadata_templates.create_metadata_template(
        "enterprise",
        "Vendor",
        template_key="vendor",
        hidden=True,
        copy_instance_on_item_copy=True,
        fields=[
            CreateMetadataTemplateFields(
                type=Type.STRING, key="name", display_name="Name", description="Legal name", hidden=True
            ),
            CreateMetadataTemplateFields(
                type=Type.MULTISELECT,
                key="regions",
                display_name="Regions",
                options=[CreateMetadataTemplateFieldsOptionsField(key=k) for k in ("EU", "US")],
            ),
        ],
    )
    got = ada.metadata_templates.get_metadata_template(GetMetadataTemplateScope.ENTERPRISE, "vendor")
    assert got.id == made.id and got.hidden is True and got.copy_instance_on_item_copy is True
    name, regions = got.fields
    assert (name.key, name.description, name.hidden) == ("name", "Legal name", True)
    assert [o.key for o in regions.options or []] == ["EU", "US"]


def test_creation_refuses_what_box_refuses(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    ada.metadata_templates.create_metadata_template("enterprise", "Once", template_key="once")
    with pytest.raises(BoxAPIError) as err:
        ada.metadata_templates.create_metadata_template("enterprise", "Again", template_key="once")
    assert _code(err) == (409, "conflict")
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").metadata_templates.create_metadata_template("enterprise", "Not mine", template_key="bobs")
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        ada.metadata_templates.create_metadata_template("global", "Everyone's")
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    field = {"type": "string", "key": "k", "displayName": "K"}
    for bad, said in (
        ({"fields": [{**field, "type": "enum"}]}, "options"),
        ({"fields": [{**field, "options": [{"key": "a"}]}]}, "are for enum and multiSelect"),
        ({"fields": [{**field, "type": "enum", "options": [{"key": "a"}, {"key": "a"}]}]}, "twice"),
        ({"fields": [{**field, "type": "taxonomy"}]}, "taxonomy"),
        ({"fields": [field, field]}, "duplicates the key"),
        ({"fields": [{**field, "displayName": "x" * 4097}]}, "4096"),
        ({"fields": [{**field, "description": 7}]}, "description"),
        ({"fields": [{**field, "hidden": "yes"}]}, "hidden' must be true or false"),
        ({"hidden": "yes"}, "'hidden' must be true or false"),
        ({"copyInstanceOnItemCopy": 1}, "copyInstanceOnItemCopy"),
        ({"templateKey": "9lives"}, "templateKey"),
        ({"displayName": ""}, "displayName"),
    ):
        body = {"scope": "enterprise", "displayName": "Bad", "templateKey": "bad", **bad}
        answer = _raw(box, "POST", "/metadata_templates/schema", body)
        assert answer.status_code == 400 and said in answer.json()["message"], (bad, answer.json())
    keys = [t.template_key for t in ada.metadata_templates.get_enterprise_metadata_templates().entries or []]
    assert "bad" not in keys and "bobs" not in keys


def test_a_refused_field_edit_changes_nothing(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    path = "/metadata_templates/enterprise/contract/schema"
    for data, said in (
        ({"key": "has space"}, "key"),
        ({"displayName": ""}, "displayName"),
        ({"description": ["no"]}, "description"),
        ({"hidden": "no"}, "hidden"),
    ):
        ops = [
            {"op": "addField", "data": {"type": "string", "key": "extra", "displayName": "Extra"}},
            {"op": "editField", "fieldKey": "counterparty", "data": data},
        ]
        answer = _raw(box, "PUT", path, ops)
        assert answer.status_code == 400 and said in answer.json()["message"], (data, answer.json())
    got = ada.metadata_templates.get_metadata_template(GetMetadataTemplateScope.ENTERPRISE, "contract")
    assert [f.key for f in got.fields] == ["counterparty", "value", "expires"]  # all or none
    renamed = ada.metadata_templates.update_metadata_template(
        ENTERPRISE,
        "contract",
        [
            UpdateMetadataTemplateRequestBody(
                op=UpdateMetadataTemplateRequestBodyOpField.EDITFIELD,
                field_key="counterparty",
                data={"key": "party", "hidden": True},
            )
        ],
    )
    assert (renamed.fields[0].key, renamed.fields[0].hidden) == ("party", True)
    assert _raw(box, "PUT", path, ops, user="bob").status_code == 403


# --- Box AI over a hub ------------------------------------------------------------------------------------


def _hub_with(ada: BoxClient, box: RunningEmulator, *paths: str, folders: tuple[str, ...] = ()) -> str:
    hub = ada.hubs.create_hub_v2025_r0("Knowledge hub")
    ops = [
        HubItemOperationV2025R0(action=ADD, item=FileReferenceV2025R0(id=box.credentials["files"][p]))
        for p in paths
    ]
    ops += [
        HubItemOperationV2025R0(action=ADD, item=FolderReferenceV2025R0(id=box.credentials["folders"][f]))
        for f in folders
    ]
    ada.hub_items.manage_hub_items_v2025_r0(hub.id, operations=ops)
    return str(hub.id)


def _ask(client: BoxClient, hub_id: str, prompt: str) -> Any:
    hub = AiItemAsk(id=hub_id, type=AiItemAskTypeField.HUBS)
    return client.ai.create_ai_ask(CreateAiAskMode.SINGLE_ITEM_QA, prompt, [hub], include_citations=True)


def test_a_hub_question_is_answered_from_the_hubs_files_and_those_in_its_folders(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    hub = _hub_with(ada, box, "Engineering/design.md", folders=("Finance",))
    answer = _ask(ada, hub, "How much did revenue grow?")
    report = box.credentials["files"]["Finance/q3-report.md"]
    assert report in {c.id for c in answer.citations or []}  # from the folder the hub holds
    design = _ask(ada, hub, "What does the platform design use for services?")
    assert box.credentials["files"]["Engineering/design.md"] in {c.id for c in design.citations or []}
    assert "no language model" in answer.ai_agent_info.processor


def test_a_hub_question_reads_only_what_the_caller_may_read(sdk: Sdk, box: RunningEmulator) -> None:
    ada, bob = sdk("ada"), sdk("bob")
    hub = _hub_with(ada, box, "HR/salaries.csv", "Engineering/design.md")
    salaries = box.credentials["files"]["HR/salaries.csv"]
    assert salaries in {c.id for c in _ask(ada, hub, "Engineer salary").citations or []}
    with pytest.raises(BoxAPIError) as err:  # no role on the hub: Box never confirms it exists
        _ask(bob, hub, "Engineer salary")
    assert _code(err) == (404, "not_found")
    ada.hub_collaborations.create_hub_collaboration_v2025_r0(
        CreateHubCollaborationV2025R0Hub(id=hub),
        CreateHubCollaborationV2025R0AccessibleBy(type="user", login="bob@acme.example"),
        "viewer",
    )
    seen = _ask(bob, hub, "Engineer salary")
    assert salaries not in {c.id for c in seen.citations or []}  # the hub grants bob nothing it holds
    assert "185000" not in seen.answer


def test_a_hub_with_box_ai_off_or_unknown_is_refused(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    hub = _hub_with(ada, box, "Engineering/design.md")
    ada.hubs.update_hub_by_id_v2025_r0(hub, is_ai_enabled=False)
    with pytest.raises(BoxAPIError) as err:
        _ask(ada, hub, "design?")
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        _ask(ada, "999999", "design?")
    assert _code(err) == (404, "not_found")
