"""Policy files: bad input gets an error naming the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from box_mcp.errors import PolicyError
from box_mcp.policy import yamlsrc
from box_mcp.policy.model import AsUser, UserGrant, load_policy


def write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return str(info.value)


def test_a_good_file_loads_agents_identities_and_rules(tmp_path):
    p = write(
        tmp_path,
        """
default_agent: bot
agents:
  bot:
    description: Contracts bot
    acts_as: {as_user: 1234}
    keys: ["sha256:%s"]
    limits: {calls_per_minute: 60, writes_per_minute: 10}
  me: {acts_as: {user_grant: alice}}
  svc: {acts_as: service_account}
rules:
  - id: r
    effect: permit
    agents: bot
    access: read
    within: 100
    items: [file:5]
"""
        % ("a" * 64),
    )
    policy = load_policy(p)
    assert policy.default_agent == "bot"
    assert policy.agents["bot"].acts_as == AsUser(as_user="1234")
    assert policy.agents["me"].acts_as == UserGrant(user_grant="alice")
    assert policy.agents["svc"].acts_as == "service_account"
    assert policy.agents["bot"].limits.writes_per_minute == 10
    rule = policy.rules[0]
    assert rule.agents == ("bot",) and rule.within == ("100",) and rule.origin == f"{p}:12"


def test_yaml_syntax_error_names_the_line(tmp_path):
    p = write(tmp_path, "agents:\n  a: {}\nrules:\n  - id: [unclosed\n")
    assert error_of(p).startswith(f"{p}:5: YAML syntax error")


def test_unknown_field_names_the_line_and_rule(tmp_path):
    p = write(
        tmp_path, "agents: {a: {}}\nrules:\n  - id: r1\n    effect: permit\n    agents: a\n    acess: read\n"
    )
    msg = error_of(p)
    assert f"{p}:6: rule 'r1': acess: unknown field" in msg


def test_wrong_types_are_explained(tmp_path):
    p = write(tmp_path, "agents:\n  a:\n    limits: {calls_per_minute: lots}\nrules: []\n")
    assert f"{p}:3: agents.a.limits.calls_per_minute:" in error_of(p)
    p2 = write(tmp_path, "agents: {a: {acts_as: {as_usr: 5}}}\n", "q.yaml")
    assert "acts_as is one of: service_account" in error_of(p2)
    p3 = write(tmp_path, "- just\n- a list\n", "r.yaml")
    assert "a policy file is a mapping" in error_of(p3)


def test_aliases_are_refused_so_alias_bombs_cannot_expand(tmp_path):
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b]\n'
    p = write(tmp_path, bomb)
    assert f"{p}:2: YAML aliases (*a) are not allowed" in error_of(p)


def test_merge_keys_and_duplicate_keys_are_refused(tmp_path):
    p = write(tmp_path, "agents:\n  a: {}\n  a: {}\n")
    assert f"{p}:3: duplicate key 'a'" in error_of(p)
    p2 = write(tmp_path, "agents:\n  a: {<<: {description: x}}\n", "m.yaml")
    assert "merge keys" in error_of(p2)


def test_huge_files_are_refused_before_parsing(tmp_path, monkeypatch):
    monkeypatch.setattr(yamlsrc, "MAX_FILE_BYTES", 1000)
    p = write(tmp_path, "agents: {}\n# " + "x" * 2000 + "\n")
    assert "over the 1000-byte limit" in error_of(p)


def test_deep_nesting_is_refused(tmp_path):
    p = write(tmp_path, "a: " + "[" * 60 + "]" * 60 + "\n")
    assert "nesting is deeper than" in error_of(p)


def test_duplicate_rule_ids_across_files_and_unknown_agents(tmp_path):
    write(
        tmp_path, "agents: {a: {}}\nrules:\n  - {id: r, effect: permit, agents: a, access: read}\n", "1.yaml"
    )
    write(tmp_path, "rules:\n  - {id: r, effect: permit, agents: ghost, access: read}\n", "2.yaml")
    msg = error_of(tmp_path)
    assert f"{tmp_path / '2.yaml'}:2: rule id 'r' is already used at {tmp_path / '1.yaml'}:3" in msg
    assert "names unknown agent 'ghost'" in msg


def test_directory_skips_case_files_and_rejects_empty_dirs(tmp_path):
    write(tmp_path, "agents: {a: {}}\n", "p.yaml")
    write(tmp_path, "cases: [}", "p.cases.yaml")
    assert list(load_policy(tmp_path).agents) == ["a"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no policy files" in error_of(empty)
    assert "no such policy file" in error_of(tmp_path / "missing.yaml")


def test_bad_ids_and_keys_are_refused(tmp_path):
    p = write(
        tmp_path, "agents: {a: {keys: [abc]}}\nrules:\n  - {id: r, effect: permit, agents: a, within: [x1]}\n"
    )
    msg = error_of(p)
    assert "agents.a.keys.0" in msg and "rule 'r': within.0" in msg
    p2 = write(
        tmp_path,
        "agents: {a: {}}\nrules:\n  - {id: r, effect: permit, agents: a, items: [doc:1]}\n",
        "i.yaml",
    )
    assert "write an item as 'file:123'" in error_of(p2)


def test_non_utf8_file_is_refused(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"agents: \xff\xfe\n")
    assert "not UTF-8" in error_of(p)


def test_a_self_referencing_alias_cycle_is_refused(tmp_path):
    p = write(tmp_path, "agents: &loop\n  a: *loop\n")
    assert "YAML aliases (*loop) are not allowed" in error_of(p)


def test_yes_no_on_off_stay_text(tmp_path):
    p = write(tmp_path, "agents: {a: {}}\nrules:\n  - {id: off, effect: permit, agents: a, access: read}\n")
    assert load_policy(p).rules[0].id == "off"
