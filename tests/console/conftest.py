"""The console in process: a real deployment (`open_deployment`, as `box-mcp serve --transport http` opens
it) on the test's emulator, with a policy naming a console admin key, and an ASGI client on its HTTP app
(the one uvicorn would serve, Host/Origin guard included). On PostgreSQL (tests/state_mode.py) the
deployment's audit, approvals key and vault are there, as `Settings.load` reads them from the env."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from box_mcp.config import Settings
from box_mcp.deployment import Deployment, open_deployment

ADMIN_KEY = "bmcp_console_admin_key_for_tests_0123456789"
AGENT_KEY = "bmcp_agent_key_for_console_tests_0123456789"
BASE = "http://127.0.0.1:8000"


def digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def policy_text(emulator: Any, *, admins: str | None = None) -> str:
    ada = emulator.user_id("ada")
    admins = admins if admins is not None else f"keys: {{ops: '{digest(ADMIN_KEY)}'}}, people: [root@acme.example]"
    return (
        "version: 1\ndefault_agent: bot\n"
        f"console: {{admins: {{{admins}}}}}\n"
        "agents:\n"
        f"  bot: {{description: Reads engineering docs, keys: ['{digest(AGENT_KEY)}'],"
        f" acts_as: {{as_user: '{ada}'}}, limits: {{calls_per_minute: 100}}}}\n"
        "rules:\n"
        "  - {id: bot-reads, effect: permit, agents: [bot], access: read, description: read anything}\n"
        "  - {id: no-whoami, effect: forbid, agents: [bot], tools: [who_am_i]}\n"
    )


@dataclass(frozen=True)
class Approval:
    """The fields of box_mcp.approval_records.ApprovalRequest (the interface the console reads)."""

    id: str
    status: str = "pending"
    created_at: float = field(default_factory=time.time)
    expires_at: float = field(default_factory=lambda: time.time() + 600)
    agent: str = "bot"
    person_id: str | None = None
    person_login: str | None = None
    client_id: str | None = None
    session_id: str | None = None
    tool: str = "delete_file"
    fingerprint: str = "approval:" + "ab" * 32
    arguments: dict[str, Any] = field(default_factory=lambda: {"file_id": "123"})
    resources: tuple[str, ...] = ("write file:123",)
    policy_version: str = "v1"
    rules: tuple[str, ...] = ("deletes-need-approval",)
    reason: str = "deleting a file needs approval"
    approvers: tuple[str, ...] = ("admin",)
    decided_by: str | None = None
    decided_at: float | None = None
    decision_note: str | None = None
    used_at: float | None = None
    call_id: str | None = None


class ApprovalStateError(ValueError):
    pass


class MemoryApprovals:
    """An in-memory store with the ApprovalStore interface's get / list / decide."""

    def __init__(self, *requests: Approval) -> None:
        self.requests = {r.id: r for r in requests}

    def get(self, approval_id: str) -> Approval | None:
        return self.requests.get(approval_id)

    def list(self, *, status: str | None = None, limit: int = 100) -> list[Approval]:
        found = [r for r in self.requests.values() if status is None or r.status == status]
        return sorted(found, key=lambda r: -r.created_at)[:limit]

    def decide(self, approval_id: str, *, approve: bool, by: str, note: str) -> Approval:
        current = self.requests[approval_id]
        if current.status != "pending":
            raise ApprovalStateError(f"approval {approval_id} is already {current.status}")
        new = replace(
            current,
            status="approved" if approve else "denied",
            decided_by=by,
            decided_at=time.time(),
            decision_note=note,
        )
        self.requests[approval_id] = new
        return new


@dataclass
class Console:
    deployment: Deployment
    http: httpx2.AsyncClient
    policy: Path

    async def sign_in(self, key: str = ADMIN_KEY) -> httpx2.Response:
        page = await self.http.get("/console/signin")
        return await self.http.post(
            "/console/signin", data={"csrf": csrf_of(page.text), "key": key, "next": "/console/audit"}
        )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def clear_box_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [k for k in os.environ if k.startswith("BOX_") and not k.startswith("BOX_MCP_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def make_console(
    emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    clear_box_env(monkeypatch)
    monkeypatch.delenv("BOX_MCP_POLICY", raising=False)
    ccg = emulator.credentials["ccg"]
    monkeypatch.setenv("BOX_CLIENT_ID", ccg["client_id"])
    monkeypatch.setenv("BOX_CLIENT_SECRET", ccg["client_secret"])
    monkeypatch.setenv("BOX_ENTERPRISE_ID", ccg["enterprise_id"])

    @asynccontextmanager
    async def make(
        *, approvals: Any = None, admins: str | None = None, calls: bool = True, env: dict[str, str] | None = None
    ) -> AsyncIterator[Console]:
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        policy = tmp_path / "policy.yaml"
        policy.write_text(policy_text(emulator, admins=admins))
        settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path / "data", policy=str(policy))
        async with open_deployment(settings, transport="http") as deployment:
            if calls:
                async with Client(deployment.server) as client:
                    readme = emulator.credentials["files"]["Engineering/README.md"]
                    await client.call_tool("get_file_details", {"file_id": readme})
                    await client.call_tool("who_am_i", {})
            deployment.approval_store = approvals  # type: ignore[attr-defined]
            app = deployment.http_app(port=8000)
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
                yield Console(deployment, http, policy)

    return make
