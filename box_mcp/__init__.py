"""box-mcp: a governed MCP server for Box."""

__version__ = "0.1.0"
