"""`box-mcp policy check | explain | test | init | new-key`: tools for the people who write policies.

A policy path comes from the command line, else BOX_MCP_POLICY (the variable `serve` reads), else
./policies when it exists.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

from box_mcp.access import Exposure, ItemRef, ResourceUse
from box_mcp.config import Settings
from box_mcp.errors import BoxMCPError, LocateError, PolicyError
from box_mcp.identity import Person
from box_mcp.policy.cases import (
    Case,
    catalog_args_resolver,
    decide_case,
    facts_dict,
    load_cases,
    request_for,
    run_file,
)
from box_mcp.policy.engine import DecisionRequest, Engine
from box_mcp.policy.keys import mint_key
from box_mcp.policy.lint import lint
from box_mcp.policy.model import load_policy
from box_mcp.policy.reference_tools import tools_for_policy

DEFAULT_POLICY = "policies"
POLICY_ENV = "BOX_MCP_POLICY"
INIT_PATH = "policy.yaml"
STARTER = Path(__file__).with_name("starter.yaml")  # what `policy init` writes


def policy_path(settings: Settings) -> Path:
    """The policy a command works on: the one given (settings from the flag, else $BOX_MCP_POLICY),
    else ./policies."""
    if settings.policy is not None:
        return settings.policy
    if Path(DEFAULT_POLICY).exists():
        return Path(DEFAULT_POLICY)
    raise PolicyError(
        f"no policy given: pass its path, set {POLICY_ENV}, or write a starting one with "
        "`box-mcp policy init`"
    )


def register(subparsers: Any) -> None:
    policy = subparsers.add_parser("policy", help="check, explain and test policy files; mint agent keys")
    sub = policy.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    check = sub.add_parser(
        "check", help="validate a policy file or directory and report dead or shadowed rules"
    )
    check.add_argument(
        "path", nargs="?", default=None, help=f"policy file or directory [{POLICY_ENV}; ./policies]"
    )
    check.add_argument("--strict", action="store_true", help="treat warnings as errors")
    check.set_defaults(func=cmd_check)

    explain = sub.add_parser("explain", help="decide one call and say why")
    explain.add_argument(
        "--policy", default=None, help=f"policy file or directory [{POLICY_ENV}; ./policies]"
    )
    explain.add_argument(
        "--agent", default=None, help="the agent; with --person-*, default: the agent that person connects as"
    )
    explain.add_argument("--tool", required=True)
    explain.add_argument("--person-login", default=None, help="the signed-in person's Box login (email)")
    explain.add_argument("--person-id", default=None, help="the signed-in person's Box user id")
    explain.add_argument(
        "--person-groups", default=None, help="the person's Box group ids, comma-separated (e.g. 777,778)"
    )
    explain.add_argument("--client-id", default=None, help="the MCP client's OAuth client id")
    explain.add_argument(
        "--redirect-host", default=None, help="the host of the MCP client's redirect URI (e.g. claude.ai)"
    )
    explain.add_argument("--args", default=None, help="tool arguments as JSON (needs the tool catalog)")
    explain.add_argument(
        "--uses", default=None, help='items as JSON: [{"type":"file","id":"1","access":"read"}]'
    )
    explain.add_argument(
        "--facts",
        default=None,
        help='argument facts as JSON: {"name": "a.pdf", "size_bytes": 10}; also externally_shared '
        '(true, false or "unavailable") and first_destructive_in_session (true or false)',
    )
    explain.add_argument("--ancestry", default=None, help='JSON: {"file:1": ["0", "100"], ...}')
    explain.add_argument(
        "--live",
        action="store_true",
        help="look up in Box (BOX_MCP_BOX_URL, BOX_DEVELOPER_TOKEN) the item locations --ancestry omits, "
        "and whether the items are externally shared when a rule asks and --facts does not say",
    )
    explain.add_argument("--json", action="store_true", help="print the decision as JSON")
    explain.set_defaults(func=cmd_explain)

    test = sub.add_parser("test", help="run data-driven decision cases (exit 1 on any failure)")
    test.add_argument(
        "cases", nargs="+", type=Path, help="*.cases.yaml files, or directories to search for them"
    )
    test.add_argument(
        "--policy",
        type=Path,
        default=None,
        help=f"policy to test instead of each file's `policy:` [{POLICY_ENV}, for files naming none]",
    )
    test.add_argument("-v", "--verbose", action="store_true", help="print passing cases too")
    test.set_defaults(func=cmd_test)

    init = sub.add_parser("init", help="write a commented starting policy to edit (never overwrites)")
    init.add_argument("path", nargs="?", type=Path, default=Path(INIT_PATH), help=f"where [{INIT_PATH}]")
    init.set_defaults(func=cmd_init)

    new_key = sub.add_parser(
        "new-key", help="mint an API key for an agent (printed once; store only its hash)"
    )
    new_key.add_argument("agent", help="the agent (or, with --console, the admin key's name)")
    new_key.add_argument(
        "--console",
        action="store_true",
        help="mint a web console admin key instead (goes under console.admins.keys)",
    )
    new_key.set_defaults(func=cmd_new_key)


def _engine(path: str | Path) -> Engine:
    return Engine(load_policy(path), tools_for_policy())


def cmd_check(args: argparse.Namespace) -> int:
    # None given is a usage error (exit 2), not a failed check.
    args.path = policy_path(Settings.load(policy=args.path))
    try:
        engine = _engine(args.path)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    findings = lint(engine)
    for f in findings:
        print(f, file=sys.stderr)
    errors = [f for f in findings if f.level == "error" or args.strict]
    policy = engine.policy
    print(
        f"{args.path}: {len(policy.agents)} agents, {len(policy.rules)} rules, "
        f"{sum(f.level == 'error' for f in findings)} errors, "
        f"{sum(f.level == 'warning' for f in findings)} warnings"
    )
    return 1 if errors else 0


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"--{what} is not valid JSON: {exc.msg} at character {exc.pos}") from None


def cmd_explain(args: argparse.Namespace) -> int:
    try:
        settings = Settings.load(policy=args.policy)
        engine = _engine(policy_path(settings))
        raw: dict[str, Any] = {"name": "explain", "agent": args.agent, "tool": args.tool, "expect": "allow"}
        person = _person_flags(args)
        if person:
            raw["person"] = person
        elif args.agent is None:
            raise PolicyError(
                "say which agent makes the call (--agent), or which person (--person-login ...)"
            )
        for key in ("args", "uses", "facts", "ancestry"):
            value = _json_arg(getattr(args, key), key)
            if value is not None:
                raw[key] = value
        try:
            case = Case.model_validate(raw)
        except ValueError as exc:
            raise PolicyError(str(exc)) from None
        req = request_for(engine, case, catalog_args_resolver())
        if args.live:
            req = _with_live_ancestry(req, engine, settings)
    except BoxMCPError as exc:
        print(exc, file=sys.stderr)
        return 2
    decision = decide_case(engine, req)
    if args.json:
        out = {"effect": decision.effect, "rules": list(decision.rule_ids), "reason": decision.reason}
        print(json.dumps(out | ({"shown": decision.shown} if decision.shown else {})))
        return 0
    if req.person is not None:
        p = req.person
        print(
            f"person: {p.login or '(no login)'} (Box user {p.box_user_id}) as agent {req.agent or '(none)'}"
        )
    print(f"effect: {decision.effect}")
    print(f"rules:  {', '.join(decision.rule_ids) or '(none: default deny)'}")
    print(f"why:    {decision.reason}")
    if decision.shown:  # the agent may not learn `why` (the item is hidden from it): it reads this
        print(f"agent reads: {decision.shown}")
    print(f"uses:   {', '.join(_use_text(u, req.ancestry) for u in req.uses) or '(no item)'}")
    facts = facts_dict(req.facts)
    if facts:
        print(f"facts:  {json.dumps(facts)}")
    return 0


def _person_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The --person-* and client flags as a case's `person:` (empty when none is given)."""
    out: dict[str, Any] = {}
    if args.person_id is not None:
        out["box_user_id"] = args.person_id
    if args.person_login is not None:
        out["login"] = args.person_login
    if args.person_groups is not None:
        out["groups"] = [g.strip() for g in args.person_groups.split(",") if g.strip()]
    if args.client_id is not None:
        out["client_id"] = args.client_id
    if args.redirect_host is not None:
        out["redirect_host"] = args.redirect_host
    return out


def _with_live_ancestry(req: DecisionRequest, engine: Engine, settings: Settings) -> DecisionRequest:
    """Fill in the ancestry of items the request does not locate, from Box (or the emulator); for a call
    on a whole folder, also of what the forbids name (one Box cannot find lies inside no folder)."""
    import anyio

    from box_mcp.box.client import BoxClient, StaticToken
    from box_mcp.policy.exposure import ExposureFinder, targets
    from box_mcp.policy.locate import Locator

    if settings.developer_token is None:
        raise PolicyError("--live needs BOX_DEVELOPER_TOKEN (and BOX_MCP_BOX_URL for the emulator)")
    missing = [u.item for u in req.uses if u.item not in req.ancestry]
    guards: list[ItemRef] = []
    if any(u.subtree for u in req.uses):
        guards = [
            g
            for g in engine.guards(req.agent, req.tool, req.person)
            if g not in req.ancestry and g not in missing
        ]

    shared = req.facts.externally_shared is None and engine.tests(
        req.agent, req.tool, "externally_shared", person=req.person
    )

    async def look() -> tuple[dict[ItemRef, tuple[str, ...]], Exposure | None]:
        token = settings.developer_token.get_secret_value()  # type: ignore[union-attr]
        client = BoxClient(token_source=StaticToken(token), base_url=settings.api_url)

        async def same(agent: str, person: Person | None) -> BoxClient:
            return client

        try:
            locator = Locator(same)
            found = {item: await locator.ancestry(req.agent, item) for item in dict.fromkeys(missing)}
            for guard in guards:
                try:
                    found[guard] = await locator.ancestry(req.agent, guard)
                except LocateError as exc:
                    if not exc.missing:
                        raise
                    found[guard] = ()
            exposure = None
            if shared:
                exposure = await ExposureFinder(locator).find(
                    req.agent,
                    req.person,
                    targets(req.uses, {}),
                    engine.policy.internal_domains,
                    lambda ref, anc: engine.can_see(req.agent, req.tool, anc, ref, req.person),
                )
            return found, exposure
        finally:
            await client.aclose()

    try:
        found, exposure = anyio.run(look)
    except LocateError as exc:
        raise PolicyError(str(exc)) from None
    facts = req.facts if exposure is None else dataclasses.replace(req.facts, externally_shared=exposure)
    return dataclasses.replace(req, ancestry={**req.ancestry, **found}, facts=facts)


def _use_text(use: ResourceUse, ancestry: dict[ItemRef, tuple[str, ...]] | Any) -> str:
    anc = ancestry.get(use.item)
    where = "/".join(anc) if anc else "location unknown"
    return f"{use.role} {use.item} needs {use.access.value} ({where})"


def cmd_test(args: argparse.Namespace) -> int:
    resolver = catalog_args_resolver()
    cache: dict[Path, Engine] = {}

    def engine_for(path: Path) -> Engine:
        if path not in cache:
            cache[path] = _engine(path)
        return cache[path]

    from_env = Settings.load().policy
    total = passed = broken_files = 0
    for path in _case_files(args.cases):
        try:
            override = args.policy
            if override is None and from_env and load_cases(path)[0].policy is None:
                override = from_env
            outcomes = run_file(path, engine_for, override, resolver)
        except PolicyError as exc:
            text = str(exc)  # most errors already start with the file's name
            print(f"ERROR {text if text.startswith(str(path)) else f'{path}: {text}'}", file=sys.stderr)
            broken_files += 1
            continue
        for o in outcomes:
            total += 1
            if o.passed:
                passed += 1
                if args.verbose:
                    print(f"PASS {o.where}: {o.case.name}")
                continue
            print(f"FAIL {o.where}: {o.case.name}: {o.problem}")
            if o.decision is not None:
                print(f"     decision: {o.decision.effect} {list(o.decision.rule_ids)}: {o.decision.reason}")
    print(
        f"{passed}/{total} cases passed"
        + (f", {broken_files} files could not be run" if broken_files else "")
    )
    return 1 if passed < total or broken_files else 0


def _case_files(given: list[Path]) -> list[Path]:
    """Files as given; a directory stands for every *.cases.yaml below it (sorted, so runs repeat)."""
    out: list[Path] = []
    for path in given:
        if not path.is_dir():
            out.append(path)  # a missing file is reported by run_file, with the others still run
            continue
        found = sorted(path.rglob("*.cases.yaml"))
        if not found:
            raise PolicyError(f"{path}: no *.cases.yaml files in this directory or below it")
        out += found
    return out


def cmd_init(args: argparse.Namespace) -> int:
    path: Path = args.path
    if path.is_dir():
        path = path / INIT_PATH
    text = STARTER.read_text(encoding="utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise PolicyError(f"{path} exists: not overwritten (remove it, or give another path)") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o644)  # readable by the server's user whatever the umask
        out.write(text)
    print(
        f"wrote {path}. Edit it, check it with `box-mcp policy check {path}`, then serve with "
        f"`box-mcp serve --policy {path}` (the start-up summary says GOVERNED)."
    )
    return 0


def cmd_new_key(args: argparse.Namespace) -> int:
    key, digest = mint_key()
    if getattr(args, "console", False):
        print(f"Console admin key {args.agent} (shown once; sign in to /console with it, do not store it):")
        print(f"  {key}")
        print("Add this line under console.admins.keys in your policy file:")
        print(f'  {args.agent}: "{digest}"')
        return 0
    print(f"API key for {args.agent} (shown once; give it to the agent, do not store it):")
    print(f"  {key}")
    print(f"Add this line under agents.{args.agent}.keys in your policy file:")
    print(f'  - "{digest}"')
    return 0
