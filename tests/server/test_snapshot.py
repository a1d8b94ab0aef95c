"""Pins every tool's name, description, annotations and schemas (regenerate: BOX_MCP_UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from box_mcp.tools.catalog import CATALOG, TOOLSETS
from box_mcp.tools.listed import mcp_tool
from box_mcp.tools.table import END, START, TOOLSET_ABOUT, render

SNAPSHOT = Path(__file__).with_name("tools_snapshot.json")
README = Path(__file__).parents[2] / "README.md"


def _current() -> list[dict[str, Any]]:
    return [
        mcp_tool(spec).model_dump(mode="json", by_alias=True, exclude_none=True) | {"toolset": spec.toolset}
        for spec in CATALOG
    ]


def test_tool_definitions_match_the_snapshot() -> None:
    current = _current()
    if os.environ.get("BOX_MCP_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(json.dumps(current, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    pinned = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert [t["name"] for t in current] == [t["name"] for t in pinned]
    for now, then in zip(current, pinned, strict=True):
        assert now == then, f"{now['name']} changed; review and regenerate with BOX_MCP_UPDATE_SNAPSHOTS=1"


def test_readme_tool_table_is_in_sync_with_the_catalog() -> None:
    text = README.read_text(encoding="utf-8")
    block = text[text.index(START) + len(START) : text.index(END)].strip()
    assert block == render(), "run: python -m box_mcp.tools.table --write"


def test_every_toolset_says_what_it_is_for() -> None:
    assert set(TOOLSET_ABOUT) == set(TOOLSETS)
