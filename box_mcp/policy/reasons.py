"""The sentences decisions carry: what happened, which rule, and what would be allowed instead.

Written for both a person reading the audit log and a model deciding its next call, so each names the
item, the rule id and the grant's reach. Only the slow (deny) paths build long sentences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from box_mcp.access import ItemRef, ResourceUse
from box_mcp.decision import CALLER_APPROVES, ApprovalTerms, Decision, Effect
from box_mcp.policy.conditions import first_failing

if TYPE_CHECKING:
    from box_mcp.policy.engine import CRule, DecisionRequest, ToolInfo
    from box_mcp.policy.model import Agent

_VERB = {"read": "reads", "write": "changes", "admin": "changes who can reach"}


def _decision(effect: Effect, ids: Sequence[str], reason: str) -> Decision:
    return Decision(effect, tuple(ids), reason)


def reach(rule: CRule) -> str:
    """Where a rule reaches, e.g. 'folder 456 and below' or 'anywhere'."""
    if not rule.scoped:
        return "anywhere"
    parts = []
    if rule.folders:
        ids = sorted(rule.folders)
        parts.append(f"folder{'s' if len(ids) > 1 else ''} {', '.join(ids)} and below")
    parts.extend(str(i) for i in sorted(rule.items, key=str))
    return "; ".join(parts)


def _where(req: DecisionRequest, use: ResourceUse) -> str:
    # Only the id the caller gave: naming the item's parent would reveal an id outside the grant.
    return str(use.item)


def phrase(req: DecisionRequest, use: ResourceUse) -> str:
    """What the call does to one item, e.g. 'move_file puts file 123 into folder 999'."""
    t = req.tool
    if use.role == "destination":
        src = next((u for u in req.uses if u.role == "source"), None)
        return f"{t} puts {src.item if src else 'an item'} into {_where(req, use)}"
    if use.role == "parent":
        named = f"'{req.facts.name}'" if req.facts.name else "an item"
        return f"{t} creates {named} in {_where(req, use)}"
    if use.role == "scope":
        return f"{t} searches {_where(req, use)}"
    return f"{t} {_VERB.get(use.access.value, 'uses')} {_where(req, use)}"


def _described(rule: CRule) -> str:
    return f": {rule.description.rstrip('.')}" if rule.description else ""


def _protected(rule: CRule) -> str:
    # Never the ids a forbid names: they lie outside the agent's grant (a listing hides them too).
    return "anywhere" if not rule.scoped else "in the folders and items it protects"


def unknown(req: DecisionRequest, agents: Mapping[str, Agent], tools: Mapping[str, ToolInfo]) -> Decision:
    if req.agent not in agents:
        return _decision("deny", (), f"{req.agent!r} is not an agent this policy knows.")
    return _decision("deny", (), f"{req.tool!r} is not a tool this server offers.")


def no_person(agent: str) -> str:
    return f"{agent} acts as the signed-in person, and this call comes from no signed-in person."


def forbidden(req: DecisionRequest, hits: Sequence[CRule]) -> Decision:
    f = hits[0]
    target = next((u for u in req.uses if u.access.rank >= f.rank), None)
    what = phrase(req, target) if target else req.tool
    detail = ""
    if f.when:
        shown = [c.shows(c.get(req.facts)) for c in f.when if c.get(req.facts) is not None]
        detail = f" with {' and '.join(shown)}" if shown else ""
    elif f.unless:
        failing = first_failing(f.unless, req.facts, absent_holds=True)
        if failing is not None:
            detail = f" with {failing.shows(failing.get(req.facts))} (only {failing.allows} are exempt)"
    return _decision(
        "deny",
        [h.id for h in hits],
        f"{what}{detail}; rule '{f.id}' forbids this for {req.agent} {_protected(f)}{_described(f)}.",
    )


def needs_approval(req: DecisionRequest, hits: Sequence[CRule], version: str = "") -> Decision:
    """The call waits for a person: the first rule's sentence; who may approve is what every rule that
    holds it allows (an approver one rule does not name cannot let the call past that rule)."""
    a = hits[0]
    target = next((u for u in req.uses if u.access.rank >= a.rank), None)
    what = phrase(req, target) if target else req.tool
    terms = approval_terms(hits)
    return Decision(
        "approval_required",
        tuple(h.id for h in hits),
        f"approval required: {what}; rule '{a.id}' requires a person to approve this for {req.agent} "
        f"(approved by {terms.who()}){_described(a)}",
        approval=terms,
        policy_version=version,
    )


def approval_terms(hits: Sequence[CRule]) -> ApprovalTerms:
    """Who approves a call several rules hold: the approvers all of them name (an admin when they name
    none in common: only an admin may overrule more than one rule's choice); the longest hold, the
    shortest expiry."""
    specs = [h.source.approval for h in hits]
    sets = [spec.by if spec is not None else CALLER_APPROVES.by for spec in specs]
    common = [b for b in sets[0] if all(b in s for s in sets[1:])]
    holds = [spec.hold if spec is not None else CALLER_APPROVES.hold for spec in specs]
    expires = [spec.expires if spec is not None else CALLER_APPROVES.expires for spec in specs]
    return ApprovalTerms(tuple(common) or ("admin",), float(max(holds)), float(min(expires)))


def uncovered(req: DecisionRequest, use: ResourceUse | None, permits: Sequence[CRule]) -> Decision:
    agent = req.agent
    if not permits:
        return _decision("deny", (), f"{agent} holds no grant for {req.tool}.")
    if use is None:
        return _decision(
            "deny",
            (),
            f"{req.tool} touches no single item, and none of {agent}'s grants for it allow "
            f"{'this call' if any(p.conditional for p in permits) else 'that much access'}.",
        )
    what = phrase(req, use)
    need = use.access.rank
    anc = req.ancestry.get(use.item)
    here = [p for p in permits if p.in_scope(use.item, anc)]
    strong_here = [p for p in here if p.rank >= need]
    if strong_here:
        p = strong_here[0]
        c = first_failing(p.when, req.facts, absent_holds=True)
        detail = (
            f"allows only {c.allows}, not {c.shows(c.get(req.facts))}"
            if c
            else "does not apply to these arguments"
        )
        return _decision("deny", (), f"{what}, but {agent}'s grant '{p.id}' {detail}.")
    if here:
        p = max(here, key=lambda r: r.rank)
        return _decision(
            "deny",
            (),
            f"{what}, which needs {use.access.value} access; {agent}'s grant '{p.id}' gives only "
            f"{p.access.value} access there.",
        )
    strong = [p for p in permits if p.rank >= need]
    if anc is None and any(p.folders for p in strong):
        return _decision(
            "deny",
            (),
            f"{what}, but where {use.item} sits in Box is unknown, so it cannot be checked against "
            f"{agent}'s grants; retry with an id the server can look up.",
        )
    if strong:
        grants = " and ".join(f"'{p.id}' ({reach(p)})" for p in strong[:3])
        plural = "s" if len(strong) > 1 else ""
        return _decision(
            "deny",
            (),
            f"{what}, outside {agent}'s {use.access.value} grant{plural} {grants}.",
        )
    return _decision(
        "deny",
        (),
        f"{what}, which needs {use.access.value} access; {agent} holds no {use.access.value} grant "
        f"for {req.tool}.",
    )


def unavailable(agent: str, tool: str, item: ItemRef, permits: Sequence[CRule]) -> str:
    """One sentence for "outside the grants", "hidden by a rule" and "no such item": told apart, they
    would let an agent probe which ids exist outside its grants. The grants named are the agent's own."""
    by_access: dict[str, list[str]] = {}
    for p in sorted(permits, key=lambda r: r.rank):
        where = "the whole account except what the policy protects" if not p.scoped else reach(p)
        places = by_access.setdefault(p.access.value, [])
        if where not in places:
            places.append(where)
    grants = "; ".join(f"{access} in {' and '.join(places[:5])}" for access, places in by_access.items())
    return (
        f"{item} is not available to {agent} (it does not exist, or {agent} may not use it); "
        f"{agent}'s grants for {tool}: {grants or 'none'}."
    )


def allowed(req: DecisionRequest, granted: Sequence[str]) -> str:
    return f"allowed: {req.agent} may {req.tool} under rule{'s' if len(granted) > 1 else ''} " + ", ".join(
        f"'{g}'" for g in granted
    )
