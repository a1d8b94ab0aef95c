"""People in the policy: acts_as person agents, people/clients selectors on agents and rules, sign_in."""

from __future__ import annotations

import time

import pytest

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.errors import PolicyError
from box_mcp.identity import Person
from box_mcp.policy.engine import DecisionRequest, Engine
from box_mcp.policy.lint import lint
from box_mcp.policy.model import SignIn, policy_from_text
from box_mcp.policy.people import client_allowed, registration_allowed

CIMD = "https://claude.ai/oauth/mcp-oauth-client-metadata"

TEAM = """
agents:
  staff:
    acts_as: person
    people: {domains: [example.com, "*.corp.example"], groups: [777]}
    clients: {redirect_hosts: [claude.ai, claude.com]}
  contractors:
    acts_as: person
    people: {logins: [Carl@Vendor.example], users: [555]}
  anyone:
    acts_as: person
  bot: {}
rules:
  - {id: staff-read, effect: permit, agents: staff, access: read}
  - {id: contractors-read, effect: permit, agents: contractors, access: read, within: [9]}
  - {id: anyone-read, effect: permit, agents: anyone, access: read, within: [9]}
  - id: writers
    effect: permit
    agents: staff
    access: write
    within: 123
    people: {domains: [example.com]}
    clients: {ids: ["CIMD"]}
  - id: bob-no-deletes
    effect: forbid
    agents: staff
    tools: [delete_file]
    people: {logins: [bob@example.com]}
  - {id: bot-read, effect: permit, agents: bot, access: read}
""".replace("CIMD", CIMD)


def person(login: str | None = "ada@example.com", **kw: object) -> Person:
    fields: dict[str, object] = {"box_user_id": "30000000002", "login": login, "client_id": CIMD}
    fields.update(redirect_host="claude.ai")
    fields.update(kw)
    return Person.model_validate(fields)


def decide(engine: Engine, agent: str, tool: str, p: Person | None, *uses: ResourceUse, anc=None):  # type: ignore[no-untyped-def]
    ancestry = {ItemRef(*k.split(":")): tuple(v) for k, v in (anc or {}).items()}
    return engine.decide(DecisionRequest(agent, tool, uses, CallFacts(), ancestry, person=p))


def w(kind: str, ident: str) -> ResourceUse:
    return ResourceUse(ItemRef(kind, ident), Access.WRITE, "item")


def r(kind: str, ident: str) -> ResourceUse:
    return ResourceUse(ItemRef(kind, ident), Access.READ, "item")


IN_123 = {"file:1": ("0", "123")}


# -- the format --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('agents: {e: {acts_as: person, keys: ["sha256:' + "a" * 64 + '"]}}', "API key carries no person"),
        ("agents: {e: {acts_as: person, people: {}}}", "empty people selector"),
        ("agents: {e: {acts_as: person, clients: {ids: []}}}", "empty clients selector"),
        ("agents: {e: {people: {users: [1]}}}", "need acts_as: person"),
        ("default_agent: e\nagents: {e: {acts_as: person}}", "choose another default_agent"),
        ("agents: {e: {acts_as: person, people: {domains: [x]}}}", "is not a domain"),
        ("agents: {e: {acts_as: person, people: {logins: [ada]}}}", "not a Box login"),
        ("agents: {e: {acts_as: person, people: {user: [1]}}}", "unknown field"),
        (
            "agents: {e: {acts_as: person}}\nrules: [{id: x, effect: permit, agents: e, access: read, "
            "people: {}}]",
            "empty people selector",
        ),
        ("sign_in: {clients: [a], registration: maybe}", "sign_in.registration"),
    ],
)
def test_format_errors_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(PolicyError, match=says):
        policy_from_text(text)


def test_sign_in_defaults_to_everything_allowed_and_parses_its_lists() -> None:
    assert policy_from_text("agents: {}").sign_in == SignIn(
        clients=None, redirect_hosts=None, registration=True
    )
    p = policy_from_text("sign_in: {clients: [a], redirect_hosts: [Claude.AI], registration: false}")
    assert p.sign_in == SignIn(clients=("a",), redirect_hosts=("claude.ai",), registration=False)


# -- which agent a person connects as ---------------------------------------------------------------


def test_a_person_connects_as_the_first_declared_person_agent_that_matches(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine(TEAM)
    assert e.person_agents() == ["staff", "contractors", "anyone"]
    assert e.agent_for_person(person()) == "staff"  # domain, through claude.ai
    assert e.agent_for_person(person("x@dev.corp.example")) == "staff"  # *.corp.example
    assert e.agent_for_person(person("x@corp.example")) == "anyone"  # *. is subdomains only
    assert e.agent_for_person(person("x@other.example", groups=("777",))) == "staff"  # a group
    # the right people through another client: people and clients are AND-ed
    assert e.agent_for_person(person(redirect_host="evil.example")) == "anyone"
    assert e.agent_for_person(person("carl@vendor.example", redirect_host=None)) == "contractors"
    assert e.agent_for_person(person(None, box_user_id="555")) == "contractors"
    assert e.agent_for_person(person(None)) == "anyone"


def test_no_agent_when_no_person_agent_matches(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine("agents: {staff: {acts_as: person, people: {domains: [example.com]}}, bot: {}}")
    assert e.agent_for_person(person("eve@evil.example")) is None
    assert make_engine("agents: {bot: {}}").person_agents() == []


def test_merge_order_decides_between_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from box_mcp.policy.model import load_policy
    from box_mcp.policy.reference_tools import tools_for_policy

    (tmp_path / "a.yaml").write_text("agents: {first: {acts_as: person}}\n")
    (tmp_path / "b.yaml").write_text("agents: {second: {acts_as: person}}\nsign_in: {registration: false}\n")
    e = Engine(load_policy(tmp_path), tools_for_policy())
    assert e.agent_for_person(person()) == "first" and e.sign_in_rules().registration is False
    (tmp_path / "c.yaml").write_text("agents: {}\nsign_in: {registration: true}\n")
    with pytest.raises(PolicyError, match="sign_in is set differently"):
        load_policy(tmp_path)


# -- rules for some people ---------------------------------------------------------------------------


def test_a_rule_for_some_people_applies_only_to_them(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine(TEAM)
    assert decide(e, "staff", "delete_file", person(), w("file", "1"), anc=IN_123).rule_ids == ("writers",)
    # another domain, same agent (by group): the writers rule is not theirs
    other = person("x@other.example", groups=("777",))
    d = decide(e, "staff", "delete_file", other, w("file", "1"), anc=IN_123)
    assert d.effect == "deny" and "writers" not in d.rule_ids
    # the right person through another client id: clients AND-ed with people
    d = decide(e, "staff", "delete_file", person(client_id="other"), w("file", "1"), anc=IN_123)
    assert d.effect == "deny"


def test_a_forbid_for_one_person_beats_the_permit_for_them_only(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine(TEAM)
    bob = person("bob@example.com", box_user_id="30000000003")
    d = decide(e, "staff", "delete_file", bob, w("file", "1"), anc=IN_123)
    assert (d.effect, d.rule_ids) == ("deny", ("bob-no-deletes",))
    assert decide(e, "staff", "delete_file", person(), w("file", "1"), anc=IN_123).allowed
    assert decide(
        e, "staff", "create_folder", bob, w("folder", "123"), anc={"folder:123": ("0", "123")}
    ).allowed


def test_calls_without_a_person_never_match_person_rules(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine("""
agents: {bot: {}}
rules:
  - {id: read, effect: permit, agents: bot, access: read}
  - {id: for-ada, effect: permit, agents: bot, access: write, people: {logins: [ada@example.com]}}
  - {id: not-ada, effect: forbid, agents: bot, tools: [get_file_content], people: {logins: [ada@example.com]}}
""")
    d = decide(e, "bot", "delete_file", None, w("file", "1"))
    assert d.effect == "deny" and d.rule_ids == ()
    assert decide(e, "bot", "get_file_content", None, r("file", "1")).rule_ids == ("read",)
    assert "delete_file" not in e.visible_tools("bot") and "get_file_content" in e.visible_tools("bot")
    findings = [f.message for f in lint(e)]
    assert sum("none of its agents acts as a person" in m for m in findings) == 2


def test_a_person_agent_without_a_person_may_do_nothing(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine(TEAM)
    d = decide(e, "anyone", "get_file_content", None, r("file", "1"), anc={"file:1": ("0", "9")})
    assert d.effect == "deny" and "no signed-in person" in d.reason
    assert e.visible_tools("anyone") == frozenset()
    assert "get_file_content" in e.visible_tools("anyone", person())  # not the cached no-person answer
    plain = make_engine(
        "agents: {p: {acts_as: person}}\nrules: [{id: r, effect: permit, agents: p, access: read}]"
    )
    assert plain.visible_tools("p") == frozenset() and "get_file_content" in plain.visible_tools(
        "p", person()
    )
    assert decide(
        e, "anyone", "get_file_content", person(), r("file", "1"), anc={"file:1": ("0", "9")}
    ).allowed


def test_the_tools_list_follows_the_person(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine(TEAM)
    ada, other = person(), person("x@other.example", groups=("777",))
    assert "delete_file" in e.visible_tools("staff", ada)
    assert "delete_file" not in e.visible_tools("staff", other)  # only writers (ada's) permits it
    assert "get_file_content" in e.visible_tools("staff", other)
    assert e.visible_tools("staff", ada) == e.visible_tools(
        "staff", person(box_user_id="42")
    )  # cached by rules


def test_a_person_decision_stays_microseconds_fast(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine(TEAM)
    ada = person()
    req = DecisionRequest(
        "staff",
        "delete_file",
        (w("file", "1"),),
        CallFacts(),
        {ItemRef("file", "1"): ("0", "123")},
        person=ada,
    )
    e.decide(req)
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        e.decide(req)
    per_call = (time.perf_counter() - started) / n
    assert per_call < 100e-6, f"{per_call * 1e6:.1f} µs per decision"


def test_lint_names_person_agents_without_rules(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine("agents: {lonely: {acts_as: person}}")
    assert any("acts as each signed-in person, but no rule names it" in f.message for f in lint(e))


def test_a_forbid_for_some_people_does_not_shadow_a_grant_for_everyone(make_engine) -> None:  # type: ignore[no-untyped-def]
    e = make_engine("""
agents: {p: {acts_as: person}}
rules:
  - {id: read, effect: permit, agents: p, access: read}
  - {id: not-bob, effect: forbid, agents: p, people: {logins: [bob@example.com]}}
""")
    assert [f for f in lint(e) if f.level == "error"] == []


# -- sign_in -----------------------------------------------------------------------------------------


def test_client_allowed_names_the_setting_to_change() -> None:
    assert client_allowed(SignIn(), "anything", []) is None
    s = SignIn(clients=(CIMD,), redirect_hosts=("claude.ai",), registration=False)
    assert client_allowed(s, CIMD, ["https://claude.ai/api/mcp/auth_callback"]) is None
    assert "sign_in.clients" in (client_allowed(s, "other", ["https://claude.ai/cb"]) or "")
    why = client_allowed(s, CIMD, ["https://claude.ai/cb", "https://evil.example/cb"])
    assert why is not None and "evil.example" in why and "sign_in.redirect_hosts" in why
    assert "sign_in.redirect_hosts" in (client_allowed(s, CIMD, []) or "")
    assert client_allowed(SignIn(redirect_hosts=("claude.ai",)), "x", ["https://CLAUDE.ai./cb"]) is None
    assert "sign_in.registration" in (registration_allowed(s) or "")
    assert registration_allowed(SignIn()) is None


# -- per person: lookups, rate limits, cases ----------------------------------------------------------


@pytest.mark.anyio
async def test_item_lookups_are_cached_per_person() -> None:
    from box_mcp.policy.locate import Locator

    asked: list[tuple[str, str | None]] = []

    class Box:
        def __init__(self, who: str | None) -> None:
            self.who = who

        async def get(self, path: str, params: object = None) -> dict[str, object]:
            asked.append((path, self.who))
            parent = "9" if self.who == "30000000002" else "8"
            return {"name": "a.txt", "path_collection": {"entries": [{"id": "0"}, {"id": parent}]}}

    async def lookup(agent: str, p: Person | None) -> Box:
        return Box(p.box_user_id if p is not None else None)

    loc = Locator(lookup)  # type: ignore[arg-type]
    ada, bob = person(), person("bob@example.com", box_user_id="30000000003")
    f = ItemRef("file", "1")
    assert await loc.ancestry("p", f, ada) == ("0", "9")
    assert await loc.ancestry("p", f, bob) == ("0", "8")  # each person's own view of Box
    assert await loc.ancestry("p", f, ada) == ("0", "9")
    assert [who for _, who in asked] == ["30000000002", "30000000003"]


@pytest.mark.anyio
async def test_a_person_agents_rate_limits_hold_for_each_person(make_engine) -> None:  # type: ignore[no-untyped-def]
    from box_mcp.policy.decide import Decider
    from box_mcp.policy.locate import Locator

    class Store:
        def __init__(self, e: Engine) -> None:
            self.e = e

        def engine(self) -> Engine:
            return self.e

    e = make_engine("agents: {p: {acts_as: person, limits: {calls_per_minute: 1}}}\n")
    d = Decider(Store(e), Locator(None))  # type: ignore[arg-type]
    ada, bob = person(), person("bob@example.com", box_user_id="30000000003")
    assert await d.admit("p", None, ada) is None and await d.admit("p", None, bob) is None
    refusal = await d.admit("p", None, ada)
    assert refusal is not None and "Box user 30000000002" in refusal


def test_a_case_may_name_only_the_person(make_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from box_mcp.policy.cases import run_file

    (tmp_path / "p.yaml").write_text(TEAM)
    (tmp_path / "p.cases.yaml").write_text(
        "policy: p.yaml\ncases:\n"
        "  - name: ada writes in 123 through claude.ai\n"
        f"    person: {{box_user_id: 1, login: ada@example.com, client_id: '{CIMD}',\n"
        "              redirect_host: claude.ai}\n"
        "    tool: delete_file\n    uses: ['file:1']\n    ancestry: {'file:1': ['0', '123']}\n"
        "    expect: allow\n    rules: [writers]\n"
        "  - name: a stranger through another client connects as anyone, which reads only in 9\n"
        "    person: {login: eve@evil.example}\n    tool: get_file_content\n    uses: ['file:2']\n"
        "    ancestry: {'file:2': ['0', '5']}\n    expect: deny\n"
    )
    outcomes = run_file(tmp_path / "p.cases.yaml", lambda path: make_engine(path.read_text()))
    assert [o.problem for o in outcomes] == [None, None]
    one = make_engine("agents: {staff: {acts_as: person, people: {domains: [example.com]}}}")
    from box_mcp.policy.cases import Case, decide_case, request_for

    case = Case.model_validate(
        {"name": "x", "person": {"login": "eve@evil.example"}, "tool": "who_am_i", "expect": "deny"}
    )
    d = decide_case(one, request_for(one, case, None))
    assert d.effect == "deny" and "no acts_as: person agent admits eve@evil.example" in d.reason
