"""box-mcp as an OAuth 2.1 authorization server for MCP clients: state, provider, client documents."""
