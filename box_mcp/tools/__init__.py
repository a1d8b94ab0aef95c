"""The tool catalog: `spec` (ToolSpec), one module per Box area, `catalog` (CATALOG, select), `table`."""
