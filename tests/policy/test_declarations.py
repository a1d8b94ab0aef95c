"""The tool specs declare what the policy reads of them, and the declarations match the tools: the policy
never guesses from argument or output field names, so a tool that forgot a declaration is caught here."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from box_mcp.access import ResourceUse
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
    "list_webhooks": "webhooks",
    "list_recent_items": "items",
    "list_trashed_items": "trash",
    "get_trashed_item": "trashed_item",
}


def _sample_uses(spec: ToolSpec) -> tuple[ResourceUse, ...]:
    """The resources of a call with the fewest valid arguments, where the tool can be called without any."""
    try:
        args = spec.input_model.model_validate(SAMPLES.get(spec.name, {}))
    except ValidationError:
        return ()
    return spec.resources(args)


SAMPLES = {"resolve_shared_link": {"shared_link": "https://app.box.com/s/abc123"}}


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
    if spec.output_kind in ("hubs", "items", "webhooks", "trash"):  # refilled by cursor past hidden entries
        assert {"next_cursor"} <= fields and {"limit", "cursor"} <= set(spec.input_model.model_fields)


@pytest.mark.parametrize("spec", CATALOG, ids=lambda s: s.name)
def test_declared_argument_fields_exist_on_the_input_model(spec: ToolSpec) -> None:
    inputs = set(spec.input_model.model_fields)
    declared_fields = (
        spec.search_roots_field,
        spec.invitee_user_field,
        *(spec.shared_link_fields or ()),
        *spec.stdio_only_fields,
    )
    for declared in declared_fields:
        assert declared is None or declared in inputs
    # the policy resolves a shared link only for a tool that names one and says where its password is
    names_a_link = any(use.item.type == "shared_link" for use in _sample_uses(spec))
    assert (spec.shared_link_fields is not None) == names_a_link
    assert (spec.search_roots_field is not None) == (spec.output_kind == "search")
    # who is invited (a collaborator) or told (a task's assignee, whom Box e-mails the task)
    assert (spec.invitee_user_field is not None) == (spec.name in ("create_collaboration", "assign_task"))


def test_only_writes_that_move_nothing_keep_cached_places() -> None:
    kept = {s.name for s in CATALOG if s.keeps_items_in_place}
    assert kept == {
        "add_file_shared_link",
        "add_folder_shared_link",
        "remove_shared_link",
        "set_file_metadata",
        "set_folder_metadata",
        "create_file_comment",
        # tasks hang off their file: creating, assigning, resolving or deleting one moves nothing
        "create_task",
        "assign_task",
        "update_task_assignment",
        "delete_task",
        "create_metadata_template",  # a template is no item: nothing moves
        "update_metadata_template",
        "create_user",  # a user and webhooks move no item
        "create_webhook",
        "delete_webhook",
        # versions and locks change neither where an item sits nor its name
        "restore_file_version",
        "delete_file_version",
        "lock_file",
        "unlock_file",
        "lock_folder",
        "unlock_folder",
    }
    assert not any(s.read_only for s in CATALOG if s.keeps_items_in_place)
