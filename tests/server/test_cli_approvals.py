"""`box-mcp approvals` in process, on the deployment's state as the settings name it (the data dir, or the
test's database under STATE=postgresql): list, show, approve, deny; decisions audited."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from box_mcp.approval_records import ApprovalRequest, ApprovalStore
from box_mcp.cli import main
from box_mcp.config import Settings
from box_mcp.ledger import open_approval_state
from tests.server.hostile_servers import assert_audit_verifies, audit_records
from tests.state.test_approval_store import pending


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ApprovalStore]:
    monkeypatch.setenv("BOX_MCP_DATA_DIR", str(tmp_path / "data"))
    state = open_approval_state(Settings.load())
    try:
        yield state.store
    finally:
        state.store.close()


def _fresh(**more: Any) -> ApprovalRequest:
    return pending(at=time.time(), **more)


def test_list_show_approve_and_deny(
    store: ApprovalStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["approvals", "list"]) == 0
    assert "no approvals" in capsys.readouterr().out
    for_admin = _fresh()
    for_alice = _fresh(approvers=("alice@example.com",), fingerprint="approval:other")
    store.create(for_admin)
    store.create(for_alice)
    assert main(["approvals", "list", "--status", "pending"]) == 0
    out = capsys.readouterr().out
    assert for_admin.id in out and for_alice.id in out and "write file:123" in out
    assert main(["approvals", "show", for_admin.id]) == 0
    shown = capsys.readouterr().out
    assert "an admin of this server" in shown and '"password": "[masked]"' in shown
    assert main(["approvals", "show", for_admin.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["approvers"] == ["admin"]

    assert main(["approvals", "approve", for_admin.id, "--reason", "fine", "--by", "ops@example.com"]) == 0
    assert "approved by ops@example.com" in capsys.readouterr().out
    assert main(["approvals", "approve", for_admin.id, "--reason", "again"]) == 1
    assert "already decided" in capsys.readouterr().err
    assert main(["approvals", "deny", for_alice.id, "--reason", "no"]) == 1
    assert "for alice@example.com to decide, not an admin; pass --override" in capsys.readouterr().err
    assert main(["approvals", "deny", for_alice.id, "--reason", "no", "--override"]) == 0
    assert main(["approvals", "show", "apr_nosuchidnosuchidnosuch"]) == 1
    assert "unknown id" in capsys.readouterr().err

    assert main(["approvals", "list", "--json"]) == 0
    statuses = {
        json.loads(line)["id"]: json.loads(line)["status"] for line in capsys.readouterr().out.splitlines()
    }
    assert statuses == {for_admin.id: "approved", for_alice.id: "denied"}
    data = tmp_path / "data"
    steps = [
        (r["detail"]["action"], r["detail"]["by"], r["detail"]["note"])
        for r in audit_records(data)
        if r["kind"] == "approval"
    ]
    assert steps == [
        ("approved", "ops@example.com", "fine"),
        ("denied", "admin:" + getpass.getuser(), "no"),
    ]
    assert_audit_verifies(data)


def test_list_marks_and_audits_what_expired(
    store: ApprovalStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = pending(at=time.time() - 700)
    store.create(old)
    assert main(["approvals", "list", "--status", "expired"]) == 0
    assert old.id in capsys.readouterr().out
    [record] = [r for r in audit_records(tmp_path / "data") if r["kind"] == "approval"]
    assert record["detail"]["action"] == "expired" and record["detail"]["approval_id"] == old.id
