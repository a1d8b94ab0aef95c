"""The downscope table (box_mcp/tools/scopes.py) is the only copy: every tool has exactly one row, the specs
and the README read it, and a row binds its token to one item exactly when the tool names one item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from box_mcp.access import Access
from box_mcp.tools import scopes
from box_mcp.tools.catalog import CATALOG
from box_mcp.tools.spec import ToolSpec

README = Path(__file__).parents[2] / "README.md"
# Every optional id set: a call names one item only if it does so even with all of them given.
FULLEST: dict[str, dict[str, Any]] = {
    "upload_file": {"content_text": "x", "parent_folder_id": "5", "name": "a.pdf"},
    "upload_file_version": {"content_text": "x", "file_id": "5"},
    "get_upload_url": {"folder_id": "5", "file_name": "a.pdf", "size": 1},
    "get_preview_page": {"file_id": "5", "page": 1, "version_id": "6"},
    "update_file_properties": {"file_id": "5", "name": "b", "parent_folder_id": "6"},
    "update_folder_properties": {"folder_id": "5", "name": "b"},
    "create_collaboration": {"item_type": "folder", "item_id": "5", "role": "viewer", "user_id": "7"},
    "update_collaboration": {"collaboration_id": "5", "role": "viewer"},
    "set_file_metadata": {"file_id": "5", "scope": "enterprise", "template_key": "t", "values": {"a": "b"}},
    "set_folder_metadata": {
        "folder_id": "5",
        "scope": "enterprise",
        "template_key": "t",
        "values": {"a": "b"},
    },
    "search_files_keyword": {"query": "q", "ancestor_folder_ids": ["5"]},
    "search_files_metadata": {"template_key": "contract", "ancestor_folder_ids": ["5"]},
    "search_folders_by_name": {"query": "q", "ancestor_folder_ids": ["5"]},
    "list_metadata_templates": {"scope": "enterprise"},
    "create_folder": {"parent_folder_id": "5", "name": "new"},
    "create_file_comment": {"file_id": "5", "message": "hi"},
    "ai_qa_single_file": {"file_id": "5", "question": "q"},
    "ai_qa_multi_file": {"file_ids": ["5", "6"], "question": "q"},
    "ai_qa_hub": {"hub_id": "5", "prompt": "q"},
    "get_metadata_template_schema": {"template_key": "t"},
    "create_metadata_template": {"display_name": "T"},
    "update_metadata_template": {
        "template_key": "t",
        "operations": [{"op": "removeField", "field_key": "f"}],
    },
    "ai_extract_freeform": {"file_ids": ["5", "6"], "prompt": "p"},
    "ai_extract_structured_from_fields": {"file_ids": ["5", "6"], "fields": [{"key": "k"}]},
    "ai_extract_structured_from_fields_enhanced": {"file_ids": ["5", "6"], "fields": [{"key": "k"}]},
    "ai_extract_structured_from_metadata_template": {"file_ids": ["5", "6"], "template_key": "t"},
    "ai_extract_structured_from_metadata_template_enhanced": {"file_ids": ["5", "6"], "template_key": "t"},
    "create_hub": {"title": "Hub"},
    "create_user": {"login": "a@b.example", "name": "A"},
    "resolve_shared_link": {"shared_link": "https://app.box.com/s/abc123", "password": "pw"},
    "create_webhook": {
        "target_type": "file",
        "target_id": "5",
        "address": "https://hooks.example.com/x",
        "triggers": ["FILE.UPLOADED"],
    },
    "update_hub": {"hub_id": "5", "title": "Hub"},
    "add_items_to_hub": {"hub_id": "5", "items": [{"type": "file", "id": "6"}]},
    "create_web_link": {"parent_folder_id": "5", "url": "https://example.com"},
    "update_task_assignment": {"assignment_id": "5", "resolution_state": "completed"},
    "create_docgen_batch": {
        "template_id": "5",
        "destination_folder_id": "6",
        "generated_file_name": "out",
        "user_input": {},
    },
}


def _fullest(spec: ToolSpec) -> dict[str, Any]:
    args = FULLEST.get(spec.name)
    if args is not None:
        return args
    ids = {name: "5" for name in spec.input_model.model_fields if name.endswith("_id")}
    return {
        **ids,
        **({"item_type": "file"} if "item_type" in spec.input_model.model_fields else {}),
        **({"local_path": "/data/x"} if "local_path" in spec.input_model.model_fields else {}),
    }


def test_the_table_has_one_row_per_catalog_tool_in_catalog_order() -> None:
    assert list(scopes.TABLE) == [spec.name for spec in CATALOG]


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_each_spec_declares_the_box_scopes_of_its_row(spec: ToolSpec) -> None:
    row = scopes.need(spec.name)
    assert spec.box_scopes == row.scopes | {row.app}
    assert row.scopes <= scopes.DOWNSCOPE_SCOPES
    assert row.app == ("root_readonly" if spec.access is Access.READ else "root_readwrite")


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_a_row_binds_to_the_item_exactly_when_the_tool_names_one_item(spec: ToolSpec) -> None:
    names_one_item = spec.single_item_resource(spec.input_model.model_validate(_fullest(spec))) is not None
    assert (scopes.need(spec.name).binding == "item") == names_one_item


def test_a_scope_box_does_not_know_is_refused_when_the_table_is_built() -> None:
    with pytest.raises(ValueError, match="not a Box downscope scope: item_raname"):
        scopes._need("base_explorer item_raname", "root_readwrite", "item", "a typo")


def test_a_tool_without_a_row_is_named_in_the_error() -> None:
    with pytest.raises(KeyError, match="tool 'make_coffee' has no row"):
        scopes.need("make_coffee")


def test_readme_downscope_table_is_in_sync_with_the_module() -> None:
    text = README.read_text(encoding="utf-8")
    block = text[text.index(scopes.START) + len(scopes.START) : text.index(scopes.END)].strip()
    assert block == scopes.markdown_table(), "run: python -m box_mcp.tools.scopes --write"
