"""HTTP face of box-mcp: `app` (/mcp, /healthz, Host/Origin, inbound auth), `serving`, `demo`."""
