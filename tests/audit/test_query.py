"""Queries through the SQLite index, its catching up and rebuilding, and that no secret reaches any file."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import anyio
import pytest

import box_mcp.audit.index as index_module
from box_mcp.audit import AuditLog, query, rebuild, verify
from box_mcp.audit.index import parse_time
from box_mcp.identity import ActingAs

TOKEN = "Zq8vLm3XzR8bN2cW5yH7kJ4pF6gD1sAx"
CONTENT = b"CONFIDENTIAL-MERGER-TERMS-" * 20


async def _fill(directory: Path) -> None:
    async with await AuditLog.open(directory) as log:
        await log.append("session_start", agent="alice", session_id="s1")
        await log.append(
            "call",
            agent="alice",
            tool="get_file_details",
            items=[{"type": "file", "id": "11", "name": "plan.docx"}],
            decision={"effect": "allow", "rules": ["read"]},
            outcome="ok",
        )
        await log.append(
            "call",
            agent="bob",
            tool="add_file_shared_link",
            items=[{"type": "file", "id": "11", "name": "plan.docx"}],
            decision={"effect": "deny", "rules": ["no-open-links"]},
            outcome="denied",
        )
        intent = await log.intent(
            agent="bob",
            tool="create_folder",
            items=[{"type": "folder", "id": "11"}],
            decision={"effect": "allow", "rules": ["write"]},
        )
        await log.outcome(intent, agent="bob", tool="create_folder", outcome="ok")


@pytest.fixture
def filled(audit_dir: Path) -> Path:
    anyio.run(_fill, audit_dir)
    return audit_dir


def seqs(rows: object) -> list[int]:
    return [r["seq"] for r in rows]  # type: ignore[attr-defined]


def test_filters_by_agent_tool_and_denied(filled: Path) -> None:
    assert seqs(query(filled, agent="alice")) == [1, 2]
    assert seqs(query(filled, tool="create_folder")) == [4, 5]
    assert seqs(query(filled, denied=True)) == [3]
    assert seqs(query(filled, denied=False)) == [1, 2, 4, 5]
    assert seqs(query(filled, kind="intent")) == [4]


def test_item_filter_takes_an_id_a_type_and_id_or_a_name(filled: Path) -> None:
    assert seqs(query(filled, item="11")) == [2, 3, 4]
    assert seqs(query(filled, item="file:11")) == [2, 3]
    assert seqs(query(filled, item="plan.docx")) == [2, 3]


def test_time_bounds_limit_and_newest_first(filled: Path) -> None:
    assert seqs(query(filled, since="1d")) == [1, 2, 3, 4, 5]
    assert seqs(query(filled, until="2000-01-01")) == []
    assert seqs(query(filled, since="2000-01-01T00:00:00Z", limit=2)) == [1, 2]
    assert seqs(query(filled, newest_first=True, limit=2)) == [5, 4]


def test_relative_and_iso_times_are_read_as_utc() -> None:
    assert parse_time("2026-11-23") == "2026-11-23T00:00:00.000000Z"
    assert parse_time("2026-11-23T14:00:00+01:00") == "2026-11-23T13:00:00.000000Z"
    with pytest.raises(Exception, match="use an ISO date or time"):
        parse_time("yesterday")


def test_a_deleted_index_is_rebuilt_from_the_jsonl(filled: Path) -> None:
    (filled / "audit.sqlite3").unlink()
    assert seqs(query(filled)) == [1, 2, 3, 4, 5]
    assert rebuild(filled) == 5


def test_the_index_catches_up_with_records_it_has_not_seen(filled: Path) -> None:
    async def more() -> None:
        async with await AuditLog.open(filled, index=False) as log:
            await log.append("call", agent="carol", tool="who_am_i")

    anyio.run(more)
    assert seqs(query(filled, agent="carol")) == [6]


def test_paging_returns_every_record_once(audit_dir: Path) -> None:
    async def many() -> None:
        async with await AuditLog.open(audit_dir, fsync=False) as log:
            async with anyio.create_task_group() as tg:
                for _ in range(1200):
                    tg.start_soon(lambda: log.append("call", tool="who_am_i"))

    anyio.run(many)
    assert seqs(query(audit_dir)) == list(range(1, 1201))
    assert len(list(query(audit_dir, limit=700))) == 700


async def _leaky(directory: Path) -> None:
    b64 = base64.b64encode(CONTENT).decode()
    async with await AuditLog.open(directory, secret_fields=["pin"]) as log:
        await log.append("session_start", agent="alice", detail={"authorization": f"Bearer {TOKEN}"})
        await log.append(
            "broker",
            agent="alice",
            detail={"event": "refresh", "access_token": TOKEN, "note": f"got {TOKEN}"},
        )
        intent = await log.intent(
            agent="alice",
            tool="upload_file",
            args={"content_base64": b64, "name": "x.txt", "pin": "pin-4711-zz", "header": f"Bearer {TOKEN}"},
            items=[{"type": "folder", "id": "0", "name": TOKEN}],
        )
        await log.outcome(
            intent,
            outcome={"status": "error", "message": f"401 for token {TOKEN}"},
            decision={"effect": "allow", "sentence": f"ok {TOKEN}"},
        )
        await log.append("call", tool="get_file_details", acting_as=ActingAs(kind="user_grant", label=TOKEN))
        await log.append(
            "call",
            tool="upload_file_version",
            acting_as=f"token {TOKEN}",
            args={"content": CONTENT, "text": CONTENT.decode(), "file_id": "5"},
            secret_fields=["file_id"],
        )


def test_no_token_and_no_file_content_reach_any_file_of_the_log(audit_dir: Path) -> None:
    anyio.run(_leaky, audit_dir)
    assert len(list(query(audit_dir))) == 6 and verify(audit_dir).status == "ok"
    everything = b"".join(p.read_bytes() for p in audit_dir.iterdir() if p.is_file())
    assert b"alice" in everything and b"upload_file" in everything  # the check reads real data
    for secret in (TOKEN.encode(), CONTENT[:26], base64.b64encode(CONTENT)[:40], b"pin-4711-zz"):
        assert secret not in everything, secret


def test_a_read_only_log_is_queried_through_an_index_in_memory(
    filled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_connect = index_module.connect

    def read_only(directory: Path, *, in_memory: bool = False) -> sqlite3.Connection:
        if not in_memory:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return real_connect(directory, in_memory=True)

    monkeypatch.setattr(index_module, "connect", read_only)
    assert seqs(query(filled, agent="bob")) == [3, 4, 5]
    assert seqs(query(filled, newest_first=True, limit=1)) == [5]
