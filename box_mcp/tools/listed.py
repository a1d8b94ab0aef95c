"""A tool as MCP's tools/list shows it: name, title, description, schemas and the four hints."""

from __future__ import annotations

from mcp_types import Tool, ToolAnnotations

from box_mcp.tools.spec import ToolSpec


def mcp_tool(spec: ToolSpec) -> Tool:
    """The title is given once, as Tool.title: clients display it in preference to annotations.title
    (MCP 2025-06-18 on), so a second copy there would only cost bytes."""
    hints = spec.hints
    return Tool(
        name=spec.name,
        title=spec.title,
        description=spec.description,
        input_schema=spec.input_schema(),
        output_schema=spec.output_schema(),
        annotations=ToolAnnotations(
            read_only_hint=hints.read_only,
            destructive_hint=hints.destructive,
            idempotent_hint=hints.idempotent,
            open_world_hint=hints.open_world,
        ),
    )
