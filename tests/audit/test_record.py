"""Each kind of record, how caller values become record fields, and the hash over the canonical form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from box_mcp.access import Access, ItemRef, ResourceUse
from box_mcp.audit import GENESIS, KINDS, AuditLog, AuditRecord
from box_mcp.audit.record import CALLER_FIELDS, build_body, canonical, new_record_id, record_hash
from box_mcp.audit.redact import Redactor
from box_mcp.audit.store import iter_lines
from box_mcp.decision import Decision
from box_mcp.errors import AuditError

CALL = {
    "agent": "claude-code",
    "session_id": "sess-1",
    "client_name": "claude-code",
    "client_version": "2.1.0",
    "acting_as": {"kind": "as_user", "user_id": "777"},
    "tool": "get_file_details",
    "args": {"file_id": "123"},
    "items": [{"type": "file", "id": "123", "name": "a.txt", "parent_path": "/Projects"}],
    "decision": {"effect": "allow", "rules": ["read-projects"], "sentence": "agents may read /Projects"},
    "outcome": {"status": "ok", "http_status": 200, "request_id": "req-9"},
    "latency_ms": 12.3456,
}

EVENTS = {
    "session_start": {"agent": "claude-code", "session_id": "s", "client_name": "c", "client_version": "1"},
    "session_end": {"agent": "claude-code", "session_id": "s", "detail": {"reason": "client closed"}},
    "tools_list": {"agent": "claude-code", "detail": {"tools": ["who_am_i", "get_file_details"]}},
    "policy_load": {"detail": {"file": "policies/default.yaml", "sha256": "ab" * 32, "rules": 12}},
    "policy_reload": {"detail": {"file": "policies/default.yaml", "sha256": "cd" * 32, "rules": 13}},
    "broker": {"agent": "claude-code", "detail": {"event": "refresh", "identity": "user 777"}},
}


def lines(directory: Path) -> list[dict]:
    paths = sorted(directory.glob("audit-*.jsonl"))
    return [json.loads(x) for p in paths for _, _, x in iter_lines(p)]  # stops at the padding


@pytest.mark.anyio
async def test_call_record_holds_every_field_and_chains_from_genesis(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    rec = await audit_log.append("call", **CALL)
    [data] = lines(audit_dir)
    assert data == rec.to_dict()
    assert data["seq"] == 1 and data["prev_hash"] == GENESIS and data["kind"] == "call"
    assert data["hash"] == record_hash(data)
    assert data["latency_ms"] == 12.346
    assert data["items"] == CALL["items"] and data["decision"] == CALL["decision"]
    assert data["outcome"] == {"status": "ok", "http_status": 200, "request_id": "req-9"}
    assert data["time"].endswith("Z") and len(data["time"]) == len("2026-11-23T13:19:55.123456Z")


@pytest.mark.anyio
@pytest.mark.parametrize("kind", sorted(EVENTS))
async def test_event_records_are_written_with_their_detail(
    audit_log: AuditLog, audit_dir: Path, kind: str
) -> None:
    await audit_log.append(kind, **EVENTS[kind])
    [data] = lines(audit_dir)
    assert data["kind"] == kind
    for key, value in EVENTS[kind].items():
        assert data[key] == value


@pytest.mark.anyio
async def test_intent_then_outcome_are_linked_by_the_intent_id(audit_log: AuditLog, audit_dir: Path) -> None:
    intent_id = await audit_log.intent(agent="a", tool="upload_file", items=[ItemRef("folder", "0")])
    await audit_log.outcome(
        intent_id, outcome={"status": "error", "error_code": "item_name_in_use", "http_status": 409}
    )
    intent, outcome = lines(audit_dir)
    assert intent["kind"] == "intent" and intent["id"] == intent_id
    assert outcome["kind"] == "outcome" and outcome["intent_id"] == intent_id
    assert outcome["prev_hash"] == intent["hash"] and outcome["seq"] == 2
    assert outcome["outcome"]["status"] == "error"


@pytest.mark.anyio
async def test_shared_vocabulary_items_and_decision_objects_are_accepted(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    await audit_log.append(
        "call",
        items=[ResourceUse(ItemRef("file", "5"), Access.WRITE, "item")],
        decision=Decision("deny", ("no-sharing",), "open shared links are forbidden"),
        outcome="denied",
    )
    [data] = lines(audit_dir)
    assert data["items"] == [{"type": "file", "id": "5", "access": "write", "role": "item"}]
    assert data["decision"] == {
        "effect": "deny",
        "rules": ["no-sharing"],
        "sentence": "open shared links are forbidden",
    }


@pytest.mark.anyio
async def test_unknown_kind_or_field_is_refused_and_nothing_is_written(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    with pytest.raises(AuditError, match="unknown audit record kind 'read'"):
        await audit_log.append("read", agent="a")
    with pytest.raises(AuditError, match=r"unknown audit fields \['agnet'\]"):
        await audit_log.append("call", agnet="a")
    with pytest.raises(AuditError, match="needs the intent_id"):
        await audit_log.append("outcome", outcome="ok")
    assert lines(audit_dir) == []
    assert audit_log.last_seq == 0


def test_every_documented_kind_is_known() -> None:
    assert {"call", "intent", "outcome", *EVENTS} <= KINDS


def test_canonical_form_is_sorted_compact_utf8() -> None:
    assert (
        canonical({"b": 1, "a": "é", "c": {"z": [1, 2], "y": None}})
        == '{"a":"é","b":1,"c":{"y":null,"z":[1,2]}}'.encode()
    )


def test_record_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_record_id(1_700_000_000_000_000_000 + i * 1_000_000) for i in range(50)]
    assert len(set(ids)) == 50 and ids == sorted(ids) and all(len(i) == 26 for i in ids)


def test_a_sealed_line_is_the_canonical_form_with_its_hash_whatever_fields_it_holds() -> None:
    # seal() writes "hash" just before "id", so no record field may sort between the two.
    assert not [name for name in CALLER_FIELDS | {"kind"} if "hash" < name < "id"]
    full = {
        "acting_as": {"kind": "as_user", "user_id": "7"},
        "agent": "a",
        "args": {"id": 'x,"id":'},
        "items": [{"type": "file", "id": "1"}],
        "detail": {"n": 1},
        "tool": "t",
        "latency_ms": 1.5,
    }
    for fields in ({}, {"tool": "t"}, full):
        record = AuditRecord.seal(
            build_body("call", fields, Redactor()), seq=1, prev_hash=GENESIS, now_ns=1_700_000_000_000_000_000
        )
        assert record.line == canonical(record.data) + b"\n"
        assert record_hash(record.data) == record.hash


def test_ids_made_in_one_millisecond_share_its_time_prefix_and_nothing_else() -> None:
    now = 1_700_000_000_123_456_789
    ids = [new_record_id(now) for _ in range(1000)]
    # 48 bits of time fill the first 9.6 characters: the first 9 are the millisecond's alone.
    assert len(set(ids)) == 1000 and {i[:9] for i in ids} == {new_record_id(now)[:9]}
    assert new_record_id(now + 1_000_000) > max(ids)  # the next millisecond sorts after all of them


def test_the_record_fields_are_the_typed_event_fields() -> None:
    assert CALLER_FIELDS == {
        "agent",
        "person",
        "session_id",
        "client_name",
        "client_version",
        "acting_as",
        "tool",
        "args",
        "items",
        "decision",
        "outcome",
        "intent_id",
        "latency_ms",
        "detail",
    }


@pytest.mark.anyio
async def test_wrongly_typed_fields_are_refused_by_name_without_their_values(audit_log: AuditLog) -> None:
    with pytest.raises(AuditError, match=r"invalid call audit record: items\.0\.id: Field required"):
        await audit_log.append("call", items=[{"type": "file", "name": "secret plan"}])
    with pytest.raises(AuditError, match=r"unknown audit fields \['bytes_in'\]"):
        await audit_log.append("call", bytes_in=10)
    with pytest.raises(AuditError, match="outcome") as caught:
        await audit_log.append("call", outcome={"status": "ok", "token": "hunter2"})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(AuditError, match="acting_as"):
        await audit_log.append("call", acting_as={"kind": "root", "password": "pw"})
    assert audit_log.last_seq == 0


def test_record_ids_are_crockford_base32_of_time_and_random_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # The form the ids always had (base64.b32encode translated to Crockford's alphabet), so the ids of
    # old and new records sort together.
    import base64

    from box_mcp.audit import record

    to_crockford = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", "0123456789ABCDEFGHJKMNPQRSTVWXYZ")
    for i, now_ms in enumerate([0, 1, 1_700_000_000_123, (1 << 48) - 1, 1 << 48]):
        tail = bytes((i * 37 + j * 11) % 256 for j in range(10)) if i % 2 else b"\xff" * 10
        monkeypatch.setattr(record.os, "urandom", lambda n, tail=tail: tail[:n])
        raw = (now_ms & ((1 << 48) - 1)).to_bytes(6, "big") + tail
        expected = base64.b32encode(raw).decode("ascii")[:26].translate(to_crockford)
        assert new_record_id(now_ms * 1_000_000 + 999_999) == expected
