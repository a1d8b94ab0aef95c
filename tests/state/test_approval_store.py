"""Approval records in every store (memory, the data dir's SQLite, PostgreSQL): each step enforced by the
store, expiry computed on read, and of two processes consuming one approval exactly one wins."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from box_mcp.approval_records import (
    ApprovalRequest,
    ApprovalStateError,
    ApprovalStore,
    MemoryApprovalStore,
    SQLiteApprovalStore,
    new_approval_id,
)
from box_mcp.broker.crypto import new_key_text
from box_mcp.state.approvals import PostgresApprovals
from tests.state.pg import fresh_database

VAULT_KEY = new_key_text()
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def pending(
    fingerprint: str = "approval:abc", *, at: float = T0, expires: float = 600, **more: Any
) -> ApprovalRequest:
    fields: dict[str, Any] = dict(
        id=new_approval_id(),
        status="pending",
        created_at=at,
        expires_at=at + expires,
        agent="bot",
        person_id=None,
        person_login=None,
        client_id=None,
        session_id="s1",
        tool="delete_file",
        fingerprint=fingerprint,
        arguments={"file_id": "123", "password": "[masked]"},
        resources=("write file:123",),
        policy_version="sha256:" + "0" * 64,
        rules=("ask-first",),
        reason="rule ask-first",
        approvers=("admin",),
    )
    fields.update(more)
    return ApprovalRequest(**fields)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def pair(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[ApprovalStore, ApprovalStore, Clock]]:
    """Two processes' handles on one deployment's store, and the clock both read."""
    clock = Clock()
    if request.param == "memory":
        one = MemoryApprovalStore(clock)
        yield one, one, clock
        return
    if request.param == "sqlite":
        path = tmp_path / "data" / "approvals.sqlite3"
        a, b = SQLiteApprovalStore(path, clock), SQLiteApprovalStore(path, clock)
        try:
            yield a, b, clock
        finally:
            a.close()
            b.close()
        return
    with fresh_database("approval_store") as url:
        a = PostgresApprovals.open(SecretStr(url), SecretStr(VAULT_KEY), clock)
        b = PostgresApprovals.open(SecretStr(url), SecretStr(VAULT_KEY), clock)
        try:
            yield a, b, clock
        finally:
            a.close()
            b.close()


def test_a_record_reads_back_as_stored_and_lists_newest_first(pair: Any) -> None:
    a, b, _clock = pair
    first = pending()
    a.create(first)
    assert b.get(first.id) == first  # the other process sees it, every field intact
    second = pending("approval:other", at=T0 + 1)
    b.create(second)
    assert [r.id for r in a.list()] == [second.id, first.id]
    assert [r.id for r in a.list(limit=1)] == [second.id]
    assert a.get("apr_nosuchidnosuchidnosuch") is None
    with pytest.raises(ApprovalStateError, match="already exists"):
        a.create(first)
    assert first.id not in repr(first)  # the id is a capability: not in a repr


def test_approve_then_consume_once_with_the_same_call_only(pair: Any) -> None:
    a, b, clock = pair
    record = pending()
    a.create(record)
    assert a.find("approval:abc") == record
    clock.now += 5
    approved = b.decide(record.id, approve=True, by="admin:alice@example.com", note="  looks   fine ")
    assert approved.status == "approved" and approved.decided_by == "admin:alice@example.com"
    assert approved.decided_at == T0 + 5 and approved.decision_note == "looks fine"
    assert a.find("approval:abc") == approved
    with pytest.raises(ApprovalStateError, match="already decided: approved by admin:alice"):
        a.decide(record.id, approve=False, by="bob", note="")
    with pytest.raises(ApprovalStateError, match="another call"):
        a.consume(record.id, fingerprint="approval:other-args", call_id="c0")
    used = a.consume(record.id, fingerprint="approval:abc", call_id="c1")
    assert used.status == "used" and used.call_id == "c1" and used.used_at == T0 + 5
    with pytest.raises(ApprovalStateError, match="already used"):
        b.consume(record.id, fingerprint="approval:abc", call_id="c2")
    assert a.find("approval:abc") is None
    assert [r.id for r in a.list(status="used")] == [record.id]


def test_pending_and_denied_records_cannot_be_used(pair: Any) -> None:
    a, b, _clock = pair
    record = pending()
    a.create(record)
    with pytest.raises(ApprovalStateError, match="still pending"):
        a.consume(record.id, fingerprint="approval:abc", call_id="c1")
    denied = b.decide(record.id, approve=False, by="bob@example.com", note="not this file")
    assert denied.status == "denied"
    with pytest.raises(ApprovalStateError, match=r"denied by bob@example\.com: not this file"):
        a.consume(record.id, fingerprint="approval:abc", call_id="c1")
    with pytest.raises(ApprovalStateError, match="unknown id"):
        a.decide("apr_nosuchidnosuchidnosuch", approve=True, by="x", note="")
    with pytest.raises(ApprovalStateError, match="unknown id"):
        a.consume("apr_nosuchidnosuchidnosuch", fingerprint="approval:abc", call_id="c1")
    assert a.find("approval:abc") is None


def test_expiry_is_computed_on_read_and_marked_once(pair: Any) -> None:
    a, b, clock = pair
    waiting, approved = pending(expires=60), pending("approval:two", expires=60)
    a.create(waiting)
    a.create(approved)
    a.decide(approved.id, approve=True, by="admin", note="")
    clock.now += 61
    assert a.get(waiting.id).status == "expired" and b.get(approved.id).status == "expired"
    assert a.find("approval:abc") is None and a.find("approval:two") is None
    assert {r.id for r in a.list(status="expired")} == {waiting.id, approved.id}
    assert a.list(status="pending") == [] and a.list(status="approved") == []
    with pytest.raises(ApprovalStateError, match="expired"):
        a.decide(waiting.id, approve=True, by="admin", note="")
    with pytest.raises(ApprovalStateError, match="expired"):
        a.consume(approved.id, fingerprint="approval:two", call_id="c1")
    assert {r.id for r in a.expire_due()} == {waiting.id, approved.id}
    assert b.expire_due() == []  # each expiry is marked (and audited) by one process only


def test_bad_input_is_refused_clearly(pair: Any) -> None:
    a, _b, _clock = pair
    with pytest.raises(ApprovalStateError, match="pending, not approved"):
        a.create(dataclasses.replace(pending(), status="approved"))
    with pytest.raises(ApprovalStateError, match="'apr_'"):
        a.create(dataclasses.replace(pending(), id="guessable"))
    with pytest.raises(ApprovalStateError, match="expire after"):
        a.create(pending(expires=0))
    with pytest.raises(ApprovalStateError, match="at least one approver"):
        a.create(pending(approvers=()))
    record = pending()
    a.create(record)
    with pytest.raises(ApprovalStateError, match="who decides"):
        a.decide(record.id, approve=True, by="  ", note="")
    with pytest.raises(ApprovalStateError, match="under 500"):
        a.decide(record.id, approve=True, by="admin", note="x" * 501)
    with pytest.raises(ApprovalStateError, match="unknown status"):
        a.list(status="maybe")
    with pytest.raises(ApprovalStateError, match="at least 1"):
        a.list(limit=0)


def test_concurrent_consumes_of_one_approval_let_exactly_one_through(pair: Any) -> None:
    a, b, _clock = pair
    record = pending()
    a.create(record)
    a.decide(record.id, approve=True, by="admin", note="")
    won: list[str] = []
    lost: list[str] = []
    start = threading.Barrier(8, timeout=30)

    def use(store: ApprovalStore, n: int) -> None:
        start.wait()
        try:
            won.append(store.consume(record.id, fingerprint="approval:abc", call_id=f"c{n}").call_id or "")
        except ApprovalStateError as exc:
            lost.append(str(exc))

    threads = [threading.Thread(target=use, args=((a, b)[i % 2], i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(won) == 1 and len(lost) == 7 and all("already used" in m for m in lost)
    assert a.get(record.id).call_id == won[0]


def test_concurrent_decisions_record_one(pair: Any) -> None:
    a, b, _clock = pair
    record = pending()
    a.create(record)
    results: list[str] = []
    start = threading.Barrier(6, timeout=30)

    def decide(store: ApprovalStore, n: int) -> None:
        start.wait()
        try:
            results.append(store.decide(record.id, approve=n % 2 == 0, by=f"p{n}", note="").status)
        except ApprovalStateError:
            results.append("refused")

    threads = [threading.Thread(target=decide, args=((a, b)[i % 2], i)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results).count("refused") == 5


def test_old_records_are_pruned_a_week_after_they_expired(tmp_path: Path) -> None:
    clock = Clock()
    store = SQLiteApprovalStore(tmp_path / "a.sqlite3", clock)
    try:
        old = pending()
        store.create(old)
        clock.now += 600 + 7 * 86400 + 1
        store.create(pending(at=clock.now))
        assert store.get(old.id) is None and len(store.list()) == 1
    finally:
        store.close()


def test_postgres_keeps_the_arguments_as_redacted_json(tmp_path: Path) -> None:
    with fresh_database("approval_rows") as url:
        store = PostgresApprovals.open(SecretStr(url), SecretStr(VAULT_KEY))
        try:
            store.create(pending())
        finally:
            store.close()
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT arguments, approvers FROM approval_requests").fetchone()
    assert row == ({"file_id": "123", "password": "[masked]"}, ["admin"])
