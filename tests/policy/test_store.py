"""Hot reload: a changed policy takes effect on the next call; a broken one keeps the last good policy."""

from __future__ import annotations

import logging
import os

import pytest

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.errors import PolicyError
from box_mcp.policy.engine import DecisionRequest
from box_mcp.policy.store import PolicyStore

READ = "agents: {a: {}}\nrules:\n  - {id: reads, effect: permit, agents: a, access: read}\n"
WRITE = "agents: {a: {}}\nrules:\n  - {id: writes, effect: permit, agents: a, access: write}\n"
DELETE = DecisionRequest(
    "a",
    "delete_file",
    (ResourceUse(ItemRef("file", "1"), Access.WRITE),),
    CallFacts(),
    {ItemRef("file", "1"): ("0",)},
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def rewrite(path, text: str, bump: int) -> None:
    path.write_text(text)
    st = path.stat()
    os.utime(
        path, ns=(st.st_atime_ns, st.st_mtime_ns + bump * 1_000_000_000)
    )  # mtime moves even on fast disks


def test_changed_file_takes_effect_on_the_next_call_after_the_poll_interval(tmp_path, tools):
    p = tmp_path / "p.yaml"
    p.write_text(READ)
    clock = Clock()
    store = PolicyStore(p, tools, clock=clock)
    assert not store.engine().decide(DELETE).allowed
    rewrite(p, WRITE, 1)
    assert not store.engine().decide(DELETE).allowed  # checked at most once a second
    clock.now = 1.0
    assert store.engine().decide(DELETE).allowed
    assert store.reloads == 1


def test_broken_reload_keeps_the_last_good_policy_and_logs_why(tmp_path, tools, caplog):
    p = tmp_path / "p.yaml"
    p.write_text(READ)
    clock = Clock()
    store = PolicyStore(p, tools, clock=clock)
    rewrite(p, WRITE.replace("access: write", "access: writ"), 1)
    clock.now = 5.0
    with caplog.at_level(logging.WARNING, logger="box_mcp.policy"):
        engine = store.engine()
    assert not engine.decide(DELETE).allowed
    assert engine.decide(DecisionRequest("a", "who_am_i")).allowed  # still the old, good policy
    assert "keeping the last good one" in caplog.text and "access" in caplog.text
    assert store.last_error is not None
    rewrite(p, WRITE, 2)
    clock.now = 10.0
    assert store.engine().decide(DELETE).allowed and store.last_error is None


def test_reload_with_an_unknown_tool_never_opens_access(tmp_path, tools):
    p = tmp_path / "p.yaml"
    p.write_text(READ)
    store = PolicyStore(p, tools)
    rewrite(p, WRITE.replace("access: write", "tools: [delete_files]"), 1)
    assert store.reload() is False
    assert not store.engine().decide(DELETE).allowed


def test_removed_directory_file_is_noticed(tmp_path, tools):
    (tmp_path / "a.yaml").write_text(READ)
    (tmp_path / "b.yaml").write_text("rules:\n  - {id: writes, effect: permit, agents: a, access: write}\n")
    store = PolicyStore(tmp_path, tools)
    assert store.engine().decide(DELETE).allowed
    (tmp_path / "b.yaml").unlink()
    assert store.reload() is True
    assert not store.engine().decide(DELETE).allowed


def test_first_load_must_succeed(tmp_path, tools):
    p = tmp_path / "p.yaml"
    p.write_text("rules: [")
    with pytest.raises(PolicyError):
        PolicyStore(p, tools)
