"""Fixtures for the audit log tests: a fresh directory and an open log in it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from box_mcp.audit import AuditLog


@pytest.fixture
def audit_dir(tmp_path: Path) -> Path:
    return tmp_path / "audit"


@pytest.fixture
async def audit_log(audit_dir: Path) -> AsyncIterator[AuditLog]:
    log = await AuditLog.open(audit_dir)
    try:
        yield log
    finally:
        await log.aclose()
