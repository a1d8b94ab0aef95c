"""HTTP face of box-mcp: `app` (/mcp, /healthz, Host/Origin, inbound auth) and `guards`.
The socket and uvicorn come from `box_mcp._serving`."""
