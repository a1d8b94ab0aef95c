"""The tool specs declare what the policy reads of them, and the declarations match the tools: the policy
never guesses from argument or output field names, so a tool that forgot a declaration is caught here."""

from __future__ import annotations

import pytest

from box_mcp.tools.catalog import CATALOG
from box_mcp.tools.spec import ToolSpec

KINDS = {
    "who_am_i": "account",
    "list_folder_content_by_folder_id": "listing",
    "search_files_keyword": "search",
    "search_files_metadata": "search",
    "search_folders_by_name": "search",
    "list_hubs": "hubs",
    "get_hub_items": "items",
    "list_docgen_templates": "items",
    "list_trashed_items": "trash",
    "get_trashed_item": "trashed_item",
}


def _fields(spec: ToolSpec) -> set[str]:
    return set(spec.output_model.model_fields)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_every_output_that_can_show_hidden_items_declares_what_it_shows(spec: ToolSpec) -> None:
    fields = _fields(spec)
    if {"path", "parent"} <= fields:  # one item's details
        expected = "folder" if "item_count" in fields else "item"
    else:
        expected = KINDS.get(spec.name)
    assert spec.output_kind == expected
    if spec.output_kind == "account":
        assert "space_used" in fields
    if spec.output_kind in ("listing", "search", "hubs", "items", "trash"):
        assert "entries" in fields
    if spec.output_kind == "trashed_item":  # its parent (where it was trashed from) is trimmed above grants
        assert "parent" in fields
    if spec.output_kind in ("hubs", "items", "trash"):  # refilled by cursor past hidden entries
        assert {"next_cursor"} <= fields and {"limit", "cursor"} <= set(spec.input_model.model_fields)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_declared_argument_fields_exist_on_the_input_model(spec: ToolSpec) -> None:
    inputs = set(spec.input_model.model_fields)
    for declared in (spec.search_roots_field, spec.invitee_user_field, *spec.stdio_only_fields):
        assert declared is None or declared in inputs
    assert (spec.search_roots_field is not None) == (spec.output_kind == "search")
    assert (spec.invitee_user_field is not None) == (spec.name == "create_collaboration")


def test_only_writes_that_move_nothing_keep_cached_places() -> None:
    kept = {s.name for s in CATALOG if s.keeps_items_in_place}
    assert kept == {
        "add_file_shared_link",
        "add_folder_shared_link",
        "remove_shared_link",
        "set_file_metadata",
        "set_folder_metadata",
        "create_file_comment",
        # versions and locks change neither where an item sits nor its name
        "restore_file_version",
        "delete_file_version",
        "lock_file",
        "unlock_file",
        "lock_folder",
        "unlock_folder",
    }
    assert not any(s.read_only for s in CATALOG if s.keeps_items_in_place)
