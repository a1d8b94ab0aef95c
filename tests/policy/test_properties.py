"""Property tests: default deny, and that forbids, approvals and fewer permits never allow more."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.policy.engine import DecisionRequest, Engine
from box_mcp.policy.model import Agent, Policy, Rule
from box_mcp.policy.reference_tools import tools_for_policy

# A small Box: 0 > 1 > 2 > 3 and 0 > 4 > 5; files 10 (in 3), 11 (in 5), 12 (in 0).
ANCESTRY = {
    ItemRef("folder", "0"): ("0",),
    ItemRef("folder", "1"): ("0", "1"),
    ItemRef("folder", "2"): ("0", "1", "2"),
    ItemRef("folder", "3"): ("0", "1", "2", "3"),
    ItemRef("folder", "4"): ("0", "4"),
    ItemRef("folder", "5"): ("0", "4", "5"),
    ItemRef("file", "10"): ("0", "1", "2", "3"),
    ItemRef("file", "11"): ("0", "4", "5"),
    ItemRef("file", "12"): ("0",),
}
ITEMS = list(ANCESTRY)
FOLDERS = ["0", "1", "2", "3", "4", "5"]
TOOLS = [
    "who_am_i",
    "get_file_details",
    "upload_file",
    "move_file",
    "copy_file",
    "delete_file",
    "add_file_shared_link",
    "create_collaboration",
    "search_files_keyword",
    "set_file_metadata",
]
TOOLSETS = ["files", "sharing", "search", "metadata", "users"]
ACCESS = ["read", "write", "admin"]
RANK = {"deny": 0, "approval_required": 1, "allow": 2}
TOOL_TABLE = {t: tools_for_policy()[t] for t in TOOLS}

conditions = st.fixed_dictionaries(
    {},
    optional={
        "max_upload_bytes": st.integers(0, 100),
        "file_extensions": st.lists(st.sampled_from(["pdf", "docx", ""]), max_size=2),
        "name_patterns": st.lists(st.sampled_from(["*.pdf", "a*", "?"]), max_size=2),
        "shared_link_access": st.lists(st.sampled_from(["open", "company", "collaborators"]), max_size=2),
        "collaboration_roles": st.lists(st.sampled_from(["editor", "viewer"]), max_size=2),
        "invitee_domains": st.lists(st.sampled_from(["acme.example", "*.acme.example"]), max_size=2),
        "metadata_templates": st.lists(
            st.sampled_from(["enterprise_*/contract", "global/properties"]), max_size=2
        ),
    },
)


@st.composite
def rule_dicts(draw: Any, effect: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "effect": effect or draw(st.sampled_from(["permit", "permit", "forbid", "require_approval"])),
        "agents": draw(st.lists(st.sampled_from(["a", "b", "*"]), min_size=1, max_size=2, unique=True)),
        "access": draw(st.sampled_from(ACCESS)),
    }
    if draw(st.booleans()):
        r["tools"] = draw(st.lists(st.sampled_from(TOOLS), min_size=1, max_size=3, unique=True))
    elif draw(st.booleans()):
        r["toolsets"] = draw(st.lists(st.sampled_from(TOOLSETS), min_size=1, max_size=2, unique=True))
    if draw(st.booleans()):
        r["within"] = draw(st.lists(st.sampled_from(FOLDERS), min_size=1, max_size=2, unique=True))
    if draw(st.integers(0, 3)) == 0:
        r["items"] = [
            f"{i.type}:{i.id}" for i in draw(st.lists(st.sampled_from(ITEMS), min_size=1, max_size=2))
        ]
    if draw(st.integers(0, 2)) == 0:
        r["when"] = draw(conditions)
    if draw(st.integers(0, 3)) == 0:
        r["unless"] = draw(conditions)
    return r


facts = st.builds(
    CallFacts,
    name=st.one_of(st.none(), st.sampled_from(["a.pdf", "b.docx", "x", "README"])),
    size_bytes=st.one_of(st.none(), st.integers(0, 200)),
    shared_link_access=st.one_of(st.none(), st.sampled_from(["open", "company", "collaborators"])),
    collaboration_role=st.one_of(st.none(), st.sampled_from(["editor", "viewer", "co-owner"])),
    invitee_email=st.one_of(st.none(), st.sampled_from(["x@acme.example", "y@eu.acme.example", "z@evil.io"])),
    metadata_template=st.one_of(st.none(), st.sampled_from(["enterprise_1/contract", "global/properties"])),
)


@st.composite
def requests(draw: Any) -> DecisionRequest:
    uses = tuple(
        ResourceUse(
            draw(st.sampled_from(ITEMS)),
            Access(draw(st.sampled_from(ACCESS))),
            draw(st.sampled_from(["item", "source", "destination", "parent"])),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    known = draw(st.sets(st.sampled_from(ITEMS)))  # some locations may be unknown
    ancestry = {i: ANCESTRY[i] for i in ITEMS if i not in known or draw(st.booleans())}
    return DecisionRequest(
        draw(st.sampled_from(["a", "b", "c"])), draw(st.sampled_from(TOOLS)), uses, draw(facts), ancestry
    )


def engine_of(rules: list[dict[str, Any]]) -> Engine:
    built = tuple(Rule.model_validate({"id": f"r{i}", **r}) for i, r in enumerate(rules))
    policy = Policy(agents={"a": Agent(), "b": Agent()}, rules=built)
    return Engine(policy, TOOL_TABLE)


FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.lists(rule_dicts(effect="forbid"), max_size=4), st.lists(requests(), min_size=1, max_size=5))
def test_without_permits_nothing_is_allowed(forbids, reqs):
    engine = engine_of(forbids)
    for req in reqs:
        assert engine.decide(req).effect == "deny"


@FAST
@given(st.lists(rule_dicts(), max_size=6), st.lists(requests(), min_size=1, max_size=5))
def test_an_allowed_call_names_the_permits_that_cover_it(rules, reqs):
    engine = engine_of(rules)
    for req in reqs:
        d = engine.decide(req)
        if d.allowed:
            assert d.rule_ids and all(engine.rules[r].effect == "permit" for r in d.rule_ids)
        elif d.effect == "deny" and d.rule_ids:
            assert all(engine.rules[r].effect == "forbid" for r in d.rule_ids)
        assert d.reason


@FAST
@given(
    st.lists(rule_dicts(), max_size=6),
    rule_dicts(effect="forbid"),
    st.lists(requests(), min_size=1, max_size=5),
)
def test_adding_a_forbid_never_allows_more(rules, forbid, reqs):
    before, after = engine_of(rules), engine_of([*rules, forbid])
    for req in reqs:
        assert RANK[after.decide(req).effect] <= RANK[before.decide(req).effect]


@FAST
@given(
    st.lists(rule_dicts(), max_size=6),
    rule_dicts(effect="require_approval"),
    st.lists(requests(), min_size=1, max_size=5),
)
def test_adding_an_approval_rule_never_allows_more(rules, approval, reqs):
    before, after = engine_of(rules), engine_of([*rules, approval])
    for req in reqs:
        assert RANK[after.decide(req).effect] <= RANK[before.decide(req).effect]


@FAST
@given(
    st.lists(rule_dicts(), min_size=1, max_size=6), st.data(), st.lists(requests(), min_size=1, max_size=5)
)
def test_removing_a_permit_never_allows_more(rules, data, reqs):
    permits = [i for i, r in enumerate(rules) if r["effect"] == "permit"]
    if not permits:
        return
    drop = data.draw(st.sampled_from(permits))
    before, after = engine_of(rules), engine_of([r for i, r in enumerate(rules) if i != drop])
    for req in reqs:
        assert RANK[after.decide(req).effect] <= RANK[before.decide(req).effect]


@FAST
@given(st.lists(rule_dicts(), max_size=6), st.sampled_from(["a", "b"]))
def test_listing_shows_exactly_what_a_read_would_allow(rules, agent):
    """No leaks through listings: a result is visible iff reading it with that tool is allowed."""
    engine = engine_of(rules)
    for item, anc in ANCESTRY.items():
        read = DecisionRequest(
            agent, "search_files_keyword", (ResourceUse(item, Access.READ),), CallFacts(), {item: anc}
        )
        assert engine.can_see(agent, "search_files_keyword", anc, item=item) == engine.decide(read).allowed
