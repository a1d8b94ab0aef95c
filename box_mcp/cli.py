"""The `box-mcp` command: one sub-command per area (serve, demo, emulator, policy, audit, auth).

Each area owns a module with `register(subparsers)`, which adds its parser(s) and sets `func` on them;
this file only collects them, so that starting `box-mcp emulator` never imports the MCP server.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Order is the order of `box-mcp --help`.
COMMAND_MODULES = (
    "box_mcp.server_cli",  # serve, demo
    "box_mcp.emulator.cli",  # emulator
    "box_mcp.policy.cli",  # policy check | explain | test | new-key
    "box_mcp.audit.cli",  # audit tail | query | verify
    "box_mcp.broker.cli",  # auth login | status | logout
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="box-mcp", description="A governed MCP server for Box.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not built yet in this checkout
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    result = func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
