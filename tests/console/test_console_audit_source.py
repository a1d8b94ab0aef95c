"""The console's reader of the audit log (box_mcp.console.data.AuditSource) on a log written by the
deployment's own writer: the file log in the data dir, or the PostgreSQL chain (tests/state_mode.py)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from box_mcp.audit.log import AuditLog
from box_mcp.console import data
from box_mcp.console.data import AuditFilters, AuditSource
from box_mcp.errors import PolicyError
from box_mcp.policy.engine import Engine
from box_mcp.policy.model import policy_from_text
from box_mcp.policy.reference_tools import tools_for_policy

pytestmark = pytest.mark.anyio


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[tuple[Any, AuditSource]]:
    url = os.environ.get("BOX_MCP_DATABASE_URL")
    if url:
        from box_mcp.state.audit import PostgresAuditLog

        log: Any = await PostgresAuditLog.open(SecretStr(url))
        reader = AuditSource(directory=None, database_url=SecretStr(url))
    else:
        log = await AuditLog.open(tmp_path / "audit")
        reader = AuditSource(directory=tmp_path / "audit", database_url=None)
    try:
        yield log, reader
    finally:
        await log.aclose()


async def test_person_filter_pages_and_intents_find_their_outcomes(source: Any, monkeypatch: Any) -> None:
    log, reader = source
    for n in range(7):
        who = "pat@acme.example" if n % 2 == 0 else "sam@acme.example"
        await log.append(
            "call",
            agent="bot",
            tool="get_file_details",
            person={"box_user_id": str(40 + n % 2), "login": who},
            decision={"effect": "allow", "rules": ["r"]},
            outcome={"status": "ok"},
        )
    intent = await log.append("intent", agent="bot", tool="delete_file", items=[{"type": "file", "id": "9"}])
    outcome = await log.append(
        "outcome", agent="bot", tool="delete_file", intent_id=intent.id, outcome={"status": "ok"}
    )

    pats = reader.page(AuditFilters(person="PAT@acme.example"), size=2)
    assert [r["person"]["login"] for r in pats.records] == ["pat@acme.example"] * 2
    assert pats.next_before is not None
    rest = reader.page(AuditFilters(person="pat@acme.example"), before=pats.next_before, size=2)
    assert len(rest.records) == 2 and rest.records[0]["seq"] < pats.records[-1]["seq"]
    by_id = reader.page(AuditFilters(person="41"), size=10)
    assert len(by_id.records) == 3 and by_id.next_before is None

    monkeypatch.setattr(data, "PERSON_SCAN", 3)
    bounded = reader.page(AuditFilters(person="nobody@acme.example"), size=5)
    assert bounded.records == [] and bounded.scanned_out is False  # fewer than a batch: the end
    monkeypatch.setattr(data, "PERSON_SCAN", 0)
    stopped = reader.page(AuditFilters(person="pat@acme.example"), size=5)
    assert stopped.scanned_out and stopped.records == []

    assert [r["id"] for r in reader.related(reader.record(intent.id) or {})] == [outcome.id]
    assert [r["id"] for r in reader.related(reader.record(outcome.id) or {})] == [intent.id]
    assert reader.related(reader.page(AuditFilters(kind="call"), size=1).records[0]) == []
    assert reader.record("0" * 26) is None
    assert reader.last_activity("bot")["id"] == outcome.id
    assert reader.last_activity("nobody") is None
    report = reader.verify()
    assert not isinstance(report, str) and report.status == "ok" and report.count == 9
    assert reader.verify() is report  # cached for a few seconds
    assert reader.verify(fresh=True) is not report
    assert "AuditSource(" in repr(reader)


def test_a_missing_file_log_reads_as_empty(tmp_path: Path) -> None:
    reader = AuditSource(directory=tmp_path / "none", database_url=None)
    assert reader.page(AuditFilters()).records == []
    assert "no audit log yet" in str(reader.verify())
    assert reader.where.endswith("none")


def test_filters_from_a_query_string_round_trip() -> None:
    filters = AuditFilters.from_query({"agent": " bot ", "denied": "1", "since": "", "tool": "x" * 300})
    assert (
        filters.agent == "bot" and filters.denied and filters.since is None and len(filters.tool or "") == 200
    )
    assert filters.query_string() == {"agent": "bot", "tool": "x" * 200, "denied": "1"}
    assert filters.index_filters() == {"agent": "bot", "tool": "x" * 200, "denied": True}
    assert filters.any and not AuditFilters().any


def test_grants_in_words_and_explain_refusals() -> None:
    policy = policy_from_text(
        "agents:\n"
        "  a: {acts_as: {user_grant: legal}}\n"
        "  p: {acts_as: person}\n"
        "rules:\n"
        "  - {id: up, effect: permit, agents: [a], toolsets: [files], within: ['100'],"
        " when: {max_upload_bytes: 10 MB, file_extensions: [pdf]}}\n"
        "  - {id: people, effect: permit, agents: [p], access: read, people: {logins: [x@y.example]}}\n"
    )
    engine = Engine(policy, tools_for_policy())
    [up] = data.grants_for(engine, "a")
    assert up.sentence.startswith("May read and change with the files toolset, folder 100 and below")
    assert up.conditions == ["when max upload bytes: 10000000", "when file extensions: pdf"]
    [people] = data.grants_for(engine, "p")
    assert people.sentence.endswith("only for some signed-in people")
    assert "stored Box sign-in" in data.acts_as_text(policy.agents["a"])
    assert "each signed-in person" in data.acts_as_text(policy.agents["p"])
    assert data.limits_text(policy.agents["a"]) == "no limit"
    with pytest.raises(PolicyError, match="unknown agent"):
        data.explain(engine, agent="zz", tool="who_am_i", arguments="")
    with pytest.raises(PolicyError, match="a JSON object"):
        data.explain(engine, agent="a", tool="who_am_i", arguments="[1]")
    version, files = data.policy_version(("/nonexistent/policy.yaml",))
    assert len(version) == 12 and files[0].size == 0
