"""The console's parts without a server: the policy's `console:` section, admin keys, sealing, the
failed-sign-in limiter, safe redirects, `box-mcp policy new-key --console`."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from box_mcp.console.app import _safe_next
from box_mcp.console.auth import FailureLimiter, Sealer, Session, match_admin_key
from box_mcp.errors import PolicyError
from box_mcp.policy.model import merge, parse_file, policy_from_text
from box_mcp.policy.yamlsrc import load_text

KEY = "bmcp_unit_console_key"
DIGEST = "sha256:" + hashlib.sha256(KEY.encode()).hexdigest()


def test_the_policy_names_console_admins_by_key_and_login() -> None:
    upper = "sha256:" + DIGEST[7:].upper()
    policy = policy_from_text(
        f"console: {{admins: {{keys: {{ops: '{upper}'}}, people: Root@Acme.example}}}}\nagents: {{a: {{}}}}\n"
    )
    assert policy.console.admins.keys == {"ops": DIGEST}
    assert policy.console.admins.people == ("root@acme.example",)
    assert policy_from_text("agents: {a: {}}\n").console.admins.keys == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("console: {admins: {people: [root]}}\nagents: {a: {}}\n", "is not a Box login"),
        ("console: {admins: {keys: {ops: 'sha256:12'}}}\nagents: {a: {}}\n", "ops"),
        ("console: {admins: {keys: [x]}}\nagents: {a: {}}\n", "keys"),
        ("console: {admins: {who: [x]}}\nagents: {a: {}}\n", "unknown field"),
        (
            f"console: {{admins: {{keys: {{ops: '{DIGEST}'}}}}}}\nagents: {{a: {{keys: ['{DIGEST}']}}}}\n",
            "also agent 'a'",
        ),
    ],
)
def test_a_bad_console_section_is_refused_with_its_reason(text: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=problem):
        policy_from_text(text)


def test_two_files_must_not_set_the_console_differently() -> None:
    one = parse_file(load_text("console: {admins: {people: [a@x.example]}}\nagents: {a: {}}\n", "one.yaml"))
    two = parse_file(load_text("console: {admins: {people: [b@x.example]}}\n", "two.yaml"))
    with pytest.raises(PolicyError, match="console is set differently in two files"):
        merge([one, two], ["one.yaml", "two.yaml"])
    same = parse_file(load_text("console: {admins: {people: [a@x.example]}}\n", "three.yaml"))
    assert merge([one, same], ["one.yaml", "three.yaml"]).console.admins.people == ("a@x.example",)


def test_admin_keys_match_by_hash_only() -> None:
    keys = {"ops": DIGEST, "other": "sha256:" + "0" * 64}
    assert match_admin_key(KEY, keys) == "ops"
    assert match_admin_key(f"  {KEY}\n", keys) == "ops"
    assert match_admin_key(DIGEST, keys) is None  # the hash itself is not a key
    assert match_admin_key("bmcp_other", keys) is None


def test_a_sealed_session_opens_only_unchanged_and_for_its_purpose() -> None:
    sealer = Sealer(b"k" * 32)
    session = Session.new("key", "admin-key:ops", key_digest=DIGEST)
    text = sealer.seal(session.to_dict(), "session")
    opened = Session.from_dict(sealer.open(text, "session") or {})
    assert opened is not None and opened.who == "admin-key:ops" and opened.csrf == session.csrf
    assert sealer.open(text, "flow") is None
    assert Sealer(b"j" * 32).open(text, "session") is None
    assert sealer.open(text[:-2] + ("AA" if text[-2:] != "AA" else "BB"), "session") is None
    assert sealer.open("", "session") is None and sealer.open("x" * 9000, "session") is None
    assert Session.from_dict({"kind": "root", "who": "x", "csrf": "y", "exp": 1}) is None
    assert Session.from_dict({"kind": "key"}) is None
    assert "csrf" not in repr(session) or session.csrf not in repr(session)


def test_failed_sign_ins_are_limited_per_client_and_overall() -> None:
    now = [1000.0]
    limiter = FailureLimiter(per_client=2, overall=3, window=60, clock=lambda: now[0])
    assert limiter.blocked("a") is None
    limiter.failed("a")
    limiter.failed("a")
    assert limiter.blocked("a") == pytest.approx(60)
    assert limiter.blocked("b") is None
    limiter.failed("b")
    assert limiter.blocked("c") is not None  # three failures in the window from anyone: everyone waits
    now[0] += 61
    assert limiter.blocked("a") is None and limiter.blocked("c") is None


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/console/audit?agent=x", "/console/audit?agent=x"),
        ("https://evil.example/console/", "/console/"),
        ("//evil.example/console/", "/console/"),
        ("/console/\\evil", "/console/"),
        ("/mcp", "/console/"),
        ("", "/console/"),
    ],
)
def test_after_sign_in_only_console_paths_are_followed(target: str, safe: str) -> None:
    assert _safe_next(target) == safe


def test_policy_new_key_console_prints_a_key_and_the_line_for_the_policy() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "box_mcp.cli", "policy", "new-key", "ops", "--console"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    key = next(line.strip() for line in out.splitlines() if line.strip().startswith("bmcp_"))
    digest = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    assert "console.admins.keys" in out and f'ops: "{digest}"' in out
    policy = policy_from_text(f"console: {{admins: {{keys: {{ops: '{digest}'}}}}}}\nagents: {{a: {{}}}}\n")
    assert match_admin_key(key, policy.console.admins.keys) == "ops"
