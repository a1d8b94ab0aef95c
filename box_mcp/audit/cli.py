"""`box-mcp audit tail | query | verify | export | reindex | new-key`: read, search and prove the audit log,
in the data dir's files or, for a deployment on PostgreSQL (BOX_MCP_DATABASE_URL), in its database.

verify exit status: 0 the chain is intact and every write intent has its outcome; 1 tampered (the first
bad record is named); 2 intact but incomplete (intents without outcome, or a torn last line from a
crash); 3 the log cannot be read at all.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from box_mcp.config import Settings
from box_mcp.errors import AuditError, ConfigError

from .index import parse_time, query, rebuild
from .ocsf import to_ocsf
from .record import canonical
from .store import Head, load_key, new_key_file
from .verify import verify

EXIT_UNREADABLE = 3
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _safe(text: Any) -> str:
    # Names and messages come from agents and Box: never let them drive the terminal.
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def one_line(rec: dict[str, Any]) -> str:
    """A record as one readable line: time, seq, kind, agent, tool, decision, outcome, items."""
    parts = [str(rec.get("time", ""))[:23].replace("T", " "), f"#{rec.get('seq')}", str(rec.get("kind"))]
    for key in ("agent", "tool"):
        if rec.get(key):
            parts.append(_safe(rec[key]))
    decision = rec.get("decision")
    if decision:
        rules = ",".join(decision.get("rules") or [])
        parts.append(f"{decision.get('effect')}[{_safe(rules)}]" if rules else str(decision.get("effect")))
    outcome = rec.get("outcome")
    if outcome:
        text = str(outcome.get("status"))
        for key in ("error_code", "http_status"):
            if outcome.get(key) is not None:
                text += f" {_safe(outcome[key])}"
        parts.append(text)
    if rec.get("latency_ms") is not None:
        parts.append(f"{rec['latency_ms']}ms")
    for item in rec.get("items") or ():
        name = f' "{_safe(item["name"])}"' if item.get("name") else ""
        parts.append(f"{_safe(item.get('type', 'item'))} {_safe(item.get('id'))}{name}")
    if rec.get("intent_id"):
        parts.append(f"for {rec['intent_id']}")
    if rec.get("detail") and rec.get("kind") not in ("call", "intent", "outcome"):
        parts.append(_safe(json.dumps(rec["detail"], sort_keys=True, ensure_ascii=False)))
    return "  ".join(parts)


def _directory(args: argparse.Namespace, settings: Settings) -> Path:
    """--dir, else `audit` in the data directory (BOX_MCP_DATA_DIR, else the per-user one)."""
    return Path(args.dir).expanduser() if args.dir else settings.data_dir / "audit"


def _database(args: argparse.Namespace, settings: Settings) -> SecretStr | None:
    """The PostgreSQL the log is in (--database-url, else BOX_MCP_DATABASE_URL), unless --dir names a
    file log: a deployment on PostgreSQL keeps its one chain there."""
    if getattr(args, "dir", None):
        return None
    if getattr(args, "database_url", None):
        return Settings.load(database_url=args.database_url).database_url
    return settings.database_url


@contextlib.contextmanager
def _source(
    args: argparse.Namespace, settings: Settings
) -> Iterator[Callable[..., Iterator[dict[str, Any]]]]:
    """The `query` function of the log the arguments name: the PostgreSQL chain or a directory's."""
    url = _database(args, settings)
    if url is None:
        directory = _directory(args, settings)
        yield lambda **filters: query(directory, **filters)
        return
    from box_mcp.state.audit import PostgresAuditReader

    with PostgresAuditReader.open(url) as reader:
        yield reader.query


def _emit(records: Iterable[dict[str, Any]], as_json: bool, out: TextIO) -> int:
    count = 0
    for rec in records:
        out.write((json.dumps(rec, sort_keys=True, ensure_ascii=False) if as_json else one_line(rec)) + "\n")
        count += 1
    out.flush()
    return count


def follow(
    search: Callable[..., Iterator[dict[str, Any]]],
    filters: dict[str, Any],
    *,
    after_seq: int,
    as_json: bool,
    out: TextIO,
    stop: threading.Event,
    interval: float = 0.5,
) -> None:
    """Print new matching records as they are written, until `stop` is set."""
    while not stop.is_set():
        for rec in search(after_seq=after_seq, **filters):
            _emit([rec], as_json, out)
            after_seq = max(after_seq, int(rec["seq"]))
        stop.wait(interval)


def _cmd_tail(args: argparse.Namespace, settings: Settings) -> int:
    with _source(args, settings) as search:
        return _tail(args, search)


def _tail(args: argparse.Namespace, search: Callable[..., Iterator[dict[str, Any]]]) -> int:
    filters: dict[str, Any] = {
        "agent": args.agent,
        "tool": args.tool,
        "denied": True if args.denied else None,
    }
    newest = list(search(limit=args.lines, newest_first=True, **filters))
    _emit(reversed(newest), args.json, sys.stdout)
    if args.follow:
        after = int(newest[0]["seq"]) if newest else 0
        try:
            follow(
                search, filters, after_seq=after, as_json=args.json, out=sys.stdout, stop=threading.Event()
            )
        except KeyboardInterrupt:
            return 0
    return 0


def _cmd_query(args: argparse.Namespace, settings: Settings) -> int:
    denied = {"yes": True, "no": False, None: None}[args.denied]
    with _source(args, settings) as search:
        records = search(
            since=args.since,
            until=args.until,
            agent=args.agent,
            tool=args.tool,
            item=args.item,
            kind=args.kind,
            denied=denied,
            limit=args.limit,
        )
        _emit(records, args.json, sys.stdout)
    return 0


def _parse_anchor(text: str) -> Head:
    seq, sep, digest = text.partition(":")
    if not sep or not seq.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise AuditError(
            f"cannot read the anchor {text!r}: give SEQ:HASH as printed by `box-mcp audit verify`"
        )
    return Head(seq=int(seq), hash=digest)


def _cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    key_file = Path(args.key_file).expanduser() if args.key_file else settings.audit_key_file
    key = load_key(key_file) if key_file else None
    anchor = _parse_anchor(args.anchor) if args.anchor else None
    url = _database(args, settings)
    if url is not None:
        from box_mcp.state.audit import PostgresAuditReader

        with PostgresAuditReader.open(url) as reader:
            report = reader.verify(anchor=anchor, key=key)
        where = "PostgreSQL"
    else:
        directory = _directory(args, settings)
        if not directory.is_dir():
            print(f"no audit log at {directory}: pass --dir or set BOX_MCP_DATA_DIR", file=sys.stderr)
            return EXIT_UNREADABLE
        report = verify(directory, anchor=anchor, key=key)
        where = f"{report.files} file(s)"
    if args.json:
        print(json.dumps(report.to_dict(), sort_keys=True, ensure_ascii=False))
        return report.exit_code
    if report.first_bad is not None:
        print(f"TAMPERED: the chain breaks at {_safe(report.first_bad)}")
        print(f"  {report.count} records before it verify")
    else:
        print(f"ok: {report.count} records in {where} verify from genesis")
        if key is not None:
            print(f"  {report.sealed} sealed with the key; {report.unsealed} written before it was set")
        print(
            f"  anchor (keep it elsewhere, check later with --anchor): {report.last_seq}:{report.last_hash}"
        )
    if report.torn_tail is not None:
        print(f"crash: {_safe(report.torn_tail)} (cut off and recorded when the server restarts)")
    if report.incomplete_intents:
        print(
            f"incomplete: {len(report.incomplete_intents)} write intent(s) without an outcome "
            "(the write may or may not have reached Box; check these items in Box):"
        )
        for intent in report.incomplete_intents:
            items = ", ".join(f"{i.get('type')} {i.get('id')}" for i in intent.get("items") or [])
            print(
                f"  {intent['file']} line {intent['line']}  #{intent['seq']}  {intent['time']}  "
                f"{_safe(intent.get('agent'))}  {_safe(intent.get('tool'))}  {_safe(items)}"
            )
    return report.exit_code


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    if args.format is not None or args.since is not None or args.until is not None:
        return _export_stream(args, settings)
    if args.out is None:
        raise AuditError(
            "export needs --format jsonl|ocsf (records to a file or stdout, optionally --since/--until), "
            "or --out DIR to copy a PostgreSQL-kept chain as the file log's daily files"
        )
    out = Path(args.out).expanduser()
    url = _database(args, settings)
    if url is None:
        raise AuditError(
            "the file log is already JSONL: copy its directory; export reads a log kept in PostgreSQL "
            "(--database-url, or BOX_MCP_DATABASE_URL)"
        )
    from box_mcp.state.audit import PostgresAuditReader

    with PostgresAuditReader.open(url) as reader:
        count, files = reader.export(out)
    print(
        f"exported {count} records into {files} file(s) in {out}; "
        f"check them with `box-mcp audit verify --dir {out}`"
    )
    return 0


def _export_stream(args: argparse.Namespace, settings: Settings) -> int:
    """Records in [--since, --until), oldest first, as JSON lines (each the record exactly as the log
    holds it: its `hash` still verifies) or OCSF events, to --out FILE (created 0600, never overwritten)
    or stdout."""
    fmt = args.format or "jsonl"
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    if since is not None and until is not None and until <= since:
        raise AuditError(f"--until ({args.until}) must come after --since ({args.since})")
    with contextlib.ExitStack() as stack:
        if args.out in (None, "-"):
            out: Any = sys.stdout.buffer
        else:
            path = Path(args.out).expanduser()
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                raise AuditError(f"{path} exists: export into a new file (it is never overwritten)") from None
            except OSError as exc:
                raise AuditError(f"cannot create {path}: {exc.strerror}") from None
            out = stack.enter_context(os.fdopen(fd, "wb"))
        search = stack.enter_context(_source(args, settings))
        count = 0
        for rec in search(since=since, until=until):
            if fmt == "ocsf":
                line = json.dumps(to_ocsf(rec), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
                out.write(line.encode() + b"\n")
            else:
                out.write(canonical(rec) + b"\n")
            count += 1
        out.flush()
    if args.out not in (None, "-"):
        print(f"exported {count} records ({fmt}) to {args.out}", file=sys.stderr)
    return 0


def _cmd_new_key(args: argparse.Namespace, settings: Settings) -> int:
    new_key_file(Path(args.path).expanduser())
    print(f"wrote a new audit key to {args.path} (mode 0600); keep a copy away from the log's host")
    return 0


def _cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    count = rebuild(_directory(args, settings))
    print(f"indexed {count} records")
    return 0


def _guard(func: Callable[[argparse.Namespace, Settings], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            settings = Settings.load()
        except ConfigError as exc:
            print(f"box-mcp audit: {exc}", file=sys.stderr)
            return 2
        try:
            return func(args, settings)
        except ConfigError as exc:  # a bad --database-url
            print(f"box-mcp audit: {exc}", file=sys.stderr)
            return 2
        except AuditError as exc:
            print(f"box-mcp audit: {exc}", file=sys.stderr)
            return EXIT_UNREADABLE
        except BrokenPipeError:  # `... | head`
            return 0

    return run


def register(subparsers: Any) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="read, search and verify the audit log",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)

    def source(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", help="audit directory (default: $BOX_MCP_DATA_DIR/audit or user data dir)")
        p.add_argument(
            "--database-url",
            help="the PostgreSQL of a deployment on several replicas (default: $BOX_MCP_DATABASE_URL, "
            "read unless --dir is given)",
        )

    def common(p: argparse.ArgumentParser) -> None:
        source(p)
        p.add_argument("--json", action="store_true", help="one JSON object per line")

    tail = sub.add_parser("tail", help="the latest records, one line each")
    common(tail)
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument("-n", "--lines", type=int, default=20, help="how many records first (default 20)")
    tail.add_argument("--agent")
    tail.add_argument("--tool")
    tail.add_argument("--denied", action="store_true", help="only denied calls")
    tail.set_defaults(func=_guard(_cmd_tail))

    q = sub.add_parser("query", help="records matching filters, oldest first")
    common(q)
    q.add_argument("--since", help="ISO date/time (UTC) or a span back from now: 30m, 2h, 7d")
    q.add_argument("--until", help="same forms as --since; exclusive")
    q.add_argument("--agent")
    q.add_argument("--tool")
    q.add_argument("--item", help="a Box id, type:id (file:123) or an item name")
    q.add_argument("--kind", help="call, intent, outcome, session_start, policy_load, broker, ...")
    q.add_argument("--denied", choices=("yes", "no"), help="only denied calls, or only the others")
    q.add_argument("--limit", type=int)
    q.set_defaults(func=_guard(_cmd_query))

    v = sub.add_parser("verify", help="prove the chain intact; exit 0 ok, 1 tampered, 2 incomplete")
    common(v)
    v.add_argument("--anchor", help="SEQ:HASH printed by an earlier verify: the log must still hold it")
    v.add_argument(
        "--key-file",
        help="the log's HMAC key (default: $BOX_MCP_AUDIT_KEY_FILE): "
        "also prove every sealed record was written by its holder",
    )
    v.set_defaults(func=_guard(_cmd_verify))

    e = sub.add_parser(
        "export",
        help="records for a SIEM (--format jsonl|ocsf, --since/--until) or a PostgreSQL chain as files",
        description="With --format (or --since/--until): the records in that window, oldest first, as "
        "JSON lines (exactly as logged) or OCSF 1.3 events, to --out FILE or stdout. Without: copy a "
        "PostgreSQL-kept chain into --out DIR as the file log's daily JSONL files, byte for byte.",
    )
    source(e)
    e.add_argument("--format", choices=("jsonl", "ocsf"), help="one record (jsonl) or OCSF event per line")
    e.add_argument("--since", help="ISO date/time (UTC) or a span back from now: 30m, 24h, 7d")
    e.add_argument("--until", help="same forms as --since; exclusive")
    e.add_argument(
        "--out",
        help="with --format: a new file (0600) or - for stdout (the default); without: an empty directory "
        "for the daily audit-*.jsonl files",
    )
    e.set_defaults(func=_guard(_cmd_export))

    k = sub.add_parser("new-key", help="create an HMAC key file for sealing records")
    k.add_argument("path")
    k.set_defaults(func=_guard(_cmd_new_key))

    r = sub.add_parser("reindex", help="rebuild the query index from the JSONL files")
    r.add_argument("--dir", help="audit directory")
    r.set_defaults(func=_guard(_cmd_reindex))
