"""The tool table every area codes against (names, toolsets, access), for when the catalog is not importable.

`tools_for_policy()` prefers the live catalog (`box_mcp.tools.catalog.CATALOG`) and falls back to this table,
so `box-mcp policy check` works in a checkout where the tools are not built yet.
"""

from __future__ import annotations

from box_mcp.access import Access
from box_mcp.policy.engine import ToolInfo

R, W, A = Access.READ, Access.WRITE, Access.ADMIN

REFERENCE_TOOLS: dict[str, ToolInfo] = {
    name: ToolInfo(toolset, access)
    for name, toolset, access in (
        ("who_am_i", "users", R),
        ("get_file_details", "files", R),
        ("get_file_content", "files", R),
        ("download_file", "files", R),
        ("upload_file", "files", W),
        ("upload_file_version", "files", W),
        ("update_file_properties", "files", W),
        ("copy_file", "files", W),
        ("move_file", "files", W),
        ("delete_file", "files", W),
        ("list_file_versions", "files", R),
        ("get_folder_details", "folders", R),
        ("list_folder_content_by_folder_id", "folders", R),
        ("create_folder", "folders", W),
        ("update_folder_properties", "folders", W),
        ("copy_folder", "folders", W),
        ("move_folder", "folders", W),
        ("delete_folder", "folders", W),
        ("search_files_keyword", "search", R),
        ("search_folders_by_name", "search", R),
        ("add_file_shared_link", "sharing", A),
        ("add_folder_shared_link", "sharing", A),
        ("get_shared_link", "sharing", R),
        ("remove_shared_link", "sharing", A),
        ("create_collaboration", "sharing", A),
        ("list_collaborations", "sharing", R),
        ("update_collaboration", "sharing", A),
        ("delete_collaboration", "sharing", A),
        ("list_metadata_templates", "metadata", R),
        ("get_file_metadata", "metadata", R),
        ("set_file_metadata", "metadata", W),
        ("set_folder_metadata", "metadata", W),
        ("create_file_comment", "comments", W),
        ("list_file_comments", "comments", R),
        ("list_tasks", "tasks", R),
    )
}


def tools_for_policy() -> dict[str, ToolInfo]:
    """The live catalog's tools when it can be imported, else the reference table."""
    try:
        from box_mcp.tools.catalog import CATALOG  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return dict(REFERENCE_TOOLS)
    return {spec.name: ToolInfo(str(spec.toolset), Access(spec.access)) for spec in CATALOG}
