"""The tool catalog: every ToolSpec, in the README's order, and the coarse selection switches.

Selection follows github-mcp-server: `toolsets` and `tools` add, `exclude_tools` removes, and
`read_only` wins over everything (no write tool survives it, even when named in `tools`). A tool that
cannot work on the deployment's transport is left out too (`unavailable` says why, for a call to it).

With no toolsets and no tools given, a server serves the default toolsets: every toolset but the
EXTRA ones, which Box's hosted MCP server does not have and most agents never need (the trash, file
versions and locks, web links, webhooks, the enterprise's users). Every tool in tools/list sits in the
agent's context for the whole session, so these come only when asked for: named in `--toolsets`
(`default,trash`, or `all`), or granted by name in the policy (a rule's `toolsets:` or `tools:`; see
`policy_named`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from box_mcp.errors import ConfigError
from box_mcp.tools import (
    ai,
    comments,
    content,
    docgen,
    files,
    folders,
    hubs,
    locks,
    metadata,
    preview,
    recent,
    search,
    shared_items,
    sharing,
    tasks,
    transfer,
    trash,
    users,
    versions,
    webhooks,
    weblinks,
)
from box_mcp.tools.spec import ToolSpec

_ORDER = (
    "who_am_i",
    # enterprise (admins)
    "list_users",
    "create_user",
    "get_file_details",
    "get_file_content",
    "download_file",
    "get_download_url",
    "get_file_preview",
    "get_preview_page",
    "upload_file",
    "upload_file_version",
    "get_upload_url",
    "update_file_properties",
    "copy_file",
    "move_file",
    "delete_file",
    "list_file_versions",
    "list_recent_items",
    # file versions and locks
    "promote_file_version",
    "restore_file_version",
    "delete_file_version",
    "lock_file",
    "unlock_file",
    "get_folder_details",
    "list_folder_content_by_folder_id",
    "create_folder",
    "update_folder_properties",
    "copy_folder",
    "move_folder",
    "delete_folder",
    # folder locks
    "list_folder_locks",
    "lock_folder",
    "unlock_folder",
    # trash
    "list_trashed_items",
    "get_trashed_item",
    "restore_file_from_trash",
    "restore_folder_from_trash",
    "purge_trashed_item",
    "search_files_keyword",
    "search_folders_by_name",
    "search_files_metadata",
    # hubs
    "list_hubs",
    "get_hub_details",
    "get_hub_items",
    "create_hub",
    "update_hub",
    "add_items_to_hub",
    "copy_hub",
    # docgen
    "list_docgen_templates",
    "get_docgen_template_by_id",
    "create_docgen_batch",
    "add_file_shared_link",
    "add_folder_shared_link",
    "get_shared_link",
    "remove_shared_link",
    "resolve_shared_link",
    "create_collaboration",
    "list_item_collaborations",
    "update_collaboration",
    "delete_collaboration",
    "list_metadata_templates",
    "get_metadata_template_schema",
    "create_metadata_template",
    "update_metadata_template",
    "get_file_metadata",
    "set_file_metadata",
    "set_folder_metadata",
    "create_file_comment",
    "list_file_comments",
    "list_tasks",
    "create_task",
    "assign_task",
    "update_task_assignment",
    "delete_task",
    # weblinks
    "create_web_link",
    "get_web_link",
    "update_web_link",
    "delete_web_link",
    # webhooks
    "list_webhooks",
    "create_webhook",
    "delete_webhook",
    # ai
    "ai_qa_single_file",
    "ai_qa_multi_file",
    "ai_qa_hub",
    "ai_extract_freeform",
    "ai_extract_structured_from_fields",
    "ai_extract_structured_from_fields_enhanced",
    "ai_extract_structured_from_metadata_template",
    "ai_extract_structured_from_metadata_template_enhanced",
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
        *recent.SPECS,
        *transfer.SPECS,
        *preview.SPECS,
        *versions.SPECS,
        *locks.SPECS,
        *folders.SPECS,
        *trash.SPECS,
        *search.SPECS,
        *hubs.SPECS,
        *docgen.SPECS,
        *sharing.SPECS,
        *shared_items.SPECS,
        *metadata.SPECS,
        *comments.SPECS,
        *tasks.SPECS,
        *weblinks.SPECS,
        *webhooks.SPECS,
        *ai.SPECS,
    )
)
BY_NAME: dict[str, ToolSpec] = {spec.name: spec for spec in CATALOG}
TOOLSETS: tuple[str, ...] = tuple(dict.fromkeys(spec.toolset for spec in CATALOG))


def get(name: str) -> ToolSpec:
    return BY_NAME[name]


# What to do instead, per tool that needs a local path (only a stdio client shares the server's disk).
_INSTEAD = {
    "download_file": "read a file's content with get_file_content (small files), or give a person a "
    "download link with add_file_shared_link",
}


def unavailable(spec: ToolSpec, transport: str | None) -> str | None:
    """Why `spec` cannot work over `transport` (None: it can, or the transport is not known).

    A tool whose required argument is a local path works only over stdio: over HTTP that path would name
    the server's disk, not the caller's. Tools where a local path is one option (upload_file takes inline
    content too) stay: the gate refuses only the path."""
    if transport is None or transport == "stdio":
        return None
    fields = spec.input_model.model_fields
    if not any(fields[name].is_required() for name in spec.stdio_only_fields if name in fields):
        return None
    instead = _INSTEAD.get(spec.name, "use a tool that takes the content inline")
    return (
        f"{spec.name} is only offered over stdio (this server runs over {transport}): it works on files "
        f"on the disk of the machine box-mcp runs on, which only a local stdio client shares. Instead, "
        f"{instead}."
    )


def not_served(served: Sequence[ToolSpec], catalog: Sequence[ToolSpec] = CATALOG) -> dict[str, str]:
    """Each catalog tool this selection leaves out, with how to serve it: the answer to a call naming it."""
    chosen = {s.name for s in served}
    out = {}
    for spec in catalog:
        if spec.name in chosen:
            continue
        how = (
            f"its toolset {spec.toolset!r} is served only when asked for: start box-mcp with --toolsets "
            f"default,{spec.toolset} (BOX_MCP_TOOLSETS), or grant it by name in the policy"
            if spec.toolset in EXTRA_TOOLSETS
            else "this server's --toolsets/--tools/--exclude-tools/--read-only leave it out"
        )
        out[spec.name] = f"{spec.name} is not served here: {how}. Call tools/list to see the tools it offers."
    return out


def withheld(transport: str | None, catalog: Sequence[ToolSpec] = CATALOG) -> dict[str, str]:
    """Each tool left out over `transport`, with why: the answer to a call that names it anyway."""
    return {s.name: why for s in catalog if (why := unavailable(s, transport)) is not None}


# Toolsets served only when asked for (see the module's docstring); "default" names all the others.
EXTRA_TOOLSETS: frozenset[str] = frozenset(
    {"enterprise", "locks", "trash", "versions", "webhooks", "weblinks"}
)


def default_toolsets(catalog: Sequence[ToolSpec] = CATALOG) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.toolset for s in catalog if s.toolset not in EXTRA_TOOLSETS))


def select(
    catalog: Sequence[ToolSpec] = CATALOG,
    *,
    toolsets: Sequence[str] | None = None,
    tools: Sequence[str] | None = None,
    exclude_tools: Sequence[str] | None = None,
    read_only: bool = False,
    transport: str | None = None,
    granted: tuple[Iterable[str], Iterable[str]] = ((), ()),
) -> tuple[ToolSpec, ...]:
    """The tools a deployment exposes. No toolsets and no tools given means the default toolsets (every
    toolset but EXTRA_TOOLSETS), plus the toolsets and tools in `granted` (what a policy names); "all"
    means every toolset and "default" the default ones. With `transport`, tools that cannot work over it
    are left out (see `unavailable`)."""
    names = {s.name for s in catalog}
    sets = {s.toolset for s in catalog}
    for wanted in tools or ():
        if wanted not in names:
            raise ConfigError(f"unknown tool {wanted!r}; known tools: {', '.join(sorted(names))}")
        why = unavailable(next(s for s in catalog if s.name == wanted), transport)
        if why is not None:  # asked for by name: say so at start rather than drop it silently
            raise ConfigError(f"--tools {wanted}: {why}")
    for wanted in exclude_tools or ():
        if wanted not in names:
            raise ConfigError(f"unknown tool {wanted!r} in --exclude-tools")
    chosen_sets = set(toolsets or ())
    extra = set(tools or ())
    if not toolsets and not tools:
        named_sets, named_tools = granted
        chosen_sets = {"default", *(n for n in named_sets if n in sets)}
        extra = {n for n in named_tools if n in names}
    if "all" in chosen_sets:
        chosen_sets = sets
    if "default" in chosen_sets:
        chosen_sets = (chosen_sets - {"default"}) | set(default_toolsets(catalog))
    for wanted in chosen_sets:
        if wanted not in sets:
            raise ConfigError(
                f"unknown toolset {wanted!r}; known toolsets: {', '.join(sorted(sets))}, default, all"
            )
    excluded = set(exclude_tools or ())
    picked = [
        s
        for s in catalog
        if (s.toolset in chosen_sets or s.name in extra)
        and s.name not in excluded
        and (s.read_only or not read_only)
        and unavailable(s, transport) is None
    ]
    return tuple(picked)
