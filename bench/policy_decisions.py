"""Decision latency of box-mcp's policy engine against Cedar (cedarpy) on the same policy, in the same run.

    python bench/policy_decisions.py [--requests 3000] [--rules 10,100,1000] [--quick] [--json]

For 10, 100 and 1,000 rules spread over 100 agents, both engines decide the same calls (one item each, a
folder tree of 1,221 folders) and the script prints p50/p99 per decision, the ratio, and how often the two
engines agree (they must: same semantics). cedarpy gets its best case: the policy set and the entities are
parsed once, outside the timed loop. The comparison needs the bench extra (pip install -e '.[bench]');
without cedarpy the script says so and measures box-mcp's engine alone.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from _common import Results, parser, pct

from box_mcp.access import CallFacts, ItemRef, ResourceUse
from box_mcp.policy.engine import DecisionRequest, Engine
from box_mcp.policy.model import Agent, Policy, Rule
from box_mcp.policy.reference_tools import tools_for_policy

AGENTS = [f"agent{i}" for i in range(100)]
TOOLS = tools_for_policy()
TOOLSETS = sorted({t.toolset for t in TOOLS.values()})


def folder_tree() -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Folder id -> ancestry (root "0" down to itself), and the leaf folders."""
    tree: dict[str, tuple[str, ...]] = {"0": ("0",)}
    leaves: list[str] = []
    next_id = 1000
    for _top in range(20):
        next_id += 1
        top = str(next_id)
        tree[top] = ("0", top)
        for _sub in range(10):
            next_id += 1
            sub = str(next_id)
            tree[sub] = ("0", top, sub)
            for _leaf in range(5):
                next_id += 1
                leaf = str(next_id)
                tree[leaf] = ("0", top, sub, leaf)
                leaves.append(leaf)
    return tree, leaves


def make_rules(n: int, tree: dict[str, tuple[str, ...]], rng: random.Random) -> list[dict[str, Any]]:
    folders = [f for f in tree if f != "0"]
    rules = []
    for i in range(n):
        roll = rng.random()
        effect = "permit" if roll < 0.7 else "forbid" if roll < 0.9 else "require_approval"
        r: dict[str, Any] = {"id": f"r{i}", "effect": effect, "agents": [AGENTS[i % len(AGENTS)]]}
        pick = rng.random()
        if pick < 0.4:
            pass  # every tool
        elif pick < 0.8:
            r["toolsets"] = [rng.choice(TOOLSETS)]
        else:
            r["tools"] = rng.sample(sorted(TOOLS), 3)
        r["access"] = (
            rng.choice(["read", "write", "admin"]) if effect == "permit" else rng.choice(["read", "write"])
        )
        if effect == "permit" or rng.random() < 0.8:
            r["within"] = [rng.choice(folders)]
        if rng.random() < 0.3:
            if effect == "permit":
                r["when"] = {
                    "max_upload_bytes": rng.choice([10_000, 25_000_000]),
                    "file_extensions": ["pdf", "docx"],
                }
            else:
                r["when"] = {"file_extensions": ["exe"]}
        rules.append(r)
    return rules


def make_requests(
    count: int,
    rules: list[dict[str, Any]],
    leaves: list[str],
    tree: dict[str, tuple[str, ...]],
    rng: random.Random,
) -> list[DecisionRequest]:
    """Calls by random agents; most aim inside one of their grants, so allow and deny are both common."""
    by_agent: dict[str, list[dict[str, Any]]] = {}
    for r in rules:
        if r["effect"] == "permit":
            by_agent.setdefault(r["agents"][0], []).append(r)
    below: dict[str, list[str]] = {}
    for leaf in leaves:
        for folder in tree[leaf]:
            below.setdefault(folder, []).append(leaf)
    out = []
    for i in range(count):
        agent = rng.choice(AGENTS)
        tool, leaf = rng.choice(sorted(TOOLS)), rng.choice(leaves)
        grants = by_agent.get(agent)
        if grants and rng.random() < 0.8:
            g = rng.choice(grants)
            leaf = rng.choice(below[g["within"][0]]) if "within" in g else leaf
            candidates = g.get("tools") or [
                t for t, info in TOOLS.items() if info.toolset in g.get("toolsets", [info.toolset])
            ]
            fitting = [t for t in candidates if TOOLS[t].access.rank <= RANK[g["access"]]]
            tool = rng.choice(fitting or candidates)
        item = ItemRef("file", str(100_000 + i))
        use = ResourceUse(item, TOOLS[tool].access)
        facts = CallFacts(
            name="x." + rng.choice(["pdf", "docx", "exe"]), size_bytes=rng.choice([100, 50_000])
        )
        out.append(DecisionRequest(agent, tool, (use,), facts, {item: tree[leaf]}))
    return out


# -- the same policy in Cedar ------------------------------------------------------------------------

RANK = {"read": 0, "write": 1, "admin": 2}


def cedar_policy(rules: list[dict[str, Any]]) -> str:
    out = []
    for r in rules:
        effect = "permit" if r["effect"] == "permit" else "forbid"  # Cedar has no approval effect
        action = "action"
        if "tools" in r:
            action = "action in [" + ", ".join(f'Action::"{t}"' for t in r["tools"]) + "]"
        elif "toolsets" in r:
            action = f'action in Action::"toolset:{r["toolsets"][0]}"'
        resource = f'resource in Folder::"{r["within"][0]}"' if "within" in r else "resource"
        conds = []
        rank = RANK[r["access"]]
        conds.append(f"context.rank <= {rank}" if effect == "permit" else f"context.rank >= {rank}")
        when = r.get("when", {})
        if "max_upload_bytes" in when:
            conds.append(f"(!(context has size) || context.size <= {when['max_upload_bytes']})")
        if "file_extensions" in when:
            exts = json.dumps(when["file_extensions"])
            if effect == "permit":
                conds.append(f"(!(context has ext) || {exts}.contains(context.ext))")
            else:
                conds.append(f"(context has ext && {exts}.contains(context.ext))")
        out.append(
            f'@id("{r["id"]}")\n{effect}(principal == Agent::"{r["agents"][0]}", {action}, {resource})\n'
            f"when {{ {' && '.join(conds)} }};"
        )
    return "\n".join(out)


def cedar_entities(tree: dict[str, tuple[str, ...]], reqs: list[DecisionRequest]) -> list[dict[str, Any]]:
    ents: list[dict[str, Any]] = []
    for fid, anc in tree.items():
        parents = [{"type": "Folder", "id": anc[-2]}] if len(anc) > 1 else []
        ents.append({"uid": {"type": "Folder", "id": fid}, "attrs": {}, "parents": parents})
    for req in reqs:
        use = req.uses[0]
        ents.append(
            {
                "uid": {"type": "File", "id": use.item.id},
                "attrs": {},
                "parents": [{"type": "Folder", "id": req.ancestry[use.item][-1]}],
            }
        )
    for name, info in TOOLS.items():
        ents.append(
            {
                "uid": {"type": "Action", "id": name},
                "attrs": {},
                "parents": [{"type": "Action", "id": f"toolset:{info.toolset}"}],
            }
        )
    ents.extend(
        {"uid": {"type": "Action", "id": f"toolset:{ts}"}, "attrs": {}, "parents": []} for ts in TOOLSETS
    )
    ents.extend({"uid": {"type": "Agent", "id": a}, "attrs": {}, "parents": []} for a in AGENTS)
    return ents


def cedar_request(req: DecisionRequest) -> dict[str, Any]:
    use = req.uses[0]
    ext = (req.facts.name or "").rpartition(".")[2]
    return {
        "principal": f'Agent::"{req.agent}"',
        "action": f'Action::"{req.tool}"',
        "resource": f'File::"{use.item.id}"',
        "context": {"rank": use.access.rank, "size": req.facts.size_bytes, "ext": ext},
    }


def percentiles(ns: list[int]) -> tuple[float, float]:
    """p50 and p99 in microseconds."""
    us = [n / 1000 for n in ns]
    return pct(us, 50), pct(us, 99)


def run(n_rules: int, n_requests: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload, not a secret
    tree, leaves = folder_tree()
    rules = make_rules(n_rules, tree, rng)
    policy = Policy(agents={a: Agent() for a in AGENTS}, rules=tuple(Rule.model_validate(r) for r in rules))
    t0 = time.perf_counter()
    engine = Engine(policy, TOOLS)
    compile_ms = (time.perf_counter() - t0) * 1000
    reqs = make_requests(n_requests, rules, leaves, tree, rng)
    for req in reqs[: min(200, len(reqs))]:  # warm up
        engine.decide(req)
    ours: list[int] = []
    effects = []
    clock = time.perf_counter_ns
    for req in reqs:
        start = clock()
        d = engine.decide(req)
        ours.append(clock() - start)
        effects.append(d.allowed)
    result: dict[str, Any] = {"rules": n_rules, "compile_ms": compile_ms, "ours": percentiles(ours)}
    result["allowed"] = sum(effects)
    try:
        import cedarpy
    except ImportError:
        return result
    pset = cedarpy.PolicySet.from_str(cedar_policy(rules))
    ents = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(tree, reqs)))
    creqs = [cedar_request(r) for r in reqs]
    cedar_ns: list[int] = []
    agree = 0
    for creq, mine in zip(creqs, effects, strict=True):
        start = clock()
        res = cedarpy.is_authorized(creq, pset, ents)
        cedar_ns.append(clock() - start)
        agree += (res.decision == cedarpy.Decision.Allow) == mine
    result["cedar"] = percentiles(cedar_ns)
    result["agree"] = agree / len(reqs)
    return result


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rules", default="10,100,1000")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    if args.quick:
        args.requests, args.rules = 300, "10,1000"
    out = Results("policy_decisions", args)
    try:
        import cedarpy  # noqa: F401 - only to say up front whether the comparison runs
    except ImportError:
        out.note("cedarpy is not installed: the Cedar comparison is skipped (pip install -e '.[bench]')")
    out.say(
        f"{'rules':>6} {'compile':>9} {'ours p50':>9} {'ours p99':>9} {'cedar p50':>10} {'cedar p99':>10} "
        f"{'p50 ratio':>9} {'agree':>6} {'allowed':>8}"
    )
    rows = []
    for n in (int(x) for x in args.rules.split(",")):
        r = run(n, args.requests, args.seed)
        rows.append(r)
        o50, o99 = r["ours"]
        line = f"{n:>6} {r['compile_ms']:>7.1f}ms {o50:>7.2f}us {o99:>7.2f}us"
        if "cedar" in r:
            c50, c99 = r["cedar"]
            line += f" {c50:>8.1f}us {c99:>8.1f}us {c50 / o50:>8.1f}x {r['agree']:>6.1%}"
        else:
            line += f" {'-':>10} {'-':>10} {'-':>9} {'-':>6}"
        out.say(line + f" {r['allowed']:>8}")
    for r in rows:
        n, (o50, o99) = r["rules"], r["ours"]
        out.figure(f"p50 per decision, {n} rules", o50, "us", 20.0 if n >= 1000 else None)
        out.figure(f"p99 per decision, {n} rules", o99, "us")
        if "cedar" in r:
            out.ratio(f"cedarpy / box-mcp p50, {n} rules", r["cedar"][0] / o50, 10.0, at_least=True)
            out.figure(f"agreement with cedarpy, {n} rules", r["agree"] * 100, "%", 100.0, at_least=True)
    return out.finish()


if __name__ == "__main__":
    sys.exit(main())
