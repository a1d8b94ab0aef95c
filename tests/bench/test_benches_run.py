"""Every script in bench/ runs in quick mode and prints its result lines, so a bench cannot rot unseen."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
LINE = re.compile(
    r"^(ratio|figure) (?P<label>[^:]+): (?P<value>-?[0-9.]+(?:e[+-]?[0-9]+)?)(x| \S+)"
    r"( \(target (<=|>=) [0-9.e+]+(x| \S+)\) (met|MISSED))?$"
)
HAS_CEDAR = importlib.util.find_spec("cedarpy") is not None

# The labels of the target-bearing result lines each bench must print in quick mode.
EXPECTED: dict[str, set[str]] = {
    "audit_throughput": {
        "durable records/s, 10 writers",
        "added by audit p50",
        "audit added p50 / disk's own sync p50",
    },
    "box_requests": {
        "requests per call, move_file",
        "requests per call, copy_file",
        "requests per call, mix average (warm)",
        "requests per call, move_file (cold)",
        "requests per call, copy_file (cold)",
    },
    "box_client_stream": {"streamed / buffered download peak"},
    "broker_cost": {"warm p50, base token", "warm p50, downscoped, one item"},
    "emulator_stream": {"emulator peak RSS"},
    "policy_decisions": {"p50 per decision, 1000 rules"}
    | ({"cedarpy / box-mcp p50, 10 rules", "cedarpy / box-mcp p50, 1000 rules"} if HAS_CEDAR else set()),
    "replicas": {
        "2 replicas / 1, 4 clients",
        "PostgreSQL minus files, p50 per call",
        "durable audit records/s, 2 replicas",
    },
    "server_latency": {
        "box-mcp / floor p50",
        "box-mcp / floor p99",
        "telemetry on / off p50",
        "telemetry off added / box-mcp p50",
    },
    "shared_limits": {"PostgreSQL check p50"},
    "stdio_latency": {"box-mcp / bare SDK server p50"},
}


def test_every_bench_script_is_listed_here() -> None:
    assert {p.stem for p in BENCH.glob("[!_]*.py")} == set(EXPECTED)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bench_runs_in_quick_mode_and_prints_its_targets(name: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    env |= {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg"), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(  # noqa: S603
        [sys.executable, str(BENCH / f"{name}.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [m for m in map(LINE.match, proc.stderr.splitlines()) if m]
    with_target = {m["label"] for m in lines if m.group(5)}
    assert EXPECTED[name] <= with_target, proc.stderr
    result = json.loads(proc.stdout)
    assert result["bench"] == name and result["quick"] is True
    assert {m["label"] for m in lines} == set(result["figures"])
    if name == "policy_decisions" and not HAS_CEDAR:
        assert "cedarpy is not installed: the Cedar comparison is skipped" in proc.stderr


def test_the_emulator_counts_each_request_it_receives_when_asked() -> None:
    from box_mcp.emulator.testing import running_emulator

    with running_emulator(rate_limits=False, count_requests=True) as box:
        log = box.app.state.request_log
        mark = log.mark()
        headers = {"Authorization": f"Bearer {box.token('ada')}"}
        import httpx2

        assert httpx2.get(f"{box.base_url}/2.0/users/me", headers=headers).status_code == 200
        assert httpx2.get(f"{box.base_url}/2.0/folders/0/items", headers=headers).status_code == 200
        assert log.since(mark) == [("GET", "/2.0/users/me"), ("GET", "/2.0/folders/0/items")]


def test_the_emulator_keeps_no_request_log_by_default() -> None:
    from box_mcp.emulator.app import create_app

    app = create_app(memory=True)
    try:
        assert app.state.request_log is None
    finally:
        app.state.emulator.store.close()
