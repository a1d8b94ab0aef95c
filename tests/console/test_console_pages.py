"""The console's pages in process: sign-in, sessions, CSRF, headers, the audit's filters and records,
approvals and who may decide them, agents, policy and identities."""

from __future__ import annotations

from typing import Any

import pytest

from tests.console.conftest import ADMIN_KEY, Approval, MemoryApprovals, csrf_of

pytestmark = pytest.mark.anyio


async def test_smoke(make_console: Any) -> None:
    async with make_console() as c:
        page = await c.http.get("/console/signin")
        assert page.status_code == 200, page.text
        signed = await c.sign_in()
        assert signed.status_code == 303, signed.text
        for path in ("/console/", "/console/audit", "/console/agents", "/console/policy", "/console/identities", "/console/approvals"):
            r = await c.http.get(path)
            assert r.status_code == 200, (path, r.text[:3000])
