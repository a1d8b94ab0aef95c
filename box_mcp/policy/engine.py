"""The policy engine: a compiled, indexed evaluator with Cedar's semantics over box-mcp's call vocabulary.

Default deny; forbid beats everything; require_approval beats permit; a call is allowed only if every
item it touches is covered by a permit giving enough access there and every condition holds.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.decision import Decision, Effect
from box_mcp.errors import PolicyError
from box_mcp.policy import reasons
from box_mcp.policy.conditions import Cond, compile_conditions, rule_applies
from box_mcp.policy.model import Agent, Policy, Rule, SignIn
from box_mcp.policy.people import Who, matches_agent
from box_mcp.policy.renamed import RENAMED, renamed

if TYPE_CHECKING:
    from box_mcp.identity import Person

__all__ = ["Decision", "DecisionRequest", "Effect", "Engine"]


@dataclass(frozen=True, slots=True)
class ToolInfo:
    toolset: str
    access: Access
    destructive: bool = False  # its destructiveHint (what first_destructive_in_session is about)
    enterprise_wide: bool = False  # granted by name or `access: admin` only (ToolSpec.enterprise_wide)


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    agent: str
    tool: str
    uses: tuple[ResourceUse, ...] = ()
    facts: CallFacts = field(default_factory=CallFacts)
    # folder ids from root "0" down to the item (a folder's ends with its own id, a file's with its parent)
    ancestry: Mapping[ItemRef, tuple[str, ...]] = field(default_factory=dict)
    # what an id stands for: a collaboration -> the file or folder it is on. Rules match that item;
    # sentences still name the id the caller gave.
    aliases: Mapping[ItemRef, ItemRef] = field(default_factory=dict)
    # the signed-in person the call comes from (remote sign-in): rules with people/clients need one
    person: Person | None = None

    def matched(self) -> tuple[ResourceUse, ...]:
        """The uses as rules see them (aliases resolved)."""
        if not self.aliases:
            return self.uses
        return tuple(
            ResourceUse(self.aliases[u.item], u.access, u.role, u.subtree) if u.item in self.aliases else u
            for u in self.uses
        )


@dataclass(frozen=True, slots=True)
class CRule:
    """A rule compiled for matching.

    `rank` is the most access a permit grants, or the least access a forbid or approval rule matches.
    """

    id: str
    effect: str
    rank: int
    access: Access
    folders: frozenset[str]
    items: frozenset[ItemRef]
    scoped: bool
    when: tuple[Cond, ...]
    unless: tuple[Cond, ...]
    description: str
    source: Rule
    who: Who | None = None  # people/clients: only calls of these people match (None: every call)

    @property
    def conditional(self) -> bool:
        return bool(self.when or self.unless)

    def in_scope(self, item: ItemRef | None, ancestry: tuple[str, ...] | None) -> bool | None:
        """True/False, or None when only the (unknown) ancestry could tell."""
        if not self.scoped:
            return True
        if item is not None and item in self.items:
            return True
        if self.folders:
            if ancestry is None:
                return None
            return not self.folders.isdisjoint(ancestry)
        return False

    @property
    def targets(self) -> tuple[ItemRef, ...]:
        """The folders and items the rule names (where a forbid sits, for calls on a whole subtree)."""
        return (*(ItemRef("folder", f) for f in sorted(self.folders)), *sorted(self.items, key=str))

    def below(self, use: ResourceUse, ancestry: Mapping[ItemRef, tuple[str, ...]]) -> bool:
        """Whether a call on the whole subtree of `use`'s folder reaches something this rule names.
        A target whose location is not in `ancestry` counts as inside (fail closed)."""
        if not (use.subtree and use.item.type == "folder" and self.scoped):
            return False
        for target in self.targets:
            anc = ancestry.get(target)
            if anc is None or use.item.id in anc:
                return True
        return False

    def applies(self, facts: CallFacts) -> bool:
        if not (self.when or self.unless):
            return True
        return rule_applies(self.when, self.unless, facts, self.effect == "permit")


@dataclass(frozen=True, slots=True)
class Bucket:
    """Every rule that can bear on one (agent, tool) pair, split by effect."""

    tool_rank: int
    permits: tuple[CRule, ...]
    forbids: tuple[CRule, ...]
    approvals: tuple[CRule, ...]
    personal: bool = False  # some rule here names people or clients: the person picks a view of it

    def seen_by(self, matched: frozenset[str]) -> Bucket:
        """The rules that apply to a person whose people/clients rules are `matched` (ids)."""

        def keep(rules: tuple[CRule, ...]) -> tuple[CRule, ...]:
            return tuple(r for r in rules if r.who is None or r.id in matched)

        return Bucket(self.tool_rank, keep(self.permits), keep(self.forbids), keep(self.approvals))


MAX_VIEWS = 20_000  # cached (person -> matched rules) and (agent, tool, matched) views; cleared when full


class Engine:
    """Decides tool calls for one loaded policy and one tool catalog."""

    def __init__(self, policy: Policy, tools: Mapping[str, ToolInfo]) -> None:
        self.policy = policy
        self.tools = dict(tools)
        compiled = [self._compile(rule) for rule in policy.rules]
        self.rules: dict[str, CRule] = {c.id: c for c, _ in compiled}
        index: dict[tuple[str, str], tuple[list[CRule], list[CRule], list[CRule]]] = {
            (agent, tool): ([], [], []) for agent in policy.agents for tool in self.tools
        }
        for crule, selected in compiled:
            agents = policy.agents if "*" in crule.source.agents else crule.source.agents
            slot = {"permit": 0, "forbid": 1, "require_approval": 2}[crule.effect]
            for agent in agents:
                for tool in selected:
                    index[(agent, tool)][slot].append(crule)
        self._index = {
            key: Bucket(
                self.tools[key[1]].access.rank,
                tuple(p),
                tuple(f),
                tuple(a),
                personal=any(r.who is not None for r in (*p, *f, *a)),
            )
            for key, (p, f, a) in index.items()
        }
        self._personal = tuple(c for c in self.rules.values() if c.who is not None)
        self._matched: dict[Person, frozenset[str]] = {}
        self._views: dict[tuple[str, str, frozenset[str]], Bucket] = {}
        self._person_agents = tuple(
            (name, Who.of(spec.people, spec.clients))
            for name, spec in policy.agents.items()
            if spec.for_people
        )
        self._people = frozenset(name for name, _ in self._person_agents)
        self._visible: dict[tuple[str, bool, frozenset[str]], frozenset[str]] = {}
        self._keys: list[tuple[str, str]] = []
        owners: dict[str, str] = {}
        for name, spec in policy.agents.items():
            for key in spec.keys:
                digest = key.removeprefix("sha256:")
                if digest in owners:
                    raise PolicyError(
                        f"agents {owners[digest]!r} and {name!r} share an API key; mint one each"
                    )
                owners[digest] = name
                self._keys.append((digest, name))

    def _compile(self, rule: Rule) -> tuple[CRule, tuple[str, ...]]:
        selected = self._select_tools(rule)
        if rule.access is not None:
            access = rule.access
        elif rule.effect != "permit":
            access = Access.READ  # a forbid without access matches every use
        elif rule.tools or rule.toolsets:
            access = max((self.tools[t].access for t in selected), key=lambda a: a.rank, default=Access.READ)
        else:
            raise PolicyError(
                f"{rule.origin}: permit {rule.id!r} names no tools, toolsets or access level; "
                "add `access: read` (or write, admin) or list the tools it grants"
            )
        folders = frozenset(rule.within or ())
        items = frozenset(rule.items or ())
        crule = CRule(
            id=rule.id,
            effect=rule.effect,
            rank=access.rank,
            access=access,
            folders=folders,
            items=items,
            scoped=rule.within is not None or rule.items is not None,
            when=compile_conditions(rule.when),
            unless=compile_conditions(rule.unless),
            description=rule.description,
            source=rule,
            who=Who.of(rule.people, rule.clients),
        )
        return crule, selected

    def _select_tools(self, rule: Rule) -> tuple[str, ...]:
        if rule.tools is None and rule.toolsets is None:
            return tuple(self.tools)
        chosen: list[str] = []
        for name in rule.tools or ():
            if name not in self.tools:
                hint = renamed(name) if RENAMED.get(name) in self.tools else _near(name, self.tools)
                raise PolicyError(f"{rule.origin}: rule {rule.id!r} names unknown tool {name!r}{hint}")
            chosen.append(name)
        toolsets = {info.toolset for info in self.tools.values()}
        for ts in rule.toolsets or ():
            if ts not in toolsets:
                raise PolicyError(
                    f"{rule.origin}: rule {rule.id!r} names unknown toolset {ts!r}; "
                    f"known: {', '.join(sorted(toolsets))}"
                )
            # A change to the enterprise itself comes with a toolset only when the rule says admin: a
            # `toolsets: [metadata]` written for values on files must not grant template changes.
            chosen.extend(
                t
                for t, info in self.tools.items()
                if info.toolset == ts and (not info.enterprise_wide or rule.access == Access.ADMIN)
            )
        return tuple(dict.fromkeys(chosen))

    # -- decisions -------------------------------------------------------------------------------

    # -- people: which rules apply to the person a call comes from ----------------------------------

    def _matched_rules(self, person: Person | None) -> frozenset[str]:
        """Ids of the people/clients rules that apply to `person` (none for a call without one)."""
        if person is None or not self._personal:
            return frozenset()
        found = self._matched.get(person)
        if found is None:
            found = frozenset(r.id for r in self._personal if r.who is not None and r.who.matches(person))
            if len(self._matched) >= MAX_VIEWS:
                self._matched.clear()
            self._matched[person] = found
        return found

    def _bucket(self, agent: str, tool: str, person: Person | None) -> Bucket | None:
        """The rules bearing on one (agent, tool) pair for one call's person (see Bucket.seen_by)."""
        b = self._index.get((agent, tool))
        if b is None or not b.personal:
            return b
        matched = self._matched_rules(person)
        key = (agent, tool, matched)
        view = self._views.get(key)
        if view is None:
            if len(self._views) >= MAX_VIEWS:
                self._views.clear()
            view = self._views[key] = b.seen_by(matched)
        return view

    def agent_for_person(self, person: Person) -> str | None:
        """The first declared `acts_as: person` agent whose people and clients both match, else None."""
        for name, who in self._person_agents:
            if matches_agent(who, person):
                return name
        return None

    def person_agents(self) -> list[str]:
        """The `acts_as: person` agents, in declaration order (non-empty: remote sign-in is needed)."""
        return [name for name, _ in self._person_agents]

    def sign_in_rules(self) -> SignIn:
        """The policy's `sign_in:` section (default: any client, dynamic registration on)."""
        return self.policy.sign_in

    def decide(self, req: DecisionRequest) -> Decision:
        bucket = self._bucket(req.agent, req.tool, req.person)
        if bucket is None:
            return reasons.unknown(req, self.policy.agents, self.tools)
        if req.person is None and req.agent in self._people:
            return Decision("deny", (), reasons.no_person(req.agent))
        decision = self._decide(req, bucket)
        if decision.effect == "deny" and bucket.permits and self.may_hide(req.agent, req.tool, req.person):
            hidden = self.hidden_use(req)
            if hidden is not None:
                shown = self.unavailable(req.agent, req.tool, hidden.item, req.person)
                return Decision("deny", decision.rule_ids, decision.reason, shown)
        return decision

    def _decide(self, req: DecisionRequest, bucket: Bucket) -> Decision:
        facts = req.facts
        ancestry = req.ancestry
        uses = req.matched()
        if bucket.forbids:
            hits = [
                f for f in bucket.forbids if self._forbid_hits(f, bucket.tool_rank, uses, ancestry, facts)
            ]
            if hits:
                return reasons.forbidden(req, hits)
        granted: list[str] = []
        if uses:
            for given, use in zip(req.uses, uses, strict=True):
                anc = ancestry.get(use.item)
                need = use.access.rank
                for p in bucket.permits:
                    if p.rank >= need and p.in_scope(use.item, anc) and p.applies(facts):
                        if p.id not in granted:
                            granted.append(p.id)
                        break
                else:
                    return reasons.uncovered(req, given, bucket.permits)
        else:
            # No item: any grant of the tool strong enough will do (confined search gets roots injected).
            for p in bucket.permits:
                if p.rank >= bucket.tool_rank and p.applies(facts):
                    granted.append(p.id)
                    break
            else:
                return reasons.uncovered(req, None, bucket.permits)
        if bucket.approvals:
            hits = [
                a for a in bucket.approvals if self._forbid_hits(a, bucket.tool_rank, uses, ancestry, facts)
            ]
            if hits:
                return reasons.needs_approval(req, hits, self.policy.digest)
        return Decision("allow", tuple(granted), reasons.allowed(req, granted))

    @staticmethod
    def _forbid_hits(
        f: CRule,
        tool_rank: int,
        uses: tuple[ResourceUse, ...],
        ancestry: Mapping[ItemRef, tuple[str, ...]],
        facts: CallFacts,
    ) -> bool:
        if uses:
            # Unknown ancestry under a folder-scoped forbid counts as inside it: fail closed.
            # A call on a folder's whole subtree (copy, delete, share) meets a forbid on anything inside.
            touched = any(
                u.access.rank >= f.rank
                and (f.in_scope(u.item, ancestry.get(u.item)) is not False or f.below(u, ancestry))
                for u in uses
            )
        else:
            touched = not f.scoped and tool_rank >= f.rank
        return touched and f.applies(facts)

    # -- questions the server asks before and after calls ----------------------------------------

    def visible_tools(self, agent: str, person: Person | None = None) -> frozenset[str]:
        """Tools the agent (for this person) holds a strong-enough permit for, minus tools forbidden
        outright."""
        key = (agent, person is not None, self._matched_rules(person))
        cached = self._visible.get(key)
        if cached is None:
            if len(self._visible) >= MAX_VIEWS:
                self._visible.clear()
            cached = self._visible[key] = self._compute_visible(agent, person)
        return cached

    def scoped(self, agent: str, tool: str, person: Person | None = None) -> bool:
        """Whether any rule for this pair names folders or items (else where an item sits never matters)."""
        b = self._bucket(agent, tool, person)
        return b is not None and any(r.scoped for r in (*b.permits, *b.forbids, *b.approvals))

    def guards(self, agent: str, tool: str, person: Person | None = None) -> tuple[ItemRef, ...]:
        """What the forbids and approval rules for this pair name: a call on a subtree holding one of
        these needs its location (see CRule.below)."""
        b = self._bucket(agent, tool, person)
        if b is None:
            return ()
        return tuple(dict.fromkeys(t for r in (*b.forbids, *b.approvals) if r.scoped for t in r.targets))

    def tests(self, agent: str, tool: str, *conditions: str, person: Person | None = None) -> bool:
        """Whether a rule for this pair has a when/unless on one of these (else that value never matters)."""
        b = self._bucket(agent, tool, person)
        rules = () if b is None else (*b.permits, *b.forbids, *b.approvals)
        return any(c.field in conditions for r in rules for c in (*r.when, *r.unless))

    def needs_ancestry(self, agent: str, tool: str, person: Person | None = None) -> bool:
        """Whether any rule for this pair is confined to folders (else no Box lookup is needed to decide)."""
        b = self._bucket(agent, tool, person)
        return b is not None and any(r.folders for r in (*b.permits, *b.forbids, *b.approvals))

    def _compute_visible(self, agent: str, person: Person | None) -> frozenset[str]:
        out: set[str] = set()
        if person is None and agent in self._people:
            return frozenset()  # a person agent without a signed-in person may do nothing
        for tool, info in self.tools.items():
            b = self._bucket(agent, tool, person)
            if b is None:
                continue
            if not any(p.rank >= b.tool_rank for p in b.permits):
                continue
            if any(not f.scoped and not f.conditional and f.rank <= info.access.rank for f in b.forbids):
                continue
            out.add(tool)
        return frozenset(out)

    def roots(self, agent: str, tool: str, person: Person | None = None) -> tuple[str, ...] | None:
        """Folder ids the agent's permits for `tool` are confined to; None when some permit is unconfined."""
        b = self._bucket(agent, tool, person)
        if b is None:
            return ()
        roots: dict[str, None] = {}
        for p in b.permits:
            if not p.scoped:
                return None
            roots.update(dict.fromkeys(sorted(p.folders)))
        return tuple(roots)

    def can_see(
        self,
        agent: str,
        tool: str,
        ancestry: tuple[str, ...],
        item: ItemRef | None = None,
        person: Person | None = None,
    ) -> bool:
        """Whether a listing or search result at `ancestry` may be shown to the agent."""
        b = self._bucket(agent, tool, person)
        if b is None:
            return False
        # Forbids and approvals on reading hide results too (a conditional one never matches a plain read).
        for f in (*b.forbids, *b.approvals):
            if f.rank == 0 and not f.conditional and f.in_scope(item, ancestry):
                return False
        return any(p.in_scope(item, ancestry) for p in b.permits)

    def may_hide(self, agent: str, tool: str, person: Person | None = None) -> bool:
        """Whether `can_see` can say no for this pair: every permit is confined to folders or items, or a
        forbid or approval rule hides reading. Only then do results need recounting and denials on
        items need one wording (an agent with a whole-account grant and no such rule hides nothing)."""
        b = self._bucket(agent, tool, person)
        if b is None or all(p.scoped for p in b.permits):
            return True
        return any(f.rank == 0 and not f.conditional for f in (*b.forbids, *b.approvals))

    def hiding_targets(self, agent: str, tool: str, person: Person | None = None) -> tuple[ItemRef, ...]:
        """The folders and items whose reading a forbid or approval rule hides (see can_see)."""
        b = self._bucket(agent, tool, person)
        if b is None:
            return ()
        rules = (r for r in (*b.forbids, *b.approvals) if r.rank == 0 and not r.conditional and r.scoped)
        return tuple(dict.fromkeys(t for r in rules for t in r.targets))

    def covers_below(
        self, agent: str, tool: str, ancestry: tuple[str, ...], person: Person | None = None
    ) -> bool:
        """Whether a permit reaches everything at or below the folder at `ancestry` (not just named items)."""
        b = self._bucket(agent, tool, person)
        return b is not None and any(not p.scoped or not p.folders.isdisjoint(ancestry) for p in b.permits)

    def hides_anything(self, agent: str, person: Person | None = None) -> bool:
        """Whether any tool the agent holds may hide items from it (then account-wide totals are hidden)."""
        return any(self.may_hide(agent, tool, person) for tool in self.visible_tools(agent, person))

    def hidden_use(self, req: DecisionRequest) -> ResourceUse | None:
        """The first use (as the caller named it) on an item the agent may not see."""
        for given, use in zip(req.uses, req.matched(), strict=True):
            if not self.can_see(req.agent, req.tool, req.ancestry.get(use.item) or (), use.item, req.person):
                return given
        return None

    def unavailable(self, agent: str, tool: str, item: ItemRef, person: Person | None = None) -> str:
        """The one denial for an item the agent may not see or that does not exist (see Decision.shown)."""
        b = self._bucket(agent, tool, person)
        return reasons.unavailable(agent, tool, item, b.permits if b is not None else ())

    def agent_for_key(self, api_key: str) -> str | None:
        """The agent whose stored hash matches `api_key`; compares against every hash in constant time."""
        digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
        found = None
        for stored, agent in self._keys:
            if hmac.compare_digest(stored, digest):
                found = agent
        return found

    def agent(self, name: str) -> Agent | None:
        return self.policy.agents.get(name)

    def bucket(self, agent: str, tool: str) -> Bucket | None:
        """Every rule that bears on one (agent, tool) pair, for any person (for `policy check`)."""
        return self._index.get((agent, tool))


def _near(name: str, known: Mapping[str, object]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
