"""What the console's pages show, read through the project's own readers: the audit log (the data dir's
JSONL through its SQLite index, or the PostgreSQL chain), the policy engine (grants in words, lint,
explain), and the token vault and remote sign-in store (never a token: only who, what kind, health).

Everything here is synchronous and may block (SQLite, PostgreSQL, file reads): the routes run it with
`anyio.to_thread.run_sync`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from box_mcp.audit.index import query
from box_mcp.audit.verify import VerifyReport, verify
from box_mcp.errors import AuditError, BoxMCPError, PolicyError
from box_mcp.policy.cases import Case, catalog_args_resolver, decide_case, facts_dict, request_for
from box_mcp.policy.engine import CRule, Engine
from box_mcp.policy.lint import Finding, lint
from box_mcp.policy.model import Agent, AsUser, UserGrant
from box_mcp.policy.reasons import reach

PAGE_SIZE = 50
PERSON_SCAN = 5000  # records looked at, at most, to fill one page filtered by person
VERIFY_CACHE_S = 15.0


@dataclass(frozen=True)
class AuditFilters:
    agent: str | None = None
    person: str | None = None
    tool: str | None = None
    item: str | None = None
    kind: str | None = None
    denied: bool = False
    since: str | None = None
    until: str | None = None

    @classmethod
    def from_query(cls, params: Any) -> AuditFilters:
        def text(name: str) -> str | None:
            value = str(params.get(name, "") or "").strip()[:200]
            return value or None

        return cls(
            agent=text("agent"),
            person=text("person"),
            tool=text("tool"),
            item=text("item"),
            kind=text("kind"),
            denied=params.get("denied") in ("1", "on", "yes", "true"),
            since=text("since"),
            until=text("until"),
        )

    def index_filters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("agent", "tool", "item", "kind", "since", "until"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.denied:
            out["denied"] = True
        return out

    def query_string(self) -> dict[str, str]:
        out = {k: v for k, v in self.__dict__.items() if isinstance(v, str)}
        if self.denied:
            out["denied"] = "1"
        return out

    @property
    def any(self) -> bool:
        return bool(self.query_string())


def person_matches(record: dict[str, Any], wanted: str) -> bool:
    person = record.get("person") or {}
    if not isinstance(person, dict):
        return False
    wanted = wanted.lower()
    return wanted in (str(person.get("login") or "").lower(), str(person.get("box_user_id") or ""))


@dataclass
class AuditPage:
    records: list[dict[str, Any]]
    next_before: int | None  # the seq to page on from (older records), None at the end
    scanned_out: bool = False  # a person filter stopped after PERSON_SCAN records


class AuditSource:
    """The deployment's audit log, read as `box-mcp audit query | verify` read it."""

    def __init__(
        self, *, directory: Path | None, database_url: SecretStr | None, key: bytes | None = None
    ) -> None:
        self.directory = directory
        self.database_url = database_url
        self._key = key
        self._verified: tuple[float, VerifyReport] | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = "PostgreSQL" if self.database_url is not None else str(self.directory)
        return f"AuditSource({where})"

    @property
    def where(self) -> str:
        return "PostgreSQL" if self.database_url is not None else f"{self.directory}"

    def _query(self, **kw: Any) -> list[dict[str, Any]]:
        if self.database_url is not None:
            from box_mcp.state.audit import PostgresAuditReader

            with PostgresAuditReader.open(self.database_url) as reader:
                return list(reader.query(**kw))
        if self.directory is None or not self.directory.is_dir():
            return []
        return list(query(self.directory, **kw))

    def page(self, filters: AuditFilters, *, before: int | None = None, size: int = PAGE_SIZE) -> AuditPage:
        """One page of matching records, newest first, older than seq `before`."""
        base = filters.index_filters()
        if filters.person is None:
            rows = self._query(limit=size + 1, newest_first=True, before_seq=before, **base)
            more = len(rows) > size
            rows = rows[:size]
            return AuditPage(rows, int(rows[-1]["seq"]) if more and rows else None)
        found: list[dict[str, Any]] = []
        scanned = 0
        cursor = before
        while scanned < PERSON_SCAN:
            batch = self._query(limit=500, newest_first=True, before_seq=cursor, **base)
            if not batch:
                return AuditPage(found, None)
            for record in batch:
                scanned += 1
                cursor = int(record["seq"])
                if person_matches(record, filters.person):
                    found.append(record)
                    if len(found) > size:
                        return AuditPage(found[:size], int(found[size - 1]["seq"]))
            if len(batch) < 500:
                return AuditPage(found, None)
        return AuditPage(found, cursor, scanned_out=True)

    def record(self, record_id: str) -> dict[str, Any] | None:
        rows = self._query(record_id=record_id, limit=1)
        return rows[0] if rows else None

    def related(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The intent an outcome answers, or the outcome of an intent."""
        if record.get("intent_id"):
            return self._query(record_id=str(record["intent_id"]), limit=1)
        if record.get("kind") == "intent":
            later = self._query(kind="outcome", after_seq=int(record["seq"]), limit=200)
            return [r for r in later if r.get("intent_id") == record.get("id")][:1]
        return []

    def last_activity(self, agent: str) -> dict[str, Any] | None:
        rows = self._query(agent=agent, limit=1, newest_first=True)
        return rows[0] if rows else None

    def verify(self, *, fresh: bool = False) -> VerifyReport | str:
        """The chain's verification (cached a few seconds: it reads the whole log), or why it failed."""
        with self._lock:
            now = time.monotonic()
            if not fresh and self._verified is not None and now - self._verified[0] < VERIFY_CACHE_S:
                return self._verified[1]
            try:
                if self.database_url is not None:
                    from box_mcp.state.audit import PostgresAuditReader

                    with PostgresAuditReader.open(self.database_url) as reader:
                        report = reader.verify(key=self._key)
                elif self.directory is None or not self.directory.is_dir():
                    return "no audit log yet: it is created with the first record"
                else:
                    report = verify(self.directory, key=self._key)
            except AuditError as exc:
                return str(exc)
            self._verified = (now, report)
            return report


# -- agents and their grants, in words -------------------------------------------------------------


def acts_as_text(agent: Agent) -> str:
    acts = agent.acts_as
    if isinstance(acts, AsUser):
        return f"Box user {acts.as_user} (As-User, through the service account)"
    if isinstance(acts, UserGrant):
        return f"the stored Box sign-in “{acts.user_grant}” (box-mcp auth login)"
    if acts == "person":
        return "each signed-in person, with their own Box sign-in"
    return "the Box app's service account"


_EFFECT_WORDS = {"permit": "May", "forbid": "Never", "require_approval": "Only with approval"}
_ACCESS_WORDS = {"read": "read", "write": "read and change", "admin": "read, change and share"}


def conditions_text(rule: CRule) -> list[str]:
    out = []
    for label, cond in (("when", rule.source.when), ("unless", rule.source.unless)):
        if cond is None:
            continue
        for name, value in cond.model_dump(exclude_none=True).items():
            shown = ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
            out.append(f"{label} {name.replace('_', ' ')}: {shown}")
    return out


@dataclass(frozen=True)
class Grant:
    rule_id: str
    effect: str
    sentence: str
    tools: str
    where: str
    conditions: list[str]
    origin: str
    description: str


def grant_of(engine: Engine, rule: CRule) -> Grant:
    src = rule.source
    if src.tools:
        tools = ", ".join(src.tools)
    elif src.toolsets:
        tools = "the " + ", ".join(src.toolsets) + " toolset" + ("s" if len(src.toolsets) > 1 else "")
    else:
        tools = "every tool"
    access = _ACCESS_WORDS.get(rule.access.value, rule.access.value)
    if rule.effect == "permit":
        sentence = f"May {access} with {tools}, {reach(rule)}"
    elif rule.effect == "forbid":
        sentence = f"Never with {tools} ({rule.access.value} access or more), {reach(rule)}"
    else:
        sentence = f"Needs approval to use {tools} ({access}), {reach(rule)}"
    if src.people is not None:
        sentence += " — only for some signed-in people"
    return Grant(
        rule_id=rule.id,
        effect=rule.effect,
        sentence=sentence,
        tools=tools,
        where=reach(rule),
        conditions=conditions_text(rule),
        origin=src.origin,
        description=src.description,
    )


def grants_for(engine: Engine, agent: str) -> list[Grant]:
    return [
        grant_of(engine, rule)
        for rule in engine.rules.values()
        if agent in rule.source.agents or "*" in rule.source.agents
    ]


@dataclass
class AgentView:
    name: str
    description: str
    acts_as: str
    keys: int
    limits: str
    grants: list[Grant]
    last: dict[str, Any] | None = None
    usage: str = ""
    tools_visible: int = 0


def limits_text(agent: Agent) -> str:
    parts = []
    if agent.limits.calls_per_minute is not None:
        parts.append(f"{agent.limits.calls_per_minute} calls/min")
    if agent.limits.writes_per_minute is not None:
        parts.append(f"{agent.limits.writes_per_minute} writes/min")
    return ", ".join(parts) or "no limit"


def agent_views(
    engine: Engine, audit: AuditSource, usage: Callable[[str], tuple[int, int] | None] | None = None
) -> list[AgentView]:
    out = []
    for name, agent in engine.policy.agents.items():
        view = AgentView(
            name=name,
            description=agent.description,
            acts_as=acts_as_text(agent),
            keys=len(agent.keys),
            limits=limits_text(agent),
            grants=grants_for(engine, name),
        )
        try:
            view.last = audit.last_activity(name)
        except AuditError:
            view.last = None
        counted = usage(name) if usage is not None else None
        if counted is not None:
            calls, writes = counted
            view.usage = f"{calls} calls, {writes} writes in the last minute"
        if not agent.for_people:
            view.tools_visible = len(engine.visible_tools(name))
        out.append(view)
    return out


# -- the policy page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyFileView:
    path: str
    size: int
    sha256: str


@dataclass
class PolicyView:
    path: str
    version: str
    files: list[PolicyFileView]
    findings: list[Finding]
    agents: int
    rules: int
    reload_error: str | None
    reloads: int


def policy_version(sources: tuple[str, ...]) -> tuple[str, list[PolicyFileView]]:
    """A short digest of the policy files' bytes (what changed when it changes), and each file's."""
    whole = hashlib.sha256()
    files = []
    for name in sources:
        try:
            data = Path(name).read_bytes()
        except OSError:
            data = b""
        digest = hashlib.sha256(data).hexdigest()
        whole.update(name.encode() + b"\0" + digest.encode())
        files.append(PolicyFileView(name, len(data), digest[:12]))
    return whole.hexdigest()[:12], files


def policy_view(engine: Engine, *, path: str, reload_error: str | None, reloads: int) -> PolicyView:
    version, files = policy_version(engine.policy.sources)
    return PolicyView(
        path=path,
        version=version,
        files=files,
        findings=lint(engine),
        agents=len(engine.policy.agents),
        rules=len(engine.policy.rules),
        reload_error=reload_error,
        reloads=reloads,
    )


@dataclass
class Explained:
    effect: str
    rules: list[str]
    reason: str
    shown: str | None
    uses: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def explain(engine: Engine, *, agent: str, tool: str, arguments: str) -> Explained:
    """Decide one call offline, as `box-mcp policy explain --agent --tool --args` does: nothing is sent
    to Box, so where an item sits is unknown unless the policy names it (the answer says so)."""
    if agent not in engine.policy.agents:
        raise PolicyError(f"unknown agent {agent!r}: choose one of {', '.join(engine.policy.agents)}")
    if tool not in engine.tools:
        raise PolicyError(f"unknown tool {tool!r}: choose one from the list")
    raw: dict[str, Any] = {"name": "explain", "agent": agent, "tool": tool, "expect": "allow"}
    if arguments.strip():
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"the arguments are not valid JSON: {exc.msg} at character {exc.pos}") from None
        if not isinstance(parsed, dict):
            raise PolicyError('the arguments are a JSON object, like {"folder_id": "0"}')
        raw["args"] = parsed
    try:
        case = Case.model_validate(raw)
        req = request_for(engine, case, catalog_args_resolver())
    except ValueError as exc:
        raise PolicyError(str(exc)) from None
    except BoxMCPError:
        raise
    decision = decide_case(engine, req)
    uses = []
    for use in req.uses:
        anc = req.ancestry.get(use.item)
        where = "/".join(anc) if anc else "location not looked up"
        uses.append(f"{use.role} {use.item} needs {use.access.value} ({where})")
    return Explained(
        effect=decision.effect,
        rules=list(decision.rule_ids),
        reason=decision.reason,
        shown=decision.shown,
        uses=uses,
        facts=dict(facts_dict(req.facts)),
    )
