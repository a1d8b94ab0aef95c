"""Tool names box-mcp once used and the names that replaced them (Box's hosted server's own, so prompts and
Box's agent skills carry over). A policy naming an old one fails to load with the new name in the error:
loading it under the old name would grant nothing, and quietly."""

from __future__ import annotations

RENAMED: dict[str, str] = {
    "list_collaborations": "list_item_collaborations",
}


def renamed(name: str) -> str:
    """' (renamed: write ...)' for an old tool name, else ''."""
    new = RENAMED.get(name)
    return f"; it was renamed: write {new!r} instead" if new else ""
