"""The official SDK against the emulator's metadata templates and instances (JSON-Patch updates)."""

from __future__ import annotations

from collections.abc import Callable

import httpx2
import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.file_metadata import (
    CreateFileMetadataByIdScope,
    DeleteFileMetadataByIdScope,
    GetFileMetadataByIdScope,
    UpdateFileMetadataByIdRequestBody,
    UpdateFileMetadataByIdRequestBodyOpField,
    UpdateFileMetadataByIdScope,
)
from box_sdk_gen.managers.folder_metadata import CreateFolderMetadataByIdScope
from box_sdk_gen.managers.metadata_templates import (
    CreateMetadataTemplateFields,
    CreateMetadataTemplateFieldsOptionsField,
    CreateMetadataTemplateFieldsTypeField,
    DeleteMetadataTemplateScope,
    GetMetadataTemplateScope,
)

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
Op = UpdateFileMetadataByIdRequestBodyOpField


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def test_seeded_contract_template_lists_and_reads_by_key_and_id(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    listed = ada.metadata_templates.get_enterprise_metadata_templates()
    keys = [t.template_key for t in listed.entries or []]
    assert "contract" in keys
    template = ada.metadata_templates.get_metadata_template(GetMetadataTemplateScope.ENTERPRISE, "contract")
    assert [f.key for f in template.fields or []] == ["counterparty", "value", "expires"]
    assert ada.metadata_templates.get_metadata_template_by_id(template.id).template_key == "contract"
    globals_ = ada.metadata_templates.get_global_metadata_templates()
    assert "properties" in [t.template_key for t in globals_.entries or []]


def test_seeded_instance_reads_and_patch_with_test_op_updates_it(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Contracts/MSA-Globex.pdf"]
    everything = ada.file_metadata.get_file_metadata(file_id)
    assert [e.template for e in everything.entries or []] == ["contract"]
    instance = ada.file_metadata.get_file_metadata_by_id(
        file_id, GetFileMetadataByIdScope.ENTERPRISE, "contract"
    )
    assert instance.extra_data["counterparty"] == "Globex Corporation"
    updated = ada.file_metadata.update_file_metadata_by_id(
        file_id,
        UpdateFileMetadataByIdScope.ENTERPRISE,
        "contract",
        [
            UpdateFileMetadataByIdRequestBody(op=Op.TEST, path="/counterparty", value="Globex Corporation"),
            UpdateFileMetadataByIdRequestBody(op=Op.REPLACE, path="/value", value=150000),
        ],
    )
    assert updated.extra_data["value"] == 150000
    assert updated.version == 1
    with pytest.raises(BoxAPIError) as err:
        ada.file_metadata.update_file_metadata_by_id(
            file_id,
            UpdateFileMetadataByIdScope.ENTERPRISE,
            "contract",
            [
                UpdateFileMetadataByIdRequestBody(op=Op.TEST, path="/counterparty", value="Initech"),
                UpdateFileMetadataByIdRequestBody(op=Op.REPLACE, path="/value", value=1),
            ],
        )
    assert _code(err) == (409, "conflict")
    again = ada.file_metadata.get_file_metadata_by_id(
        file_id, GetFileMetadataByIdScope.ENTERPRISE, "contract"
    )
    assert again.extra_data["value"] == 150000  # the failed patch changed nothing


def test_create_template_then_instance_validated_against_its_fields(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    template = ada.metadata_templates.create_metadata_template(
        "enterprise",
        "Review Status",
        fields=[
            CreateMetadataTemplateFields(
                type=CreateMetadataTemplateFieldsTypeField.ENUM,
                key="state",
                display_name="State",
                options=[CreateMetadataTemplateFieldsOptionsField(key=k) for k in ("draft", "final")],
            ),
            CreateMetadataTemplateFields(
                type=CreateMetadataTemplateFieldsTypeField.DATE, key="due", display_name="Due"
            ),
        ],
    )
    assert template.template_key == "reviewStatus"
    folder_id = box.credentials["folders"]["Finance"]
    made = ada.folder_metadata.create_folder_metadata_by_id(
        folder_id, CreateFolderMetadataByIdScope.ENTERPRISE, "reviewStatus", {"state": "draft"}
    )
    assert made.extra_data["state"] == "draft"
    file_id = box.credentials["files"]["Finance/q3-report.md"]
    for bad in ({"state": "lost"}, {"nope": "x"}, {"due": "tomorrow"}):
        with pytest.raises(BoxAPIError) as err:
            ada.file_metadata.create_file_metadata_by_id(
                file_id, CreateFileMetadataByIdScope.ENTERPRISE, "reviewStatus", bad
            )
        assert _code(err) == (400, "schema_validation_failed")
    ada.file_metadata.create_file_metadata_by_id(
        file_id, CreateFileMetadataByIdScope.ENTERPRISE, "reviewStatus", {"due": "2026-12-01T00:00:00Z"}
    )
    with pytest.raises(BoxAPIError) as err:
        ada.file_metadata.create_file_metadata_by_id(
            file_id, CreateFileMetadataByIdScope.ENTERPRISE, "reviewStatus", {}
        )
    assert _code(err) == (409, "tuple_already_exists")
    ada.file_metadata.delete_file_metadata_by_id(
        file_id, DeleteFileMetadataByIdScope.ENTERPRISE, "reviewStatus"
    )
    with pytest.raises(BoxAPIError) as err:
        ada.file_metadata.get_file_metadata_by_id(
            file_id, GetFileMetadataByIdScope.ENTERPRISE, "reviewStatus"
        )
    assert _code(err) == (404, "instance_not_found")


def test_unknown_template_and_viewer_writes_are_refused(sdk: Sdk, box: RunningEmulator) -> None:
    file_id = box.credentials["files"]["Engineering/design.md"]
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").file_metadata.create_file_metadata_by_id(
            file_id, CreateFileMetadataByIdScope.ENTERPRISE, "noSuchTemplate", {}
        )
    assert _code(err) == (404, "instance_tuple_not_found")
    with pytest.raises(BoxAPIError) as err:  # Bob only views Engineering
        sdk("bob").file_metadata.create_file_metadata_by_id(
            file_id, CreateFileMetadataByIdScope.GLOBAL, "properties", {"team": "platform"}
        )
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").metadata_templates.create_metadata_template("enterprise", "Sneaky")
    assert _code(err)[0] == 403


def test_malformed_json_patch_is_bad_request_not_500(box: RunningEmulator) -> None:
    file_id = box.credentials["files"]["Contracts/MSA-Globex.pdf"]
    url = f"{box.base_url}/2.0/files/{file_id}/metadata/enterprise/contract"
    headers = {"Authorization": f"Bearer {box.token('ada')}", "Content-Type": "application/json-patch+json"}
    with httpx2.Client() as http:
        for body in (b"{not json", b'{"op": "replace"}', b'[{"op": "explode", "path": "/x"}]'):
            response = http.put(url, content=body, headers=headers)
            assert response.status_code == 400, body
            assert response.json()["code"] == "bad_request"
        wrong_type = http.put(url, content=b"[]", headers={**headers, "Content-Type": "application/json"})
        assert wrong_type.status_code == 400
        removed = http.put(url, content=b'[{"op": "remove", "path": "/missing"}]', headers=headers)
        assert removed.status_code == 400 and removed.json()["type"] == "error"


def test_template_by_instance_id_folder_instances_and_template_delete(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Contracts/NDA-Initech.pdf"]
    instance = ada.file_metadata.get_file_metadata_by_id(
        file_id, GetFileMetadataByIdScope.ENTERPRISE, "contract"
    )
    by_instance = ada.metadata_templates.get_metadata_templates_by_instance_id(instance.id)
    assert [t.template_key for t in by_instance.entries or []] == ["contract"]
    folder_id = box.credentials["folders"]["Marketing"]
    ada.folder_metadata.create_folder_metadata_by_id(
        folder_id, CreateFolderMetadataByIdScope.GLOBAL, "properties", {"campaign": "rocket"}
    )
    listed = ada.folder_metadata.get_folder_metadata(folder_id)
    assert [(e.scope, e.template) for e in listed.entries or []] == [("global", "properties")]
    ada.metadata_templates.delete_metadata_template(DeleteMetadataTemplateScope.ENTERPRISE, "contract")
    assert ada.file_metadata.get_file_metadata(file_id).entries == []
    with pytest.raises(BoxAPIError) as err:
        ada.metadata_templates.get_metadata_template(GetMetadataTemplateScope.ENTERPRISE, "contract")
    assert _code(err)[0] == 404
