"""GateAudit: what the gate's calls leave in the log: intent then outcome for a write, else one record."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from box_mcp import seams
from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.audit import AuditLog, verify
from box_mcp.audit.hook import GateAudit
from box_mcp.audit.store import iter_lines
from box_mcp.decision import ALLOW, Decision, deny
from box_mcp.events import SessionInfo
from box_mcp.identity import ActingAs


class UploadArgs(BaseModel):
    parent_id: str
    name: str
    content: str


ADA = ActingAs(kind="as_user", user_id="9")


def call(tool: str, call_id: str, acting_as: ActingAs | None = None) -> seams.Call:
    return seams.Call(
        call_id=call_id,
        agent="claude",
        tool=SimpleNamespace(name=tool),  # type: ignore[arg-type]
        args=UploadArgs(parent_id="0", name="a.txt", content="top secret body"),
        resources=(ResourceUse(ItemRef("folder", "0"), Access.WRITE, "parent"),),
        facts=CallFacts(name="a.txt", extension="txt"),
        transport="stdio",
        session=SessionInfo("sess-1", "claude-code", "2.1.0"),
        acting_as=acting_as,
    )


def records(directory: Path) -> list[dict]:
    paths = sorted(directory.glob("audit-*.jsonl"))
    # The log is still open: its file ends in NUL padding, where every reader stops.
    return [json.loads(x) for p in paths for _, _, x in iter_lines(p)]


@pytest.mark.anyio
async def test_a_write_leaves_an_intent_then_its_outcome(audit_log: AuditLog, audit_dir: Path) -> None:
    hook = GateAudit(audit_log)
    upload = call("upload_file", "c1", ADA)
    await hook.intent(upload)
    allowed = Decision("allow", ("uploads",), "uploads to folder 0")
    await hook.outcome(
        upload, seams.Outcome(False, allowed, 41.0, "Box said 409", "box", 409, "item_name_in_use", "req-1")
    )
    intent, outcome = records(audit_dir)
    assert intent["kind"] == "intent" and outcome["intent_id"] == intent["id"]
    assert intent["acting_as"] == outcome["acting_as"] == {"kind": "as_user", "user_id": "9"}
    assert intent["session_id"] == "sess-1" and outcome["client_name"] == "claude-code"
    assert "decision" not in intent and "outcome" not in intent  # nothing was decided on disk yet
    assert intent["items"] == [{"type": "folder", "id": "0", "access": "write", "role": "parent"}]
    assert intent["args"]["content"]["redacted"] == "content"
    assert intent["detail"] == {
        "call_id": "c1",
        "transport": "stdio",
        "facts": {"name": "a.txt", "extension": "txt"},
    }
    assert outcome["decision"] == {"effect": "allow", "rules": ["uploads"], "sentence": "uploads to folder 0"}
    assert outcome["outcome"] == {
        "status": "box",
        "error_code": "item_name_in_use",
        "http_status": 409,
        "request_id": "req-1",
        "message": "Box said 409",
    }
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_a_denied_call_leaves_one_call_record_with_its_rules(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    hook = GateAudit(audit_log)
    denied = Decision("deny", ("read-only",), "no uploads here")
    ended = seams.Outcome(False, denied, 0.2, "Denied: no uploads", "denied")
    await hook.outcome(call("upload_file", "c2"), ended)
    [rec] = records(audit_dir)
    assert rec["kind"] == "call" and rec["decision"]["effect"] == "deny"
    assert rec["acting_as"] is None  # denied before any Box identity was chosen: it ran as nobody
    assert rec["outcome"]["status"] == "denied" and rec["decision"]["rules"] == ["read-only"]


@pytest.mark.anyio
async def test_a_call_that_needed_approval_is_recorded_as_approval_required(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    hook = GateAudit(audit_log)
    asked = Decision("approval_required", ("ask",), "deletes need a person")
    await hook.outcome(
        call("upload_file", "c3"), seams.Outcome(False, asked, 0.2, "Denied: not approved", "denied")
    )
    [rec] = records(audit_dir)
    assert rec["decision"] == {
        "effect": "approval_required",
        "rules": ["ask"],
        "sentence": "deletes need a person",
    }
    assert rec["outcome"]["status"] == "denied"


@pytest.mark.anyio
async def test_a_read_names_the_item_it_returned_and_the_identity_it_ran_as(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    hook = GateAudit(audit_log)
    read = call("get_file_details", "c4", ActingAs(kind="service_account", enterprise_id="55"))
    found = {"type": "folder", "id": "0", "name": "All Files", "parent_path": "/"}
    reads = Decision("allow", ("r",), "reads")
    await hook.outcome(read, seams.Outcome(True, reads, 1.23456, result_item=found))
    made = call("create_folder", "c5", ADA)
    new = {"type": "folder", "id": "88", "name": "New"}
    await hook.outcome(made, seams.Outcome(True, ALLOW, 2.0, result_item=new))
    first, second = records(audit_dir)
    assert first["acting_as"] == {"kind": "service_account", "enterprise_id": "55"}
    assert first["items"] == [{**found, "access": "write", "role": "parent"}]
    assert first["latency_ms"] == 1.235 and first["outcome"] == {"status": "ok"}
    assert second["items"] == [
        {"type": "folder", "id": "0", "access": "write", "role": "parent"},
        {**new, "role": "result"},
    ]


@pytest.mark.anyio
async def test_rejected_calls_ran_as_nobody_and_only_a_refusal_carries_a_decision(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    hook = GateAudit(audit_log, secret_fields=lambda: frozenset({"pin"}))
    unknown = seams.Outcome(False, ALLOW, 0.1, "Unknown tool 'nope'", "unknown_tool")
    await hook.rejected(
        "nope",
        {"pin": "4711", "x": float("nan")},
        call_id="r1",
        agent="claude",
        transport="http",
        session=None,
        outcome=unknown,
    )
    too_fast = deny("claude may make 10 calls a minute")
    limited = seams.Outcome(False, too_fast, 0.1, "Denied: too fast", "denied")
    await hook.rejected(
        "get_file_details",
        ["not", "a", "dict"],
        call_id="r2",
        agent="claude",
        transport="stdio",
        session=SessionInfo("s9"),
        outcome=limited,
    )
    first, second = records(audit_dir)
    assert first["acting_as"] is None and second["acting_as"] is None
    assert first["args"] == {"pin": "[masked]", "x": {"$nonfinite": "NaN"}}
    assert "decision" not in first and first["outcome"]["status"] == "unknown_tool"
    assert first["detail"] == {"call_id": "r1", "transport": "http"}
    assert second["args"] == {"arguments": ["not", "a", "dict"]} and second["session_id"] == "s9"
    assert second["decision"] == {"effect": "deny", "rules": [], "sentence": too_fast.reason}


@pytest.mark.anyio
async def test_policy_secret_fields_are_masked_in_intent_and_outcome(
    audit_log: AuditLog, audit_dir: Path
) -> None:
    secret = {"name"}
    hook = GateAudit(audit_log, secret_fields=lambda: frozenset(secret))
    upload = call("upload_file", "c6", ADA)
    await hook.intent(upload)
    secret.add("parent_id")  # a policy reload between intent and outcome applies at once
    await hook.outcome(upload, seams.Outcome(True, ALLOW, 1.0))
    intent, outcome = records(audit_dir)
    assert intent["args"]["name"] == "[masked]" and intent["args"]["parent_id"] == "0"
    assert outcome["args"]["name"] == outcome["args"]["parent_id"] == "[masked]"
    assert intent["detail"]["facts"]["name"] == "[masked]"  # the same name, as a policy fact
    assert not [r for r in (intent, outcome) if "a.txt" in json.dumps(r)]


@pytest.mark.anyio
async def test_a_typed_event_is_written_as_append_writes_it(audit_log: AuditLog, audit_dir: Path) -> None:
    # AuditLog.record skips append's second validation: the bodies must come out the same.
    from box_mcp.audit import call_event
    from box_mcp.errors import AuditError

    upload = call("upload_file", "c9", ADA)
    event = call_event(
        "call",
        upload,
        Decision("allow", ("uploads",), "uploads to folder 0"),
        seams.Outcome(True, ALLOW, 3.5),
    )
    fields = {name: getattr(event, name) for name in event.model_fields_set if name != "kind"}
    await audit_log.append(event.kind, secret_fields=["name"], **fields)
    await audit_log.record(event, secret_fields=["name"])
    by_append, by_record = (
        {k: v for k, v in r.items() if k not in {"seq", "id", "time", "prev_hash", "hash"}}
        for r in records(audit_dir)
    )
    assert by_record == by_append and by_record["args"]["name"] == "[masked]"
    assert by_record["acting_as"] == {"kind": "as_user", "user_id": "9"}
    with pytest.raises(AuditError, match="intent_id"):
        await audit_log.record(call_event("outcome", upload))
