"""`EmulatorHost`: one server, and each `fresh()` emulator as pristine as one of its own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx2 as httpx
import pytest

from box_mcp.emulator.faults import FaultRule
from box_mcp.emulator.testing import emulator_host


def test_each_fresh_emulator_starts_from_the_seed_on_the_same_server() -> None:
    with emulator_host() as host:
        first = host.fresh(seed="demo", rate_limits=False)
        auth = {"Authorization": f"Bearer {first.token('ada')}"}
        with httpx.Client(base_url=host.base_url, headers=auth) as http:
            made = http.post("/2.0/folders", json={"name": "Left behind", "parent": {"id": "0"}})
            assert made.status_code == 201
            first.emulator.faults.append(FaultRule.parse("/2.0/users/me:503=1.0"))
            assert http.get("/2.0/users/me").status_code == 503

        second = host.fresh(seed="demo", rate_limits=False)
        auth = {"Authorization": f"Bearer {second.token('ada')}"}
        with httpx.Client(base_url=host.base_url, headers=auth) as http:
            root = http.get("/2.0/folders/0/items", params={"limit": 1000}).json()
            me = http.get("/2.0/users/me")
    assert second.base_url == first.base_url == host.base_url
    assert "Left behind" not in [entry["name"] for entry in root["entries"]]
    assert me.status_code == 200  # the first emulator's fault went with it
    with pytest.raises(sqlite3.ProgrammingError):  # and so did its store
        first.emulator.store.fetch_one("SELECT 1")


def test_a_host_refuses_a_persistent_emulator(tmp_path: Path) -> None:
    with emulator_host() as host, pytest.raises(ValueError, match="use running_emulator"):
        host.fresh(data_dir=tmp_path)
