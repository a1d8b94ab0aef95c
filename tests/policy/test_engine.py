"""Decisions: Cedar semantics, confinement by folder subtree and item, and every argument condition."""

from __future__ import annotations

import hashlib

import pytest

from box_mcp.errors import PolicyError

BOT = """
agents:
  bot: {description: contracts bot}
  other: {}
rules:
  - id: contracts-read
    effect: permit
    agents: [bot]
    access: read
    within: [100]
  - id: inbox
    effect: permit
    agents: [bot]
    access: write
    toolsets: [files, folders]
    within: [456]
"""

ANC = {
    "file:1": ("0", "100", "456"),  # in Contracts/Inbox
    "file:2": ("0", "100"),  # in Contracts
    "file:3": ("0", "999"),  # outside
    "folder:456": ("0", "100", "456"),
    "folder:100": ("0", "100"),
    "folder:999": ("0", "999"),
}


def test_unknown_agent_is_denied(make_engine, ask, use):
    d = ask(make_engine(BOT), "nobody", "get_file_details", use("file", "1"), ancestry=ANC)
    assert d.effect == "deny" and "not an agent" in d.reason


def test_default_deny_when_no_rule_names_the_agent(make_engine, ask, use):
    d = ask(make_engine(BOT), "other", "get_file_details", use("file", "1"), ancestry=ANC)
    assert d.effect == "deny" and d.rule_ids == ()
    assert "holds no grant for get_file_details" in d.reason


def test_read_inside_subtree_is_allowed_and_names_the_rule(make_engine, ask, use):
    d = ask(make_engine(BOT), "bot", "get_file_details", use("file", "2"), ancestry=ANC)
    assert d.allowed and d.rule_ids == ("contracts-read",)


def test_read_outside_subtree_is_denied(make_engine, ask, use):
    d = ask(make_engine(BOT), "bot", "get_file_details", use("file", "3"), ancestry=ANC)
    assert not d.allowed
    assert "outside bot's read grants" in d.reason and "'contracts-read' (folder 100 and below)" in d.reason


def test_confined_agent_cannot_move_file_out_of_its_folder(make_engine, ask, use):
    d = ask(
        make_engine(BOT),
        "bot",
        "move_file",
        use("file", "1", "write", "source"),
        use("folder", "999", "write", "destination"),
        ancestry=ANC,
    )
    assert d.effect == "deny"
    assert d.reason == (
        "move_file puts file 1 into folder 999, outside bot's write grant 'inbox' (folder 456 and below)."
    )


def test_move_within_the_write_grant_is_allowed(make_engine, ask, use):
    d = ask(
        make_engine(BOT),
        "bot",
        "move_file",
        use("file", "1", "write", "source"),
        use("folder", "456", "write", "destination"),
        ancestry=ANC,
    )
    assert d.allowed and d.rule_ids == ("inbox",)


def test_copy_needs_read_at_source_and_write_at_destination(make_engine, ask, use):
    e = make_engine(BOT)
    ok = ask(
        e,
        "bot",
        "copy_file",
        use("file", "2", "read", "source"),
        use("folder", "456", "write", "destination"),
        ancestry=ANC,
    )
    assert ok.allowed and ok.rule_ids == ("contracts-read", "inbox")
    bad = ask(
        e,
        "bot",
        "copy_file",
        use("file", "2", "read", "source"),
        use("folder", "100", "write", "destination"),
        ancestry=ANC,
    )
    assert not bad.allowed and "needs write access" in bad.reason and "gives only read" in bad.reason


def test_write_in_read_only_area_says_access_is_too_low(make_engine, ask, use):
    d = ask(make_engine(BOT), "bot", "delete_file", use("file", "2", "write"), ancestry=ANC)
    assert (
        not d.allowed
        and "needs write access; bot's grant 'contracts-read' gives only read access" in d.reason
    )


def test_unknown_ancestry_fails_closed(make_engine, ask, use):
    d = ask(make_engine(BOT), "bot", "get_file_details", use("file", "77"), ancestry=ANC)
    assert not d.allowed and "unknown" in d.reason


def test_forbid_beats_permit(make_engine, ask, use):
    e = make_engine(
        BOT
        + """
  - id: no-deletes
    effect: forbid
    agents: "*"
    tools: [delete_file]
"""
    )
    d = ask(e, "bot", "delete_file", use("file", "1", "write"), ancestry=ANC)
    assert d.effect == "deny" and d.rule_ids == ("no-deletes",)
    assert "rule 'no-deletes' forbids this for bot anywhere" in d.reason


def test_scoped_forbid_with_unknown_ancestry_denies(make_engine, ask, use):
    e = make_engine("""
agents: {a: {}}
rules:
  - {id: all, effect: permit, agents: a, access: read}
  - {id: not-hr, effect: forbid, agents: a, within: [5]}
""")
    assert not ask(e, "a", "get_file_details", use("file", "9")).allowed
    assert ask(e, "a", "get_file_details", use("file", "9"), ancestry={"file:9": ("0", "6")}).allowed
    d = ask(e, "a", "get_file_details", use("file", "9"), ancestry={"file:9": ("0", "5", "7")})
    assert d.rule_ids == ("not-hr",)


def test_forbid_with_access_floor_only_blocks_stronger_uses(make_engine, ask, use):
    e = make_engine("""
agents: {a: {}}
rules:
  - {id: all, effect: permit, agents: a, access: admin}
  - {id: read-only, effect: forbid, agents: a, access: write}
""")
    assert ask(e, "a", "get_file_details", use("file", "9"), ancestry={"file:9": ("0",)}).allowed
    assert not ask(e, "a", "delete_file", use("file", "9", "write"), ancestry={"file:9": ("0",)}).allowed
    assert "delete_file" not in e.visible_tools("a") and "get_file_details" in e.visible_tools("a")


def test_require_approval_beats_permit_but_not_forbid(make_engine, ask, use):
    base = """
agents: {a: {}}
rules:
  - {id: all, effect: permit, agents: a, access: write}
  - {id: ask-first, effect: require_approval, agents: a, tools: [delete_file]}
"""
    e = make_engine(base)
    d = ask(e, "a", "delete_file", use("file", "9", "write"), ancestry={"file:9": ("0",)})
    assert d.effect == "approval_required" and d.rule_ids == ("ask-first",)
    assert "requires a person to approve" in d.reason and "approved by the person at the client" in d.reason
    assert "not available" not in d.reason and d.approval is not None and d.approval.by == ("caller",)
    e2 = make_engine(base + "  - {id: never, effect: forbid, agents: a, tools: [delete_file]}\n")
    d2 = ask(e2, "a", "delete_file", use("file", "9", "write"), ancestry={"file:9": ("0",)})
    assert d2.effect == "deny" and d2.rule_ids == ("never",)


def test_approval_does_not_grant_a_call_no_permit_covers(make_engine, ask, use):
    e = make_engine("""
agents: {a: {}}
rules:
  - {id: reads, effect: permit, agents: a, access: read}
  - {id: ask-first, effect: require_approval, agents: a, tools: [delete_file]}
""")
    assert ask(e, "a", "delete_file", use("file", "9", "write"), ancestry={"file:9": ("0",)}).effect == "deny"


def test_single_item_grant_covers_only_that_item(make_engine, ask, use):
    e = make_engine("""
agents: {a: {}}
rules:
  - {id: one, effect: permit, agents: a, access: read, items: ["file:12"]}
""")
    assert ask(e, "a", "get_file_details", use("file", "12")).allowed
    d = ask(e, "a", "get_file_details", use("file", "13"), ancestry={"file:13": ("0",)})
    assert not d.allowed and "(file 12)" in d.reason


def test_tool_without_items_needs_a_grant_of_that_tool(make_engine, ask):
    e = make_engine(BOT)
    assert ask(e, "bot", "who_am_i").allowed  # a confined read grant of every tool
    assert not ask(e, "other", "who_am_i").allowed


def test_visible_tools_and_roots(make_engine):
    e = make_engine(BOT)
    visible = e.visible_tools("bot")
    assert {"get_file_details", "move_file", "create_folder", "search_files_keyword"} <= visible
    assert "add_file_shared_link" not in visible and "set_file_metadata" not in visible
    assert e.visible_tools("other") == frozenset()
    assert e.roots("bot", "search_files_keyword") == ("100",)
    assert e.roots("bot", "move_file") == ("100", "456")
    unconfined = make_engine(
        "agents: {a: {}}\nrules:\n  - {id: r, effect: permit, agents: a, access: read}\n"
    )
    assert unconfined.roots("a", "search_files_keyword") is None


def test_can_see_filters_results_by_ancestry_and_forbids(make_engine):
    e = make_engine(
        BOT
        + """
  - {id: hide-secret, effect: forbid, agents: bot, within: [101]}
  - {id: hide-file, effect: forbid, agents: bot, items: ["file:55"]}
"""
    )
    assert e.can_see("bot", "search_files_keyword", ("0", "100", "7"))
    assert not e.can_see("bot", "search_files_keyword", ("0", "999"))
    assert not e.can_see("bot", "search_files_keyword", ("0", "100", "101", "8"))
    from box_mcp.access import ItemRef

    assert not e.can_see("bot", "search_files_keyword", ("0", "100"), item=ItemRef("file", "55"))
    assert not e.can_see("nobody", "search_files_keyword", ("0", "100"))


def test_agent_for_key_matches_only_the_stored_hash(make_engine):
    key = "bmcp_test_key"
    digest = hashlib.sha256(key.encode()).hexdigest()
    e = make_engine(f"agents:\n  a: {{keys: ['sha256:{digest.upper()}']}}\n  b: {{}}\nrules: []\n")
    assert e.agent_for_key(key) == "a"
    assert e.agent_for_key(key + "x") is None
    assert e.agent_for_key("") is None


def test_two_agents_sharing_a_key_is_an_error(make_engine):
    digest = "sha256:" + "ab" * 32
    with pytest.raises(PolicyError, match="share an API key"):
        make_engine(f"agents:\n  a: {{keys: ['{digest}']}}\n  b: {{keys: ['{digest}']}}\n")


def test_unknown_tool_or_toolset_is_an_error_with_a_suggestion(make_engine):
    with pytest.raises(
        PolicyError, match=r"unknown tool 'get_file_detail' \(did you mean 'get_file_details'\?\)"
    ):
        make_engine(
            "agents: {a: {}}\nrules:\n  - {id: r, effect: permit, agents: a, tools: [get_file_detail]}\n"
        )
    with pytest.raises(PolicyError, match="unknown toolset 'filez'"):
        make_engine("agents: {a: {}}\nrules:\n  - {id: r, effect: permit, agents: a, toolsets: [filez]}\n")


def test_permit_without_tools_or_access_is_an_error(make_engine):
    with pytest.raises(PolicyError, match="names no tools, toolsets or access level"):
        make_engine("agents: {a: {}}\nrules:\n  - {id: r, effect: permit, agents: a}\n")


def test_permit_naming_tools_grants_the_access_they_need(make_engine, ask, use):
    e = make_engine("agents: {a: {}}\nrules:\n  - {id: r, effect: permit, agents: a, tools: [delete_file]}\n")
    assert ask(e, "a", "delete_file", use("file", "1", "write"), ancestry={"file:1": ("0",)}).allowed
    assert not ask(e, "a", "get_file_details", use("file", "1"), ancestry={"file:1": ("0",)}).allowed


def test_the_engine_says_which_call_values_a_pair_s_rules_test(make_engine):
    engine = make_engine(
        "agents: {bot: {}, free: {}}\nrules:\n"
        "  - {id: all, effect: permit, agents: [bot, free], access: admin}\n"
        "  - {id: pdf, effect: forbid, agents: bot, tools: [copy_file], unless: {file_extensions: [pdf]}}\n"
    )
    assert engine.tests("bot", "copy_file", "name_patterns", "file_extensions")
    assert not engine.tests("bot", "move_file", "name_patterns", "file_extensions")
    assert not engine.tests("free", "copy_file", "file_extensions")
    assert not engine.tests("bot", "copy_file", "invitee_domains")
    assert not engine.tests("nobody", "copy_file", "file_extensions")
