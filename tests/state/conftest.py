"""State test fixtures: a fresh PostgreSQL database per test (tests/state/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.state.pg import fresh_database


@pytest.fixture
def database() -> Iterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    with fresh_database("state") as url:
        yield url
