"""The guardrail conditions in the engine and their parts: `externally_shared` (fails closed when the
facts are unavailable, as a permit, a forbid, an approval, in `when` and in `unless`), the
`internal_domains` setting, the session memory of `first_destructive_in_session`, and the exposure
lookup against a scripted Box (paging, groups, invites, enterprises, failures)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from box_mcp.access import Access, CallFacts, Exposure, ItemRef, ResourceUse
from box_mcp.errors import BoxError, PolicyError
from box_mcp.events import SessionInfo
from box_mcp.identity import Person
from box_mcp.policy import exposure as exposure_module
from box_mcp.policy.cases import case_exposure
from box_mcp.policy.conditions import exposure_text
from box_mcp.policy.engine import DecisionRequest, Engine
from box_mcp.policy.exposure import ExposureFinder, targets
from box_mcp.policy.firsts import DestructiveMemory, session_key
from box_mcp.policy.locate import Locator
from box_mcp.policy.model import policy_from_text
from box_mcp.seams import Call
from box_mcp.tools.catalog import BY_NAME

pytestmark = pytest.mark.anyio

F5 = ItemRef("folder", "5")
UP = ResourceUse(F5, Access.WRITE, "parent")
ANC = {F5: ("0", "5")}
SHARED = Exposure(F5, True, "open shared link on it")
PRIVATE = Exposure(F5, False)
UNKNOWN = Exposure(F5, None, "Box did not answer for it (status 503)")


def _engine(make_engine: Callable[[str], Engine], rule: str) -> Engine:
    return make_engine(
        "agents: {a: {}}\nrules:\n"
        "  - {id: all, effect: permit, agents: a, access: write, tools: [upload_file]}\n" + rule
    )


def _decide(engine: Engine, exposure: Exposure | None, tool: str = "upload_file") -> Any:
    facts = CallFacts(name="x.txt", size_bytes=1, externally_shared=exposure)
    return engine.decide(DecisionRequest("a", tool, (UP,), facts, ANC))


@pytest.mark.parametrize(
    ("rule", "shared", "private", "unknown"),
    [
        # an approval when shared: applies when shared, and when it cannot tell
        (
            "{id: r, effect: require_approval, agents: a, when: {externally_shared: true}}",
            "ask",
            "allow",
            "ask",
        ),
        # ... written as `unless` not shared: the same
        (
            "{id: r, effect: require_approval, agents: a, unless: {externally_shared: false}}",
            "ask",
            "allow",
            "ask",
        ),
        # a forbid when shared
        ("{id: r, effect: forbid, agents: a, when: {externally_shared: true}}", "deny", "allow", "deny"),
        ("{id: r, effect: forbid, agents: a, unless: {externally_shared: false}}", "deny", "allow", "deny"),
    ],
)
def test_unavailable_facts_make_forbids_and_approvals_apply(
    make_engine, rule: str, shared: str, private: str, unknown: str
) -> None:
    e = _engine(make_engine, f"  - {rule}\n")
    word = {"allow": "allow", "deny": "deny", "ask": "approval_required"}
    assert _decide(e, SHARED).effect == word[shared]
    assert _decide(e, PRIVATE).effect == word[private]
    d = _decide(e, UNKNOWN)
    assert d.effect == word[unknown]
    assert "sharing of folder 5 unknown (the facts were unavailable: Box did not answer for it" in d.reason


@pytest.mark.parametrize("written", ["when: {externally_shared: false}", "unless: {externally_shared: true}"])
def test_a_permit_that_depends_on_unavailable_facts_does_not_apply(make_engine, written: str) -> None:
    e = make_engine(
        "agents: {a: {}}\nrules:\n"
        f"  - {{id: private, effect: permit, agents: a, tools: [upload_file], {written}}}\n"
    )
    assert _decide(e, PRIVATE).allowed
    assert not _decide(e, SHARED).allowed
    d = _decide(e, UNKNOWN)
    assert not d.allowed and "grant 'private'" in d.reason and "facts were unavailable" in d.reason
    assert "does not apply to these arguments" not in d.reason


def test_a_call_on_no_item_is_not_externally_shared_nor_refused_for_it(make_engine) -> None:
    e = make_engine(
        "agents: {a: {}}\nrules:\n"
        "  - {id: all, effect: permit, agents: a, access: read}\n"
        "  - {id: r, effect: forbid, agents: a, when: {externally_shared: true}}\n"
    )
    assert e.decide(DecisionRequest("a", "who_am_i")).allowed
    assert e.tests("a", "who_am_i", "externally_shared")


def test_first_destructive_in_session_true_and_false(make_engine) -> None:
    e = make_engine(
        "agents: {a: {}}\nrules:\n"
        "  - {id: all, effect: permit, agents: a, access: write}\n"
        "  - {id: first, effect: require_approval, agents: a, when: {first_destructive_in_session: true}}\n"
        "  - {id: later, effect: forbid, agents: a, tools: [delete_folder],\n"
        "     when: {first_destructive_in_session: false}}\n"
    )
    use = (ResourceUse(ItemRef("file", "9"), Access.WRITE),)

    def decide(tool: str, first: bool) -> Any:
        return e.decide(DecisionRequest("a", tool, use, CallFacts(first_destructive_in_session=first)))

    d = decide("delete_file", True)
    assert d.effect == "approval_required" and "with no destructive call yet in this session" in d.reason
    assert decide("delete_file", False).allowed
    d = decide("delete_folder", False)
    assert d.effect == "deny" and "a destructive call already made in this session" in d.reason


def test_internal_domains_are_checked_and_merged_from_one_file() -> None:
    p = policy_from_text("internal_domains: [Acme.Example., '*.acme.example', '@corp.example']\nagents: {}\n")
    assert p.internal_domains == ("acme.example", "*.acme.example", "corp.example")
    assert policy_from_text("internal_domains: acme.example\nagents: {}\n").internal_domains == (
        "acme.example",
    )
    with pytest.raises(PolicyError, match=r"<policy>:1: internal_domains: 'acme' is not a domain"):
        policy_from_text("internal_domains: [acme]\nagents: {}\n")
    from box_mcp.policy.model import merge, parse_file
    from box_mcp.policy.yamlsrc import load_text

    one = parse_file(load_text("internal_domains: [a.example]\n", "one.yaml"))
    two = parse_file(load_text("internal_domains: [b.example]\n", "two.yaml"))
    same = parse_file(load_text("internal_domains: [a.example]\n", "three.yaml"))
    with pytest.raises(PolicyError, match=r"two\.yaml: internal_domains is set differently in two files"):
        merge([one, two], ["one.yaml", "two.yaml"])
    assert merge([one, same], ["one.yaml", "three.yaml"]).internal_domains == ("a.example",)


def test_cases_state_the_fact_in_words() -> None:
    uses = (ResourceUse(ItemRef("file", "1"), Access.READ, "source"), UP)
    assert case_exposure(True, uses) == Exposure(F5, True, "as given")
    assert case_exposure("unavailable", ()).shared is None
    assert case_exposure(False, uses).shared is False
    with pytest.raises(PolicyError, match="externally_shared is true, false or unavailable, not 'maybe'"):
        case_exposure("maybe", uses)
    assert exposure_text(Exposure(None, True)) == "the item externally shared"


def test_targets_are_the_destination_else_the_items_acted_on() -> None:
    src = ResourceUse(ItemRef("file", "1"), Access.READ, "source")
    dst = ResourceUse(F5, Access.WRITE, "destination")
    item = ResourceUse(ItemRef("file", "2"), Access.WRITE)
    collab = ResourceUse(ItemRef("collaboration", "7"), Access.ADMIN)
    assert targets((src, dst), {}) == [F5]
    assert targets((item,), {}) == [ItemRef("file", "2")]
    assert targets((collab,), {ItemRef("collaboration", "7"): F5}) == [F5]
    assert targets((collab,), {}) == [ItemRef("collaboration", "7")]  # find() looks its item up
    assert targets((ResourceUse(F5, Access.READ, "scope"),), {}) == []


# -- the session memory ------------------------------------------------------------------------------


def _call(
    tool: str = "delete_file", session: SessionInfo | None = None, person: Person | None = None
) -> Call:
    spec = BY_NAME[tool]
    raw = {"parent_folder_id": "1", "name": "x"} if tool == "create_folder" else {"file_id": "1"}
    args = spec.input_model.model_validate(raw)
    return Call("c", "bot", spec, args, (), CallFacts(), "http", session, person=person)


def test_session_keys() -> None:
    person = Person(box_user_id="7", client_id="https://client.example/meta", client_name="Spoofable")
    assert session_key(_call(session=SessionInfo("s1"))) == ("session", "bot", "", "s1")
    assert session_key(_call(session=SessionInfo("s1"), person=person)) == ("session", "bot", "7", "s1")
    # Stateless: the verified OAuth client for a person, else the client's own name.
    assert session_key(_call(session=SessionInfo(None, "claude"), person=person)) == (
        "client",
        "bot",
        "7",
        "https://client.example/meta",
    )
    assert session_key(_call(session=SessionInfo(None, "claude"))) == ("client", "bot", "", "claude")
    assert session_key(_call()) == ("client", "bot", "", "")


def test_memory_counts_only_destructive_successes_and_forgets_idle_and_old_sessions() -> None:
    now = [0.0]
    memory = DestructiveMemory(idle=60, max_sessions=2, clock=lambda: now[0])
    a, b, c = (_call(session=SessionInfo(s)) for s in ("a", "b", "c"))
    assert memory.first(a)
    memory.succeeded(_call("create_folder", session=SessionInfo("a")))  # not destructive: no mark
    assert memory.first(a) and len(memory) == 0
    assert not memory.first(_call("get_file_details", session=SessionInfo("a")))  # never "first"
    memory.succeeded(a)
    assert not memory.first(a) and memory.first(b)
    now[0] = 59.0
    assert not memory.first(a)
    now[0] = 60.0
    assert memory.first(a) and len(memory) == 0  # idle for a minute: asks again
    for call in (a, b, c):
        memory.succeeded(call)
    assert len(memory) == 2 and memory.first(a) and not memory.first(c)  # the oldest is dropped
    with pytest.raises(ValueError, match="max_sessions"):
        DestructiveMemory(max_sessions=0)


# -- the exposure lookup, against a scripted Box ---------------------------------------------------------


class ScriptedBox:
    """GET answers by path (a dict, or an int status to fail with); records what was asked."""

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.fields: list[str] = []

    async def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        marker = (params or {}).get("marker")
        key = f"{path}?marker={marker}" if marker else path
        self.asked.append(key)
        self.fields.append(str((params or {}).get("fields")))
        answer = self.answers.get(key, 404)
        if isinstance(answer, int):
            exc = BoxError(f"Box said {answer}")
            exc.status = answer  # type: ignore[attr-defined]
            raise exc
        return answer


def _folder(fid: str, path: list[str], link: str | None = None, collabs: bool = False) -> dict[str, Any]:
    return {
        "type": "folder",
        "id": fid,
        "name": f"F{fid}",
        "shared_link": {"access": link} if link else None,
        "has_collaborations": collabs,
        "path_collection": {"entries": [{"id": p, "name": f"F{p}"} for p in path]},
    }


def _finder(box: Any) -> ExposureFinder:
    async def lookup(agent: str, person: Any = None) -> Any:
        return box

    return ExposureFinder(Locator(lookup))


def _everyone(ref: ItemRef, anc: tuple[str, ...]) -> bool:
    return True


async def _find(box: ScriptedBox, items: list[ItemRef], internal: tuple[str, ...] = ()) -> Exposure | None:
    return await _finder(box).find("a", None, items, internal, _everyone)


def _collabs(*entries: dict[str, Any], next_marker: str | None = None) -> dict[str, Any]:
    return {"entries": list(entries), "next_marker": next_marker}


def _user(uid: str, login: str = "x@partner.example") -> dict[str, Any]:
    return {"accessible_by": {"type": "user", "id": uid, "login": login}, "status": "accepted"}


async def test_groups_rejected_invites_and_internal_logins_are_not_external() -> None:
    box = ScriptedBox(
        {
            "/folders/5": _folder("5", ["0"], collabs=True),
            "/folders/5/collaborations": _collabs(
                {"accessible_by": {"type": "group", "id": "9"}, "status": "accepted"},
                _user("1", "x@partner.example") | {"status": "rejected"},
                _user("2", "ann@eu.acme.example"),
            ),
        }
    )
    found = await _find(box, [F5], ("*.acme.example",))
    assert found == Exposure(F5, False)
    box.answers["/folders/5/collaborations"]["entries"].append(
        {"accessible_by": {"type": "user", "id": "", "login": ""}, "invite_email": None, "status": "pending"}
    )
    found = await _find(box, [F5], ("*.acme.example",))
    assert found is not None and found.shared and "collaborator outside" in found.why


async def test_collaborations_are_read_page_by_page_and_a_bound_fails_closed(monkeypatch) -> None:
    box = ScriptedBox(
        {
            "/folders/5": _folder("5", ["0"], collabs=True),
            "/folders/5/collaborations": _collabs(_user("2", "a@acme.example"), next_marker="m2"),
            "/folders/5/collaborations?marker=m2": _collabs(_user("3", "b@partner.example")),
        }
    )
    found = await _find(box, [F5], ("acme.example",))
    assert found is not None and found.shared and box.asked[-1].endswith("marker=m2")
    monkeypatch.setattr(exposure_module, "MAX_COLLAB_PAGES", 1)
    found = await _find(box, [F5], ("acme.example",))
    assert found is not None and found.shared is None and "more collaborators than" in found.why


async def test_by_enterprise_users_are_asked_once_and_unknown_enterprises_fail_closed() -> None:
    box = ScriptedBox(
        {
            "/folders/5": _folder("5", ["0"], collabs=True),
            "/folders/5/collaborations": _collabs(_user("2", "a@acme.example")),
            "/users/me": {"enterprise": {"id": "77"}},
            "/users/2": {"enterprise": {"id": 77}},
        }
    )
    finder = _finder(box)
    assert (await finder.find("a", None, [F5], (), _everyone)) == Exposure(F5, False)
    assert (await finder.find("a", None, [F5], (), _everyone)) == Exposure(F5, False)
    assert box.asked.count("/users/2") == 1 and box.asked.count("/users/me") == 1
    box.answers["/users/me"] = {"enterprise": None}  # a free account: no enterprise to be inside of
    found = await _find(box, [F5])
    assert found is not None and found.shared is None and "which enterprise" in found.why
    box.answers["/users/me"] = 503
    found = await _find(box, [F5])
    assert found is not None and found.shared is None and "(status 503)" in found.why


async def test_links_on_the_item_and_above_and_what_each_says() -> None:
    f6 = ItemRef("folder", "6")
    box = ScriptedBox(
        {
            "/folders/6": _folder("6", ["0", "5"]),
            "/folders/5": _folder("5", ["0"], link="company") | {"shared_link": {"effective_access": "open"}},
            "/web_links/8": {
                "name": "w",
                "shared_link": {"access": "open"},
                "path_collection": {"entries": []},
            },
            "/files/9": {
                "name": "f",
                "has_collaborations": False,
                "path_collection": {"entries": [{"id": "0"}, {"id": "5"}, {"id": "6"}]},
            },
        }
    )
    found = await _find(box, [f6])
    assert found == Exposure(f6, True, "open shared link on folder 5 'F5'")
    found = await _find(box, [ItemRef("web_link", "8")])
    assert found is not None and found.why == "open shared link on it"
    assert box.fields[-1] == "name,shared_link,path_collection"  # Box refuses has_collaborations there
    # Two items under the same folders: each folder is read once per call.
    box.answers["/folders/5"] = _folder("5", ["0"])
    box.asked.clear()
    found = await _find(box, [ItemRef("file", "9"), f6])
    assert found == Exposure(ItemRef("file", "9"), False)
    assert box.asked == ["/files/9", "/folders/6", "/folders/5"]
    assert await _find(box, [ItemRef("folder", "0")]) == Exposure(ItemRef("folder", "0"), False)
    assert await _find(box, []) is None


async def test_what_cannot_be_read_is_unavailable_but_a_shared_item_still_counts() -> None:
    box = ScriptedBox({"/folders/5": _folder("5", ["0"], link="open"), "/folders/6": ["not", "an object"]})
    f6 = ItemRef("folder", "6")
    found = await _find(box, [f6, F5])
    assert found is not None and found.shared is True and found.item == F5  # shared beats unknown
    found = await _find(box, [f6])
    assert found == Exposure(f6, None, "Box's answer for it was not an object")
    box.answers["/folders/6"] = {"name": "no path"}
    found = await _find(box, [f6])
    assert found is not None and "did not say where it sits" in found.why
    nobody = ExposureFinder(Locator(None))
    found = await nobody.find("a", None, [F5], (), _everyone)
    assert found is not None and found.shared is None and "no lookup identity" in found.why


async def test_names_from_box_are_cleaned_and_cut() -> None:
    long = "Q\x1b[31m" + "x" * 200
    box = ScriptedBox(
        {
            "/folders/6": _folder("6", ["0", "5"])
            | {"path_collection": {"entries": [{"id": "5", "name": long}]}},
            "/folders/5": _folder("5", ["0"], link="open"),
        }
    )
    found = await _find(box, [ItemRef("folder", "6")])
    assert found is not None and "\x1b" not in found.why and len(found.why) < 120 and "…" in found.why


async def test_two_files_in_one_folder_read_the_folders_above_once() -> None:
    def file(fid: str) -> dict[str, Any]:
        path = {"entries": [{"id": "0"}, {"id": "5"}, {"id": "6"}]}
        return {"name": fid, "has_collaborations": False, "path_collection": path}

    box = ScriptedBox(
        {
            "/files/9": file("9"),
            "/files/10": file("10"),
            "/folders/6": _folder("6", ["0", "5"]),
            "/folders/5": _folder("5", ["0"]),
        }
    )
    found = await _find(box, [ItemRef("file", "9"), ItemRef("file", "10")])
    assert found == Exposure(ItemRef("file", "9"), False)
    assert box.asked == ["/files/9", "/folders/6", "/folders/5", "/files/10"]


async def test_an_invite_without_an_account_is_outside_and_a_list_without_entries_is_unavailable() -> None:
    pending = {"accessible_by": {"type": "user", "id": "", "login": ""}, "status": "pending"}
    box = ScriptedBox(
        {"/folders/5": _folder("5", ["0"], collabs=True), "/folders/5/collaborations": _collabs(pending)}
    )
    found = await _find(box, [F5])
    assert found is not None and found.shared is True  # no Box account: not in the enterprise
    assert not [a for a in box.asked if a.startswith("/users/")]
    box.answers["/folders/5/collaborations"] = {"total_count": 0}
    found = await _find(box, [F5])
    assert found is not None and found.shared is None and "had no entries" in found.why


async def test_the_enterprise_cache_is_bounded_and_ages_out() -> None:
    now = [0.0]
    users = {f"/users/{i}": {"enterprise": {"id": "77"}} for i in range(3)}
    box = ScriptedBox({"/users/me": {"enterprise": {"id": "77"}}, **users})

    async def lookup(agent: str, person: Any = None) -> Any:
        return box

    finder = ExposureFinder(Locator(lookup), max_users=2, max_age=10, clock=lambda: now[0])
    for i in range(3):
        assert await finder._enterprise("a", None, box, str(i), "it") == "77"
    assert len(finder._enterprises) == 2
    now[0] = 11.0
    box.asked.clear()
    await finder._enterprise("a", None, box, "2", "it")
    assert box.asked == ["/users/2"]


def test_policy_check_says_a_first_destructive_rule_on_tools_that_destroy_nothing_never_applies() -> None:
    from box_mcp.policy.lint import lint
    from box_mcp.policy.reference_tools import tools_for_policy

    text = (
        "agents: {a: {}}\nrules:\n"
        "  - {id: all, effect: permit, agents: a, access: write}\n"
        "  - {id: never, effect: require_approval, agents: a, tools: [create_folder, upload_file],\n"
        "     when: {first_destructive_in_session: true}}\n"
        "  - {id: fine, effect: require_approval, agents: a, toolsets: [files],\n"
        "     when: {first_destructive_in_session: true}}\n"
    )
    engine = Engine(policy_from_text(text), tools_for_policy())
    findings = [str(f) for f in lint(engine) if "first_destructive_in_session" in f.message]
    assert findings == [
        "<policy>:4: error: require_approval 'never' tests first_destructive_in_session: true, but none of "
        "the tools it names is destructive, so it never applies"
    ]


async def test_a_collaboration_stands_for_the_item_it_is_on() -> None:
    box = ScriptedBox(
        {
            "/collaborations/7": {"item": {"type": "folder", "id": "5"}},
            "/collaborations/8": {"item": {"type": "app_item", "id": "1"}},
            "/folders/5": _folder("5", ["0"], link="open"),
        }
    )
    found = await _find(box, [ItemRef("collaboration", "7")])
    assert found == Exposure(F5, True, "open shared link on it")
    found = await _find(box, [ItemRef("collaboration", "9")])  # Box has no such collaboration
    assert found is not None and found.shared is None and "could not be looked up" in found.why
    found = await _find(box, [ItemRef("collaboration", "8")])
    assert found is not None and found.shared is None and "of type app_item" in found.why


def test_explain_states_the_facts_and_refuses_bad_ones(capsys) -> None:
    from pathlib import Path

    from box_mcp.cli import main

    example = Path(__file__).resolve().parents[2] / "policies" / "examples" / "box-guardrails.yaml"
    base = ["policy", "explain", "--policy", str(example), "--agent", "assistant", "--tool", "delete_file"]
    base += ["--args", '{"file_id": "5"}']
    assert main([*base, "--facts", '{"first_destructive_in_session": true}']) == 0
    out = capsys.readouterr().out
    assert "effect: approval_required" in out and "rules:  confirm-first-destructive" in out
    assert main([*base, "--facts", '{"first_destructive_in_session": "yes"}']) == 2
    assert "first_destructive_in_session is true or false" in capsys.readouterr().err
    upload = [
        "--tool",
        "upload_file",
        "--args",
        '{"parent_folder_id": "7", "name": "a", "content_text": "x"}',
    ]
    argv = [*base[:6], *upload, "--facts", '{"externally_shared": "unavailable"}']
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "sharing of folder 7 unknown (the facts were unavailable: as given)" in out
    assert '"externally_shared": "unavailable"' in out
