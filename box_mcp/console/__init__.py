"""The web console at /console (issue 13): audit, approvals, agents, policy and Box identities for the
admin, served by `box-mcp serve --transport http` next to /mcp. See box_mcp/console/app.py."""
