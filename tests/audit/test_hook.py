"""GateAudit: what the gate's calls leave in the log: intent then outcome for a write, else one record."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydantic import BaseModel

from box_mcp import gate
from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.audit import AuditLog, verify
from box_mcp.audit.hook import GateAudit
from box_mcp.audit.store import iter_lines
from box_mcp.decision import Decision


class UploadArgs(BaseModel):
    parent_id: str
    name: str
    content: str


def call(tool: str, call_id: str) -> object:
    return gate.Call(call_id=call_id, agent="claude", tool=SimpleNamespace(name=tool),
                     args=UploadArgs(parent_id="0", name="a.txt", content="top secret body"),
                     resources=(ResourceUse(ItemRef("folder", "0"), Access.WRITE, "parent"),),
                     facts=CallFacts(name="a.txt", extension="txt"), transport="stdio")


def records(directory: Path) -> list[dict]:
    paths = sorted(directory.glob("audit-*.jsonl"))
    # The log is still open: its file ends in NUL padding, where every reader stops.
    return [json.loads(x) for p in paths for _, _, x in iter_lines(p)]


@pytest.mark.anyio
async def test_a_write_leaves_an_intent_then_its_outcome(audit_log: AuditLog, audit_dir: Path) -> None:
    hook = GateAudit(audit_log, acting_as={"type": "user", "id": "9"})
    upload = call("upload_file", "c1")
    await hook.intent(upload)
    allowed = Decision("allow", ("uploads",), "uploads to folder 0")
    await hook.outcome(upload, gate.Outcome(False, allowed, 41.0, "Box said 409", "box", 409,
                                            "item_name_in_use", "req-1"))
    intent, outcome = records(audit_dir)
    assert intent["kind"] == "intent" and outcome["intent_id"] == intent["id"]
    assert intent["items"] == [{"type": "folder", "id": "0", "access": "write", "role": "parent"}]
    assert intent["args"]["content"]["redacted"] == "content"
    assert intent["detail"] == {"call_id": "c1", "transport": "stdio",
                                "facts": {"name": "a.txt", "extension": "txt"}}
    assert outcome["decision"] == {"effect": "allow", "rules": ["uploads"], "sentence": "uploads to folder 0"}
    assert outcome["outcome"] == {"status": "box", "error_code": "item_name_in_use", "http_status": 409,
                                  "request_id": "req-1", "message": "Box said 409"}
    assert verify(audit_dir).status == "ok"


@pytest.mark.anyio
async def test_a_denied_call_leaves_one_call_record_with_its_rules(audit_log: AuditLog,
                                                                   audit_dir: Path) -> None:
    hook = GateAudit(audit_log)
    denied = Decision("deny", ("read-only",), "no uploads here")
    ended = gate.Outcome(False, denied, 0.2, "Denied: no uploads", "denied")
    await hook.outcome(call("upload_file", "c2"), ended)
    [rec] = records(audit_dir)
    assert rec["kind"] == "call" and rec["decision"]["effect"] == "deny"
    assert rec["outcome"]["status"] == "denied" and rec["decision"]["rules"] == ["read-only"]


@pytest.mark.anyio
async def test_a_call_that_needed_approval_is_recorded_as_approval_required(audit_log: AuditLog,
                                                                            audit_dir: Path) -> None:
    hook = GateAudit(audit_log)
    asked = Decision("approval_required", ("ask",), "deletes need a person")
    await hook.outcome(call("upload_file", "c3"), gate.Outcome(False, asked, 0.2, "Denied: not approved",
                                                               "denied"))
    [rec] = records(audit_dir)
    assert rec["decision"] == {"effect": "approval_required", "rules": ["ask"],
                               "sentence": "deletes need a person"}
    assert rec["outcome"]["status"] == "denied"
