"""The tool catalog: every ToolSpec, in the README's order, and the coarse selection switches.

Selection follows github-mcp-server: `toolsets` and `tools` add, `exclude_tools` removes, and
`read_only` wins over everything (no write tool survives it, even when named in `tools`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from box_mcp.errors import ConfigError
from box_mcp.tools import comments, content, files, folders, metadata, search, sharing, tasks, users
from box_mcp.tools.spec import ToolSpec

_ORDER = (
    "who_am_i",
    "get_file_details",
    "get_file_content",
    "download_file",
    "upload_file",
    "upload_file_version",
    "update_file_properties",
    "copy_file",
    "move_file",
    "delete_file",
    "list_file_versions",
    "get_folder_details",
    "list_folder_content_by_folder_id",
    "create_folder",
    "update_folder_properties",
    "copy_folder",
    "move_folder",
    "delete_folder",
    "search_files_keyword",
    "search_folders_by_name",
    "add_file_shared_link",
    "add_folder_shared_link",
    "get_shared_link",
    "remove_shared_link",
    "create_collaboration",
    "list_collaborations",
    "update_collaboration",
    "delete_collaboration",
    "list_metadata_templates",
    "get_file_metadata",
    "set_file_metadata",
    "set_folder_metadata",
    "create_file_comment",
    "list_file_comments",
    "list_tasks",
)


def _ordered(specs: Iterable[ToolSpec]) -> tuple[ToolSpec, ...]:
    by_name = {s.name: s for s in specs}
    missing = set(_ORDER) ^ set(by_name)
    if missing:  # a spec added without an _ORDER entry, or the reverse: fail at import, not in production
        raise RuntimeError(f"catalog and _ORDER disagree on: {sorted(missing)}")
    return tuple(by_name[name] for name in _ORDER)


CATALOG: tuple[ToolSpec, ...] = _ordered(
    (
        *users.SPECS,
        *files.SPECS,
        *content.SPECS,
        *folders.SPECS,
        *search.SPECS,
        *sharing.SPECS,
        *metadata.SPECS,
        *comments.SPECS,
        *tasks.SPECS,
    )
)
BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in CATALOG}
TOOLSETS: tuple[str, ...] = tuple(dict.fromkeys(spec.toolset for spec in CATALOG))


def get(name: str) -> ToolSpec:
    return BY_NAME[name]


def select(
    catalog: Sequence[ToolSpec] = CATALOG,
    *,
    toolsets: Sequence[str] | None = None,
    tools: Sequence[str] | None = None,
    exclude_tools: Sequence[str] | None = None,
    read_only: bool = False,
) -> tuple[ToolSpec, ...]:
    """The tools a deployment exposes. No toolsets and no tools given means every toolset ("all" too)."""
    names = {s.name for s in catalog}
    sets = {s.toolset for s in catalog}
    for wanted in tools or ():
        if wanted not in names:
            raise ConfigError(f"unknown tool {wanted!r}; known tools: {', '.join(sorted(names))}")
    for wanted in exclude_tools or ():
        if wanted not in names:
            raise ConfigError(f"unknown tool {wanted!r} in --exclude-tools")
    chosen_sets = set(toolsets or ())
    if "all" in chosen_sets or (not toolsets and not tools):
        chosen_sets = sets
    for wanted in chosen_sets:
        if wanted not in sets:
            raise ConfigError(f"unknown toolset {wanted!r}; known toolsets: {', '.join(sorted(sets))}, all")
    extra = set(tools or ())
    excluded = set(exclude_tools or ())
    picked = [
        s
        for s in catalog
        if (s.toolset in chosen_sets or s.name in extra)
        and s.name not in excluded
        and (s.read_only or not read_only)
    ]
    return tuple(picked)
