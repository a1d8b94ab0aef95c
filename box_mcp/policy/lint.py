"""Static checks behind `box-mcp policy check`: rules that never take effect, forbids that shadow grants.

Errors are rules that are certainly dead (almost always a mistake); warnings are likely surprises.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from box_mcp.policy.engine import CRule, Engine


@dataclass(frozen=True)
class Finding:
    level: Literal["error", "warning"]
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.level}: {self.message}"


def _agents(engine: Engine, rule: CRule) -> tuple[str, ...]:
    names = rule.source.agents
    return tuple(engine.policy.agents) if "*" in names else names


def _tools_of(engine: Engine, rule: CRule, agent: str) -> list[str]:
    return [t for t in engine.tools if rule in _bucket_rules(engine, agent, t)]


def _bucket_rules(engine: Engine, agent: str, tool: str) -> tuple[CRule, ...]:
    b = engine.bucket(agent, tool)
    return () if b is None else (*b.permits, *b.forbids, *b.approvals)


def _shadows(f: CRule, p: CRule) -> bool:
    """True when forbid `f` matches every use permit `p` could cover, whatever the arguments."""
    if f.conditional or f.rank > 0:
        return False
    if f.who is not None and f.who != p.who:
        return False  # the forbid is about some people only: others keep the grant
    if not f.scoped:
        return True
    if not p.scoped:
        return False
    return p.folders <= f.folders and p.items <= f.items | {
        i for i in p.items if i.type == "folder" and i.id in f.folders
    }


def lint(engine: Engine) -> list[Finding]:
    out: list[Finding] = []
    permits = [r for r in engine.rules.values() if r.effect == "permit"]
    people = set(engine.person_agents())
    for agent in engine.policy.agents:
        if agent in people and not any(agent in _agents(engine, r) for r in engine.rules.values()):
            out.append(
                Finding(
                    "warning",
                    f"agent {agent}",
                    f"{agent} acts as each signed-in person, but no rule names it: every person who "
                    "connects as it is denied every call",
                )
            )
        elif not any(agent in _agents(engine, p) for p in permits):
            out.append(
                Finding("warning", f"agent {agent}", f"{agent} has no permit: every call it makes is denied")
            )
    for r in engine.rules.values():
        if r.who is not None and not people.intersection(_agents(engine, r)):
            out.append(
                Finding(
                    "warning",
                    r.source.origin,
                    f"rule {r.id!r} names people or clients, but none of its agents acts as a person "
                    "(acts_as: person): calls without a signed-in person never match it, so it never applies",
                )
            )
    for p in permits:
        where = p.source.origin
        named = p.source.tools is not None or p.source.toolsets is not None
        for agent in _agents(engine, p):
            tools = _tools_of(engine, p, agent)
            b = [bucket for t in tools if (bucket := engine.bucket(agent, t)) is not None]
            shadowing = {f.id for bucket in b for f in bucket.forbids if _shadows(f, p)}
            if tools and all(any(_shadows(f, p) for f in bucket.forbids) for bucket in b):
                out.append(
                    Finding(
                        "error",
                        where,
                        f"permit {p.id!r} can never allow anything for {agent}: forbid "
                        f"{', '.join(repr(s) for s in sorted(shadowing))} covers all of it",
                    )
                )
                break
        if named:
            tools = [
                t for t in engine.tools if any(p in _bucket_rules(engine, a, t) for a in _agents(engine, p))
            ]
            reachable = [t for t in tools if engine.tools[t].access.rank <= p.rank or t.startswith("copy_")]
            if tools and not reachable:
                out.append(
                    Finding(
                        "error",
                        where,
                        f"permit {p.id!r} gives {p.access.value} access, but every tool it names needs more; "
                        "raise `access` or drop it",
                    )
                )
        for cond in (*p.when,):
            if cond.allows.endswith("nothing"):
                out.append(
                    Finding(
                        "warning",
                        where,
                        f"permit {p.id!r} allows {cond.allows}: "
                        f"only calls that do not set {cond.field} can match",
                    )
                )
    for r in engine.rules.values():
        if r.effect == "permit":
            continue
        affected = [
            (a, t)
            for a in _agents(engine, r)
            for t in _tools_of(engine, r, a)
            if (bucket := engine.bucket(a, t)) is not None and bucket.permits
        ]
        if not affected:
            out.append(
                Finding(
                    "warning",
                    r.source.origin,
                    f"{r.effect} {r.id!r} has no effect: "
                    "no agent it names holds a permit for the tools it names",
                )
            )
        if (
            r.effect == "forbid"
            and r.who is None
            and not r.scoped
            and not r.conditional
            and r.rank == 0
            and r.source.tools is None
            and r.source.toolsets is None
        ):
            names = ", ".join(_agents(engine, r))
            out.append(
                Finding(
                    "error",
                    r.source.origin,
                    f"forbid {r.id!r} denies every call of {names}: it shadows all their grants "
                    "(to switch an agent off, remove its permits instead)",
                )
            )
    for r in engine.rules.values():
        spec = r.source.approval
        if spec is not None and spec.hold > 0 and spec.by == ("caller",):
            out.append(
                Finding(
                    "warning",
                    r.source.origin,
                    f"require_approval {r.id!r} holds calls for {spec.hold} s, but only the caller approves "
                    "(asked at once, through the client): hold applies to other approvers; drop it or add "
                    "one to approval.by",
                )
            )
    return out
