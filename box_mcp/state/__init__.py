"""Shared state on PostgreSQL (`BOX_MCP_DATABASE_URL`): what several box-mcp processes must agree on.

The token vault (`vault`), the remote sign-in OAuth store (`oauth`), approvals (`approvals`), rate
limits (`limits`), the MCP session registry (`sessions`) and the one audit chain (`audit`); the schema
is versioned (`migrations`) and applied at start under an advisory lock. Without a database URL
everything stays in SQLite and files in the data dir. Only the modules that need psycopg import it, so
the embedded default never loads the driver.
"""
