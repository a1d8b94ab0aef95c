"""`box-mcp sandbox create | list | revoke`: agent sandboxes, one command each (the work is box_mcp.sandbox).

The service account comes from BOX_CLIENT_ID/SECRET/ENTERPRISE_ID (CCG) or BOX_JWT_CONFIG_FILE (JWT);
the policy directory from --policy-dir, else BOX_MCP_POLICY, else ./policies.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import anyio

from box_mcp import sandbox as sb
from box_mcp.config import Settings

DEFAULT_POLICY_DIR = "policies"


def register(subparsers: Any) -> None:
    sandbox = subparsers.add_parser(
        "sandbox", help="agent sandboxes: a Box app user, its folder and a policy stanza, in one command"
    )
    sub = sandbox.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--policy-dir",
            type=Path,
            default=None,
            help="the policy directory `box-mcp serve` reads (env BOX_MCP_POLICY; default ./policies)",
        )
        parser.add_argument(
            "--box-url",
            default=None,
            help="Box origin, e.g. an emulator's http://127.0.0.1:8088 (env BOX_MCP_BOX_URL)",
        )

    create = sub.add_parser("create", help="make the app user, folder, collaboration and policy stanza")
    common(create)
    create.add_argument("name", help="the agent's name (the policy agent and the app user's box-mcp:NAME)")
    create.add_argument("--folder", required=True, help="folder path under --parent, e.g. 'Agents/NAME'")
    create.add_argument("--parent", default="0", help="the folder id the path starts in [0: the root]")
    create.add_argument(
        "--role", default="editor", choices=sorted(sb.ROLE_ACCESS), help="the app user's role on it [editor]"
    )
    create.set_defaults(func=_run(_create))

    listing = sub.add_parser("list", help="the sandboxes of the policy directory, checked against Box")
    common(listing)
    listing.add_argument("--offline", action="store_true", help="do not ask Box; only read the stanzas")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(func=_run(_list))

    revoke = sub.add_parser(
        "revoke", help="revoke the keys, remove the collaboration, set the app user inactive (audit kept)"
    )
    common(revoke)
    revoke.add_argument("name")
    revoke.set_defaults(func=_run(_revoke))


def _run(action: Any) -> Any:
    def func(args: argparse.Namespace) -> int:
        settings = Settings.load(policy=args.policy_dir, box_url=args.box_url)
        directory = settings.policy
        if directory is None and Path(DEFAULT_POLICY_DIR).is_dir():
            directory = Path(DEFAULT_POLICY_DIR)
        result: int = anyio.run(action, args, settings, sb.policy_dir(directory))
        return result

    return func


async def _create(args: argparse.Namespace, settings: Settings, directory: Path) -> int:
    made = await sb.create(settings, directory, args.name, args.folder, parent=args.parent, role=args.role)
    r = made.sandbox.record
    print(f"Created sandbox {made.sandbox.name}:")
    print(f"  app user    {r.app_user} (external_app_user_id {sb.EXTERNAL_PREFIX}{made.sandbox.name})")
    print(f"  folder      {r.folder} {r.path!r} under folder {r.parent}")
    print(f"  role        {r.role} (collaboration {r.collaboration}; policy access {sb.ROLE_ACCESS[r.role]})")
    print(f"  stanza      {made.sandbox.file} (mode 0600; notifications off)")
    for note in made.notes:
        print(f"  note        {note}")
    print(f"API key for {made.sandbox.name} (shown once; give it to the agent, do not store it):")
    print(f"  {made.api_key}")
    print("A running `box-mcp serve` on this policy directory picks the stanza up at its next reload.")
    return 0


def _row(s: sb.Sandbox) -> dict[str, Any]:
    r = s.record
    return {
        "name": s.name,
        "app_user": r.app_user,
        "folder": r.folder,
        "path": r.path,
        "parent": r.parent,
        "role": r.role,
        "keys": s.keys,
        "state": s.state,
        "created": r.created,
        "revoked": r.revoked,
        "drift": list(s.drift),
        "file": str(s.file),
    }


async def _list(args: argparse.Namespace, settings: Settings, directory: Path) -> int:
    listing = await sb.checked_list(settings, directory, offline=args.offline)
    sandboxes = listing.sandboxes
    if listing.checked:
        checked = "checked against Box"
    elif args.offline:
        checked = "not checked against Box (--offline)"
    else:  # no service account: still show what the stanzas say
        checked = f"not checked against Box: {listing.why_not}"
    if args.json:
        for s in sandboxes:
            print(json.dumps(_row(s)))
    elif not sandboxes:
        print(
            f"no sandboxes in {directory}; make one with `box-mcp sandbox create NAME --folder 'Agents/NAME'`"
        )
    else:
        head = ("NAME", "APP USER", "FOLDER", "PATH", "ROLE", "KEYS", "STATE")
        rows = [head] + [
            (s.name, s.record.app_user, s.record.folder, s.record.path, s.record.role, str(s.keys), s.state)
            for s in sandboxes
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
        for row in rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        for s in sandboxes:
            for problem in s.drift:
                print(f"drift: {s.name}: {problem}")
    drifted = listing.drifted
    if not args.json and sandboxes:
        print(f"{len(sandboxes)} sandboxes, {drifted} drifted; {checked}")
    elif args.json and checked.startswith("not checked against Box:"):
        print(checked, file=sys.stderr)
    return 1 if drifted else 0


async def _revoke(args: argparse.Namespace, settings: Settings, directory: Path) -> int:
    done = await sb.revoke(settings, directory, args.name)
    r = done.sandbox.record
    print(f"Revoked sandbox {done.sandbox.name} on {r.revoked}:")
    print(f"  keys        none left in {done.sandbox.file} (a running server drops them at its next reload)")
    print(f"  collaboration {r.collaboration} removed; app user {r.app_user} set inactive")
    for note in done.notes:
        print(f"  note        {note}")
    print("  audit       kept as it is")
    return 0
