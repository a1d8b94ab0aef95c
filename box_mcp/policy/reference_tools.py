"""The tools a policy can name (name -> toolset, access), read from the catalog when asked.

The engine takes this mapping as an argument instead of importing the catalog, so the policy package
stays below the tools in the import order; only the CLI and the deployment wiring call this.
"""

from __future__ import annotations

from box_mcp.access import Access
from box_mcp.policy.engine import ToolInfo


def tools_for_policy() -> dict[str, ToolInfo]:
    """Every tool of the catalog, as the policy engine sees it."""
    from box_mcp.tools.catalog import CATALOG

    return {
        spec.name: ToolInfo(
            str(spec.toolset), Access(spec.access), spec.hints.destructive, spec.enterprise_wide
        )
        for spec in CATALOG
    }
