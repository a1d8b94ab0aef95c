"""The `box-mcp` command: one sub-command per area (serve, demo, emulator, policy, audit, auth, sandbox,
approvals, webhooks).

Each area owns a module with `register(subparsers)`, which adds its parser(s) and sets `func` on them;
this file only collects them. The modules import what a command needs inside its function, so
starting `box-mcp emulator` never imports the MCP server.
Errors a person can fix (box-mcp's own errors, a path that cannot be read or written) end as one line
on stderr and exit status 2, whichever sub-command raised them; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from box_mcp import __version__, approvals_cli, sandbox_cli, server_cli, webhooks_cli
from box_mcp.audit import cli as audit_cli
from box_mcp.broker import cli as broker_cli
from box_mcp.emulator import cli as emulator_cli
from box_mcp.errors import BoxMCPError
from box_mcp.policy import cli as policy_cli

EXIT_USAGE = 2  # what argparse uses for a bad command line; a setting or file the user must fix is the same


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="box-mcp", description="A governed MCP server for Box.")
    parser.add_argument("--version", action="version", version=f"box-mcp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    server_cli.register(sub)  # serve, demo
    emulator_cli.register(sub)  # emulator
    policy_cli.register(sub)  # policy check | explain | test | init | new-key
    audit_cli.register(sub)  # audit tail | query | verify
    broker_cli.register(sub)  # auth login | status | logout
    sandbox_cli.register(sub)  # sandbox create | list | revoke
    approvals_cli.register(sub)  # approvals list | show | approve | deny
    webhooks_cli.register(sub)  # webhooks ensure
    return parser


def user_error(exc: BaseException) -> str | None:
    """The one line to print when `exc` is something the user can fix; None for a bug (or Ctrl-C).

    Task groups (anyio, uvicorn) wrap what a task raised in an exception group: it is the user's error
    only when every exception inside is."""
    if isinstance(exc, BaseExceptionGroup):
        lines = [user_error(inner) for inner in exc.exceptions]
        if not lines or any(line is None for line in lines):
            return None
        return "; ".join(dict.fromkeys(line for line in lines if line))
    if isinstance(exc, BoxMCPError):
        return str(exc)
    if isinstance(exc, OSError) and exc.filename is not None:  # a path the user gave or configured
        what = exc.strerror or exc.__class__.__name__
        return f"{exc.filename}: {what} (check the path and its permissions)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        result = func(args)
    except KeyboardInterrupt:
        return 130
    except BaseException as exc:
        line = user_error(exc)
        if line is None:
            raise
        print(f"box-mcp {args.command}: {line}", file=sys.stderr, flush=True)
        return EXIT_USAGE
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
