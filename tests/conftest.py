"""Fixtures shared by every test package. Area fixtures live in tests/<area>/conftest.py."""

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
