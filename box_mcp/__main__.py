"""`python -m box_mcp`: the `box-mcp` command, for when the script is not on PATH."""

import sys

from box_mcp.cli import main

sys.exit(main())
