"""`box-mcp approvals list | show | approve | deny`: the approval queue for headless admins.

Reads the deployment's store from the same settings `box-mcp serve` uses: the data dir's
`approvals.sqlite3` (BOX_MCP_DATA_DIR), or PostgreSQL (BOX_MCP_DATABASE_URL, with BOX_MCP_VAULT_KEY).
Every decision, and every expiry it notices, is written to the deployment's audit log as an `approval`
record, as the server writes its own. A held call waiting on the server sees the decision at its next
look at the store (within half a second).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TextIO

import anyio

from box_mcp.approval_records import (
    STATUSES,
    ApprovalRequest,
    ApprovalStateError,
    ApprovalStore,
    audit_fields,
)
from box_mcp.config import Settings
from box_mcp.decision import ApprovalTerms
from box_mcp.errors import AuditError, BoxMCPError
from box_mcp.ledger import open_approval_state

EXIT_REFUSED = 1  # the store refused the decision (already decided, expired, unknown id)
EXIT_USAGE = 2


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    approvals = sub.add_parser(
        "approvals",
        help="list, show, approve or deny calls waiting for approval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = approvals.add_subparsers(dest="approvals_command", metavar="ACTION", required=True)

    ls = actions.add_parser("list", help="approvals, newest first")
    ls.add_argument("--status", choices=STATUSES, help="only approvals in this status")
    ls.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(func=_guard(_cmd_list))

    show = actions.add_parser("show", help="one approval in full")
    show.add_argument("id")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_guard(_cmd_show))

    for name, approve in (("approve", True), ("deny", False)):
        p = actions.add_parser(name, help=f"{name} a pending approval (the call it was asked for runs once)")
        p.add_argument("id")
        p.add_argument("--reason", required=True, help="why: kept with the decision and in the audit log")
        p.add_argument("--by", help="who decides, as recorded (default: admin:<your user name>)")
        p.add_argument(
            "--override",
            action="store_true",
            help="decide an approval the policy gives to other approvers (the caller, named people)",
        )
        p.set_defaults(func=_guard(_decider(approve)))


def _guard(
    func: Callable[[argparse.Namespace, ApprovalStore, Settings], int],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = Settings.load()
        state = open_approval_state(settings)
        try:
            return func(args, state.store, settings)
        except ApprovalStateError as exc:
            print(f"box-mcp approvals: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        finally:
            state.store.close()

    return run


def _cmd_list(args: argparse.Namespace, store: ApprovalStore, settings: Settings) -> int:
    _expire(store, settings)
    records = store.list(status=args.status, limit=args.limit)
    if args.json:
        for record in records:
            print(json.dumps(_plain(record), sort_keys=True))
        return 0
    if not records:
        which = f" {args.status}" if args.status else ""
        print(f"no{which} approvals (a call a require_approval rule holds for an admin makes one)")
        return 0
    for record in records:
        print(_line(record))
    return 0


def _cmd_show(args: argparse.Namespace, store: ApprovalStore, settings: Settings) -> int:
    record = store.get(args.id)
    if record is None:
        raise ApprovalStateError(f"unknown id {args.id!r}: `box-mcp approvals list` shows the ids")
    if args.json:
        print(json.dumps(_plain(record), sort_keys=True, indent=2))
        return 0
    _describe(record, sys.stdout)
    return 0


def _decider(approve: bool) -> Callable[[argparse.Namespace, ApprovalStore, Settings], int]:
    def decide(args: argparse.Namespace, store: ApprovalStore, settings: Settings) -> int:
        record = store.get(args.id)
        if record is None:
            raise ApprovalStateError(f"unknown id {args.id!r}: `box-mcp approvals list` shows the ids")
        if "admin" not in record.approvers and not args.override:
            who = ApprovalTerms(record.approvers).who()
            raise ApprovalStateError(
                f"approval {record.id} is for {who} to decide, not an admin; pass --override to decide it "
                "anyway (recorded as yours)"
            )
        by = args.by or f"admin:{getpass.getuser()}"
        decided = store.decide(args.id, approve=approve, by=by, note=args.reason)
        _audit(settings, [("approved" if approve else "denied", decided)])
        verb = "approved" if approve else "denied"
        print(
            f"{decided.id} {verb} by {by}: {decided.tool} for {decided.agent} "
            f"({', '.join(decided.resources) or 'no item'})"
        )
        if approve:
            print(
                f"the call runs once when retried with the same arguments, until {_when(decided.expires_at)}"
            )
        return 0

    return decide


def _expire(store: ApprovalStore, settings: Settings) -> None:
    due = store.expire_due()
    if due:
        _audit(settings, [("expired", r) for r in due])


def _audit(settings: Settings, steps: list[tuple[str, ApprovalRequest]]) -> None:
    """Append `approval` records to the deployment's audit log (the file log under its lock, or the
    database's chain); a log that cannot be written is said, the decision stands (the store has it)."""

    async def write() -> None:
        from box_mcp.audit.store import load_key

        key = load_key(settings.audit_key_file) if settings.audit_key_file is not None else None
        if settings.database_url is not None:
            from box_mcp.state.audit import PostgresAuditLog

            log: Any = await PostgresAuditLog.open(settings.database_url, key=key)
        else:
            from box_mcp.audit.log import AuditLog

            log = await AuditLog.open(Path(settings.data_dir) / "audit", key=key)
        try:
            for action, record in steps:
                await log.append("approval", **audit_fields(action, record))
        finally:
            await log.aclose()

    try:
        anyio.run(write)
    except (AuditError, BoxMCPError, OSError) as exc:
        print(
            f"box-mcp approvals: the decision is stored, but the audit log could not record it: {exc}",
            file=sys.stderr,
        )


def _plain(record: ApprovalRequest) -> dict[str, Any]:
    out = asdict(record)
    for name in ("resources", "rules", "approvers"):
        out[name] = list(out[name])
    return out


def _when(at: float | None) -> str:
    return "-" if at is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def _line(record: ApprovalRequest) -> str:
    items = ", ".join(record.resources) or "no item"
    person = f" ({record.person_login or record.person_id})" if record.person_id else ""
    return (
        f"{record.id}  {record.status:<8}  {_when(record.created_at)}  {record.agent}{person}  "
        f"{record.tool}  {items}  by: {', '.join(record.approvers)}"
    )


def _describe(record: ApprovalRequest, out: TextIO) -> None:
    rows = [
        ("id", record.id),
        ("status", record.status),
        ("agent", record.agent),
        ("person", f"{record.person_login or ''} {record.person_id or ''}".strip() or "-"),
        ("client", record.client_id or "-"),
        ("session", record.session_id or "-"),
        ("tool", record.tool),
        ("arguments", json.dumps(record.arguments, sort_keys=True)),
        ("items", ", ".join(record.resources) or "-"),
        ("why", record.reason),
        ("rules", ", ".join(record.rules)),
        ("policy", record.policy_version or "-"),
        ("approvers", ApprovalTerms(record.approvers).who()),
        ("created", _when(record.created_at)),
        ("expires", _when(record.expires_at)),
        ("decided", f"{record.decided_by} at {_when(record.decided_at)}" if record.decided_by else "-"),
        ("note", record.decision_note or "-"),
        ("used", f"by call {record.call_id} at {_when(record.used_at)}" if record.call_id else "-"),
    ]
    for name, value in rows:
        print(f"{name + ':':<11}{value}", file=out)
