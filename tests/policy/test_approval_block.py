"""The `approval:` block of require_approval rules: who approves, hold, expiry; clear errors; how terms
combine when several rules hold one call; the policy digest an approval record names."""

from __future__ import annotations

from typing import Any

import pytest

from box_mcp.errors import PolicyError
from box_mcp.policy.lint import lint
from box_mcp.policy.model import policy_from_text

BASE = """
agents: {a: {}}
rules:
  - {id: all, effect: permit, agents: a, access: write}
"""


def _rule(extra: str) -> str:
    return BASE + f"  - {{id: ask, effect: require_approval, agents: a, tools: [delete_file]{extra}}}\n"


def test_the_block_defaults_to_the_caller_and_normalises_approvers() -> None:
    plain = policy_from_text(_rule(""))
    assert plain.rules[1].approval is None
    given = policy_from_text(_rule(", approval: {by: [Admin, Alice@Example.com, 'group:77'], hold: 30}"))
    spec = given.rules[1].approval
    assert spec is not None and spec.by == ("admin", "alice@example.com", "group:77")
    assert (spec.hold, spec.expires) == (30, 600)
    assert policy_from_text(_rule(", approval: {by: admin}")).rules[1].approval.by == ("admin",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("block", "says"),
    [
        ("{by: [bob]}", "'bob' is not an approver: write caller, admin, a Box login"),
        ("{by: ['group:abc']}", "'group:abc' is not an approver"),
        ("{by: []}", "list at least one approver"),
        ("{hold: 121}", "hold: Input should be less than or equal to 120"),
        ("{hold: -1}", "hold: Input should be greater than or equal to 0"),
        ("{expires: 59}", "expires: Input should be greater than or equal to 60"),
        ("{expires: 86401}", "expires: Input should be less than or equal to 86400"),
        ("{by: [caller], whom: x}", "whom: unknown field"),
    ],
)
def test_bad_blocks_are_refused_naming_the_rule_and_field(block: str, says: str) -> None:
    with pytest.raises(PolicyError) as raised:
        policy_from_text(_rule(f", approval: {block}"))
    assert "rule 'ask'" in str(raised.value) and says in str(raised.value)


def test_an_approval_block_on_a_permit_is_refused() -> None:
    with pytest.raises(PolicyError, match="needs effect: require_approval"):
        policy_from_text(
            BASE + "  - {id: p2, effect: permit, agents: a, access: read, approval: {by: admin}}\n"
        )


def test_decisions_carry_the_terms_and_the_policy_version(make_engine: Any, ask: Any, use: Any) -> None:
    text = _rule(", approval: {by: [admin, caller], hold: 10, expires: 120}")
    text += (
        "  - {id: also, effect: require_approval, agents: a, tools: [delete_file],\n"
        "     approval: {by: [admin], hold: 5}}\n"
    )
    e = make_engine(text)
    d = ask(e, "a", "delete_file", use("file", "9", "write"), ancestry={"file:9": ("0",)})
    assert d.approval is not None and d.approval.by == ("admin",)  # what every rule allows
    assert (d.approval.hold, d.approval.expires) == (10.0, 120.0)  # the longest hold, the shortest expiry
    assert d.policy_version == e.policy.digest and d.policy_version.startswith("sha256:")
    assert "approved by an admin of this server" in d.reason


def test_rules_naming_no_approver_in_common_leave_it_to_an_admin(
    make_engine: Any, ask: Any, use: Any
) -> None:
    text = _rule(", approval: {by: [caller]}")
    text += (
        "  - {id: b, effect: require_approval, agents: a, tools: [delete_file],\n"
        "     approval: {by: [x@example.com]}}\n"
    )
    d = ask(make_engine(text), "a", "delete_file", use("file", "9", "write"), ancestry={"file:9": ("0",)})
    assert d.approval is not None and d.approval.by == ("admin",)


def test_the_digest_follows_content_not_comments() -> None:
    one = policy_from_text(_rule(""))
    same = policy_from_text("# a comment\n" + _rule(""))
    other = policy_from_text(_rule(", approval: {by: admin}"))
    assert one.digest == same.digest != other.digest


def test_lint_warns_about_a_hold_only_the_caller_would_wait_for(make_engine: Any) -> None:
    findings = lint(make_engine(_rule(", approval: {by: [caller], hold: 10}")))
    assert any("holds calls for 10 s, but only the caller approves" in f.message for f in findings)
    assert not any(
        "holds calls" in f.message for f in lint(make_engine(_rule(", approval: {by: admin, hold: 10}")))
    )
