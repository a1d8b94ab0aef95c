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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp.client import Client

from box_mcp.approval_records import ApprovalRequest, new_approval_id
from box_mcp.config import Settings
from box_mcp.console.data import AuditFilters
from box_mcp.deployment import Deployment, open_deployment

ADMIN_KEY = "bmcp_console_admin_key_for_tests_0123456789"
AGENT_KEY = "bmcp_agent_key_for_console_tests_0123456789"
BASE = "http://127.0.0.1:8000"


def digest(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def policy_text(
    emulator: Any, *, admins: str | None = None, extra_rules: str = "", agent_keys: bool = True
) -> str:
    ada = emulator.user_id("ada")
    keys = f"'{digest(AGENT_KEY)}'" if agent_keys else ""
    admins = (
        admins if admins is not None else f"keys: {{ops: '{digest(ADMIN_KEY)}'}}, people: [root@acme.example]"
    )
    return (
        "version: 1\ndefault_agent: bot\n"
        f"console: {{admins: {{{admins}}}}}\n"
        "agents:\n"
        f"  bot: {{description: Reads engineering docs, keys: [{keys}],"
        f" acts_as: {{as_user: '{ada}'}}, limits: {{calls_per_minute: 100}}}}\n"
        "rules:\n"
        "  - {id: bot-reads, effect: permit, agents: [bot], access: read, description: read anything}\n"
        "  - {id: no-whoami, effect: forbid, agents: [bot], tools: [who_am_i]}\n"
        "  - {id: bot-deletes, effect: permit, agents: [bot], tools: [delete_file]}\n"
        "  - {id: deletes-need-approval, effect: require_approval, agents: [bot], tools: [delete_file],\n"
        "     approval: {by: [admin, pat@acme.example, 'group:777']}}\n" + extra_rules
    )


def held(**fields: Any) -> ApprovalRequest:
    """A pending approval request as the gate creates one (box_mcp.approvals), for the console to decide."""
    now = time.time()
    values: dict[str, Any] = {
        "id": new_approval_id(),
        "status": "pending",
        "created_at": now,
        "expires_at": now + 600,
        "agent": "bot",
        "person_id": None,
        "person_login": None,
        "client_id": None,
        "session_id": None,
        "tool": "delete_file",
        "fingerprint": "approval:" + "ab" * 32,
        "arguments": {"file_id": "123"},
        "resources": ("write file:123",),
        "policy_version": "sha256:" + "cd" * 32,
        "rules": ("deletes-need-approval",),
        "reason": "deleting a file needs approval",
        "approvers": ("admin",),
    }
    return ApprovalRequest(**(values | fields))


@dataclass
class Console:
    deployment: Deployment
    http: httpx2.AsyncClient
    policy: Path
    app: Any

    @property
    def approvals(self) -> Any:
        store = self.deployment.approval_store
        assert store is not None
        return store

    async def records(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The deployment's audit records (after the events posted so far are written)."""
        assert self.deployment.events is not None
        await self.deployment.events.flush()
        from box_mcp.console.wiring import console_for

        source = console_for(self.deployment, BASE).audit
        found = source.page(AuditFilters(kind=kind), size=500).records
        return list(reversed(found))

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
def make_console(emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    clear_box_env(monkeypatch)
    monkeypatch.delenv("BOX_MCP_POLICY", raising=False)
    ccg = emulator.credentials["ccg"]
    monkeypatch.setenv("BOX_CLIENT_ID", ccg["client_id"])
    monkeypatch.setenv("BOX_CLIENT_SECRET", ccg["client_secret"])
    monkeypatch.setenv("BOX_ENTERPRISE_ID", ccg["enterprise_id"])

    @asynccontextmanager
    async def make(
        *,
        admins: str | None = None,
        calls: bool = True,
        env: dict[str, str] | None = None,
        directory: bool = False,
        agent_keys: bool = True,
    ) -> AsyncIterator[Console]:
        """`directory`: the policy is a directory (policies/policy.yaml), as sandboxes need;
        `agent_keys`: the agent has an API key (without any the server checks none)."""
        for name, value in (env or {}).items():
            monkeypatch.setenv(name, value)
        folder = tmp_path / "policies"
        folder.mkdir(exist_ok=True)
        policy = (folder if directory else tmp_path) / "policy.yaml"
        policy.write_text(policy_text(emulator, admins=admins, agent_keys=agent_keys))
        served = folder if directory else policy
        settings = Settings.load(box_url=emulator.base_url, data_dir=tmp_path / "data", policy=str(served))
        async with open_deployment(settings, transport="http") as deployment:
            if calls:
                async with Client(deployment.server) as client:
                    readme = emulator.credentials["files"]["Engineering/README.md"]
                    await client.call_tool("get_file_details", {"file_id": readme})
                    await client.call_tool("who_am_i", {})
            app = deployment.http_app(port=8000)
            transport = httpx2.ASGITransport(app=app)
            async with httpx2.AsyncClient(transport=transport, base_url=BASE) as http:
                yield Console(deployment, http, policy, app)

    return make
