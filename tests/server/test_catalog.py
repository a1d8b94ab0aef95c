"""The catalog is complete, every tool declares itself fully, and the coarse selection switches behave."""

from __future__ import annotations

from pathlib import Path

import pytest

from box_mcp.access import Access
from box_mcp.errors import ConfigError
from box_mcp.tools.catalog import CATALOG, EXTRA_TOOLSETS, TOOLSETS, default_toolsets, not_served, select
from box_mcp.tools.listed import mcp_tool


def test_every_tool_has_explicit_annotations_an_object_output_schema_and_no_top_level_any_of() -> None:
    for spec in CATALOG:
        tool = mcp_tool(spec)
        ann = tool.annotations
        assert ann is not None
        assert None not in (
            ann.read_only_hint,
            ann.destructive_hint,
            ann.idempotent_hint,
            ann.open_world_hint,
        )
        assert tool.output_schema is not None and tool.output_schema.get("type") == "object", spec.name
        assert tool.input_schema.get("type") == "object", spec.name
        assert "anyOf" not in tool.input_schema and "oneOf" not in tool.input_schema, spec.name
        assert "anyOf" not in tool.output_schema, spec.name
        assert tool.input_schema.get("additionalProperties") is False, spec.name


def test_read_only_hint_agrees_with_access_and_box_scopes_are_declared() -> None:
    for spec in CATALOG:
        if spec.access is Access.ADMIN and spec.read_only:
            # an admin read (list_users): it reads what only an enterprise grant covers, never an item
            assert spec.toolset == "enterprise", spec.name
            continue
        assert spec.hints.read_only == (spec.access is Access.READ), spec.name
        assert spec.box_scopes, spec.name
        assert len(spec.description) > 40, spec.name


def test_no_selection_means_the_default_toolsets_and_the_extras_come_when_asked_for() -> None:
    default = select()
    assert {s.toolset for s in default} == set(default_toolsets()) == set(TOOLSETS) - EXTRA_TOOLSETS
    assert select(toolsets=["default"]) == default
    assert select(toolsets=["all"]) == CATALOG
    with_trash = {s.name for s in select(toolsets=["default", "trash"])}
    assert {"restore_file_from_trash", "get_file_details"} <= with_trash and "lock_file" not in with_trash
    # what a policy names is served beside the defaults: its toolsets and its tools
    granted = {s.name for s in select(granted=(["trash"], ["lock_file", "no_such_tool"]))}
    assert {"restore_file_from_trash", "lock_file", "get_file_details"} <= granted
    assert "unlock_file" not in granted and "list_webhooks" not in granted
    # ... but never beside an explicit --toolsets/--tools
    assert "restore_file_from_trash" not in {
        s.name for s in select(toolsets=["files"], granted=(["trash"], ()))
    }


def test_a_call_to_a_tool_left_out_says_how_to_serve_it() -> None:
    told = not_served(select())
    assert "default,trash" in told["restore_file_from_trash"] and "get_file_details" not in told
    narrowed = not_served(select(toolsets=["users"]))
    assert "--toolsets" in narrowed["get_file_details"]


def test_read_only_wins_over_an_explicitly_named_write_tool() -> None:
    picked = select(tools=["create_folder", "who_am_i"], read_only=True)
    assert [s.name for s in picked] == ["who_am_i"]
    assert all(s.read_only for s in select(read_only=True))


def test_toolsets_plus_tools_add_and_exclude_tools_removes() -> None:
    picked = {
        s.name for s in select(toolsets=["folders"], tools=["who_am_i"], exclude_tools=["delete_folder"])
    }
    assert "who_am_i" in picked and "create_folder" in picked
    assert "delete_folder" not in picked and "get_file_details" not in picked


def test_all_toolset_selects_everything() -> None:
    assert select(toolsets=["all"]) == CATALOG
    assert set(TOOLSETS) == {
        "users",
        "enterprise",
        "webhooks",
        "files",
        "folders",
        "search",
        "sharing",
        "metadata",
        "comments",
        "tasks",
        "ai",
        "hubs",
        "docgen",
        "weblinks",
        "trash",
        "versions",
        "locks",
    }


@pytest.mark.parametrize(
    "kwargs", [{"toolsets": ["nope"]}, {"tools": ["rm_rf"]}, {"exclude_tools": ["rm_rf"]}]
)
def test_unknown_toolsets_and_tools_are_a_config_error_naming_them(kwargs: dict[str, list[str]]) -> None:
    with pytest.raises(ConfigError, match=r"nope|rm_rf"):
        select(**kwargs)  # type: ignore[arg-type]


def test_every_tool_is_exercised_by_the_tool_tests() -> None:
    here = Path(__file__).parent
    text = "\n".join(p.read_text() for p in sorted(here.glob("test_tools_*.py")))
    untested = [s.name for s in CATALOG if f'"{s.name}"' not in text]
    assert untested == []
