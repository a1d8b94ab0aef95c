"""Template schema updates and classifications through the official SDK: `PUT .../schema` operations
(all or none, instances follow a renamed or removed field or option), the classification template
(`schema#classifications`, `#add`, `#update`) keeping each option's staticConfig, and
`fields=classification`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.classifications import (
    AddClassificationRequestBody,
    AddClassificationRequestBodyDataField,
    AddClassificationRequestBodyDataStaticConfigClassificationField,
    AddClassificationRequestBodyDataStaticConfigField,
    CreateClassificationTemplateFields,
    CreateClassificationTemplateFieldsOptionsField,
    CreateClassificationTemplateFieldsOptionsStaticConfigClassificationField,
    CreateClassificationTemplateFieldsOptionsStaticConfigField,
    UpdateClassificationRequestBody,
    UpdateClassificationRequestBodyDataField,
    UpdateClassificationRequestBodyDataStaticConfigClassificationField,
    UpdateClassificationRequestBodyDataStaticConfigField,
)
from box_sdk_gen.managers.file_metadata import CreateFileMetadataByIdScope, GetFileMetadataByIdScope
from box_sdk_gen.managers.metadata_templates import (
    GetMetadataTemplateScope,
    UpdateMetadataTemplateRequestBody,
    UpdateMetadataTemplateRequestBodyOpField,
    UpdateMetadataTemplateScope,
)

from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
Op = UpdateMetadataTemplateRequestBodyOpField
ENTERPRISE = UpdateMetadataTemplateScope.ENTERPRISE


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _keys(template: object) -> list[str]:
    return [f.key for f in getattr(template, "fields", None) or []]


def test_operations_change_the_template_and_the_instances_that_use_it(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Finance/q3-report.md"]
    ada.file_metadata.create_file_metadata_by_id(
        file_id, CreateFileMetadataByIdScope.ENTERPRISE, "contract", {"counterparty": "Acme", "value": 3.0}
    )
    updated = ada.metadata_templates.update_metadata_template(
        ENTERPRISE,
        "contract",
        [
            UpdateMetadataTemplateRequestBody(op=Op.EDITTEMPLATE, data={"displayName": "Contract v2"}),
            UpdateMetadataTemplateRequestBody(
                op=Op.ADDFIELD,
                data={
                    "type": "enum",
                    "key": "stage",
                    "displayName": "Stage",
                    "options": [{"key": "draft"}, {"key": "signed"}],
                },
            ),
            UpdateMetadataTemplateRequestBody(
                op=Op.EDITFIELD, field_key="counterparty", data={"key": "party", "displayName": "Party"}
            ),
            UpdateMetadataTemplateRequestBody(op=Op.REMOVEFIELD, field_key="value"),
            UpdateMetadataTemplateRequestBody(op=Op.REORDERFIELDS, field_keys=["stage", "party", "expires"]),
            UpdateMetadataTemplateRequestBody(op=Op.ADDENUMOPTION, field_key="stage", data={"key": "void"}),
            UpdateMetadataTemplateRequestBody(
                op=Op.REORDERENUMOPTIONS, field_key="stage", enum_option_keys=["void", "signed", "draft"]
            ),
        ],
    )
    assert updated.display_name == "Contract v2"
    assert _keys(updated) == ["stage", "party", "expires"]
    stage = updated.fields[0]
    assert [o.key for o in stage.options or []] == ["void", "signed", "draft"]
    again = ada.metadata_templates.get_metadata_template(GetMetadataTemplateScope.ENTERPRISE, "contract")
    assert _keys(again) == ["stage", "party", "expires"]  # stored, not only answered
    instance = ada.file_metadata.get_file_metadata_by_id(
        file_id, GetFileMetadataByIdScope.ENTERPRISE, "contract"
    )
    extra = instance.extra_data or {}
    assert extra.get("party") == "Acme" and "counterparty" not in extra and "value" not in extra


def test_an_enum_option_renamed_or_removed_follows_into_instances(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Finance/q3-report.md"]
    ada.metadata_templates.update_metadata_template(
        ENTERPRISE,
        "contract",
        [
            UpdateMetadataTemplateRequestBody(
                op=Op.ADDFIELD,
                data={"type": "enum", "key": "stage", "displayName": "Stage", "options": [{"key": "draft"}]},
            )
        ],
    )
    ada.file_metadata.create_file_metadata_by_id(
        file_id, CreateFileMetadataByIdScope.ENTERPRISE, "contract", {"stage": "draft"}
    )
    ada.metadata_templates.update_metadata_template(
        ENTERPRISE,
        "contract",
        [
            UpdateMetadataTemplateRequestBody(
                op=Op.EDITENUMOPTION, field_key="stage", enum_option_key="draft", data={"key": "proposal"}
            )
        ],
    )
    read = ada.file_metadata.get_file_metadata_by_id(file_id, GetFileMetadataByIdScope.ENTERPRISE, "contract")
    assert (read.extra_data or {}).get("stage") == "proposal"
    ada.metadata_templates.update_metadata_template(
        ENTERPRISE,
        "contract",
        [
            UpdateMetadataTemplateRequestBody(
                op=Op.REMOVEENUMOPTION, field_key="stage", enum_option_key="proposal"
            )
        ],
    )
    read = ada.file_metadata.get_file_metadata_by_id(file_id, GetFileMetadataByIdScope.ENTERPRISE, "contract")
    assert "stage" not in (read.extra_data or {})


def test_a_bad_operation_changes_nothing_and_only_admins_may_change_templates(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    with pytest.raises(BoxAPIError) as err:
        ada.metadata_templates.update_metadata_template(
            ENTERPRISE,
            "contract",
            [
                UpdateMetadataTemplateRequestBody(op=Op.EDITTEMPLATE, data={"displayName": "Changed"}),
                UpdateMetadataTemplateRequestBody(op=Op.REMOVEFIELD, field_key="no_such_field"),
            ],
        )
    assert _code(err) == (400, "bad_request")
    assert "no_such_field" in (err.value.response_info.body or {}).get("message", "")
    kept = ada.metadata_templates.get_metadata_template(GetMetadataTemplateScope.ENTERPRISE, "contract")
    assert kept.display_name != "Changed"  # all or nothing
    with pytest.raises(BoxAPIError) as err:
        ada.metadata_templates.update_metadata_template(
            ENTERPRISE,
            "contract",
            [UpdateMetadataTemplateRequestBody(op=Op.REORDERFIELDS, field_keys=["value"])],
        )
    assert _code(err) == (400, "bad_request")
    with pytest.raises(BoxAPIError) as err:
        sdk("bob").metadata_templates.update_metadata_template(
            ENTERPRISE,
            "contract",
            [UpdateMetadataTemplateRequestBody(op=Op.EDITTEMPLATE, data={"hidden": True})],
        )
    assert _code(err) == (403, "access_denied_insufficient_permissions")
    with pytest.raises(BoxAPIError) as err:
        ada.metadata_templates.update_metadata_template(
            ENTERPRISE, "nope", [UpdateMetadataTemplateRequestBody(op=Op.EDITTEMPLATE, data={"hidden": True})]
        )
    assert _code(err) == (404, "not_found")


def test_classifications_keep_their_definition_and_colour_and_items_show_theirs(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada = sdk("ada")
    created = ada.classifications.create_classification_template(
        [
            CreateClassificationTemplateFields(
                options=[
                    CreateClassificationTemplateFieldsOptionsField(
                        key="Public",
                        static_config=CreateClassificationTemplateFieldsOptionsStaticConfigField(
                            classification=CreateClassificationTemplateFieldsOptionsStaticConfigClassificationField(
                                classification_definition="Anyone may see it", color_id=6
                            )
                        ),
                    )
                ]
            )
        ]
    )
    assert created.template_key == "securityClassification-6VMVochwUWo"
    option = created.fields[0].options[0]
    assert option.static_config.classification.color_id == 6
    added = ada.classifications.add_classification(
        [
            AddClassificationRequestBody(
                data=AddClassificationRequestBodyDataField(
                    key="Sensitive",
                    static_config=AddClassificationRequestBodyDataStaticConfigField(
                        classification=AddClassificationRequestBodyDataStaticConfigClassificationField(
                            classification_definition="Inside the company only", color_id=2
                        )
                    ),
                )
            )
        ]
    )
    assert [o.key for o in added.fields[0].options] == ["Public", "Sensitive"]
    ada.classifications.update_classification(
        [
            UpdateClassificationRequestBody(
                enum_option_key="Sensitive",
                data=UpdateClassificationRequestBodyDataField(
                    key="Confidential",
                    static_config=UpdateClassificationRequestBodyDataStaticConfigField(
                        classification=UpdateClassificationRequestBodyDataStaticConfigClassificationField(
                            classification_definition="Named people only", color_id=3
                        )
                    ),
                ),
            )
        ]
    )
    read = ada.classifications.get_classification_template()
    options = {o.key: o for o in read.fields[0].options}
    assert set(options) == {"Public", "Confidential"}
    assert (
        options["Confidential"].static_config.classification.classification_definition == "Named people only"
    )

    file_id = box.credentials["files"]["Finance/q3-report.md"]
    plain = ada.files.get_file_by_id(file_id, fields=["classification"])
    assert plain.classification is None  # asked for, none set: null
    ada.file_classifications.add_classification_to_file(
        file_id, box_security_classification_key="Confidential"
    )
    shown = ada.files.get_file_by_id(file_id, fields=["classification", "name"])
    assert shown.classification is not None
    assert shown.classification.name == "Confidential"
    assert shown.classification.definition == "Named people only"
    assert shown.classification.color and shown.classification.color.startswith("#")
    with pytest.raises(BoxAPIError) as err:
        ada.file_classifications.add_classification_to_file(
            box.credentials["files"]["Engineering/README.md"], box_security_classification_key="Unknown"
        )
    assert err.value.response_info.status_code == 400


def test_the_classification_template_keeps_its_one_field(sdk: Sdk, box: RunningEmulator) -> None:
    ada = sdk("ada")
    ada.classifications.create_classification_template(
        [
            CreateClassificationTemplateFields(
                options=[CreateClassificationTemplateFieldsOptionsField(key="Public")]
            )
        ]
    )
    with pytest.raises(BoxAPIError) as err:
        ada.metadata_templates.update_metadata_template(
            ENTERPRISE,
            "securityClassification-6VMVochwUWo",
            [
                UpdateMetadataTemplateRequestBody(
                    op=Op.ADDFIELD, data={"type": "string", "key": "x", "displayName": "X"}
                )
            ],
        )
    assert _code(err) == (400, "bad_request")
