"""`box-mcp policy init` writes a starting policy; `policy test DIR` finds every case file; the policy
commands take their policy from BOX_MCP_POLICY as `serve` does."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from box_mcp.policy.cases import load_cases

SHIPPED = Path(__file__).resolve().parents[2] / "box_mcp" / "policies"


def box_mcp(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    base |= {"HOME": str(cwd), "XDG_DATA_HOME": str(cwd / "xdg"), "BOX_MCP_DATA_DIR": str(cwd / "data")}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "box_mcp", *args],
        cwd=cwd,
        env=base | env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o077),  # a strict umask must not make the policy private
    )


def test_policy_init_writes_a_commented_policy_that_checks_clean_and_is_0644(tmp_path: Path) -> None:
    done = box_mcp(tmp_path, "policy", "init")
    path = tmp_path / "policy.yaml"
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("wrote policy.yaml. Edit it, check it with `box-mcp policy check")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_text().startswith("# A starting box-mcp policy, written by `box-mcp policy init`.")
    check = box_mcp(tmp_path, "policy", "check", "--strict", "policy.yaml")
    assert (check.returncode, check.stdout) == (0, "policy.yaml: 1 agents, 1 rules, 0 errors, 0 warnings\n")


def test_policy_init_never_overwrites(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("my policy\n")
    done = box_mcp(tmp_path, "policy", "init", "mine.yaml")
    assert done.returncode == 2
    assert done.stderr == (
        "box-mcp policy: mine.yaml exists: not overwritten (remove it, or give another path)\n"
    )
    assert mine.read_text() == "my policy\n"


def test_policy_init_into_a_directory_writes_policy_yaml_there(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    assert box_mcp(tmp_path, "policy", "init", "conf").returncode == 0
    assert (tmp_path / "conf" / "policy.yaml").is_file()


def test_the_started_policy_governs_a_server(emulator_session: Any, tmp_path: Path) -> None:
    assert box_mcp(tmp_path, "policy", "init").returncode == 0
    ccg = emulator_session.credentials["ccg"]
    serve = box_mcp(
        tmp_path,
        "serve",
        "--transport",
        "stdio",
        "--box-url",
        emulator_session.base_url,
        BOX_MCP_POLICY="policy.yaml",
        BOX_CLIENT_ID=ccg["client_id"],
        BOX_CLIENT_SECRET=ccg["client_secret"],
        BOX_ENTERPRISE_ID=ccg["enterprise_id"],
    )
    assert serve.returncode == 0, serve.stderr
    assert serve.stderr.splitlines()[:3] == [
        "box-mcp serve: GOVERNED by policy.yaml (1 agents, 1 rules)",
        "box-mcp serve:   agent:        assistant",
        "box-mcp serve:   Box identity: CCG service account",
    ]


def test_policy_test_of_a_directory_runs_every_cases_file_below_it(tmp_path: Path) -> None:
    tree = tmp_path / "policies"
    shutil.copytree(SHIPPED, tree)
    files = sorted(tree.rglob("*.cases.yaml"))
    total = sum(len(load_cases(f)[0].cases) for f in files)
    assert len(files) == 9 and {"examples", "compose"} <= {f.parent.name for f in files}
    done = box_mcp(tmp_path, "policy", "test", "-v", "policies")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == f"{total}/{total} cases passed"
    assert done.stdout.count("PASS ") == total


def test_policy_test_of_a_directory_without_cases_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    done = box_mcp(tmp_path, "policy", "test", "empty")
    assert (done.returncode, done.stderr) == (
        2,
        "box-mcp policy: empty: no *.cases.yaml files in this directory or below it\n",
    )


def test_policy_check_and_explain_take_the_policy_from_box_mcp_policy(tmp_path: Path) -> None:
    policy = str(SHIPPED / "default.yaml")
    check = box_mcp(tmp_path, "policy", "check", BOX_MCP_POLICY=policy)
    explain = box_mcp(
        tmp_path,
        "policy",
        "explain",
        "--json",
        "--agent",
        "demo",
        "--tool",
        "delete_folder",
        "--uses",
        '[{"type":"folder","id":"200000000005","access":"write"}]',
        "--ancestry",
        '{"folder:200000000005": ["0"]}',
        BOX_MCP_POLICY=policy,
    )
    assert (check.returncode, check.stdout) == (0, f"{policy}: 2 agents, 6 rules, 0 errors, 0 warnings\n")
    assert explain.returncode == 0, explain.stderr
    assert json.loads(explain.stdout)["effect"] == "deny"


def test_policy_test_uses_box_mcp_policy_for_case_files_that_name_none(tmp_path: Path) -> None:
    cases = tmp_path / "mine.cases.yaml"
    cases.write_text(
        "cases:\n  - {name: demo reads, agent: demo, tool: who_am_i, expect: allow}\n"
        "  - {name: strangers do not, agent: nobody, tool: who_am_i, expect: deny}\n"
    )
    policy = str(SHIPPED / "default.yaml")
    done = box_mcp(tmp_path, "policy", "test", "mine.cases.yaml", BOX_MCP_POLICY=policy)
    assert (done.returncode, done.stdout) == (0, "2/2 cases passed\n")


def test_policy_check_with_no_policy_anywhere_says_where_one_comes_from(tmp_path: Path) -> None:
    done = box_mcp(tmp_path, "policy", "check")
    assert (done.returncode, done.stderr) == (
        2,
        "box-mcp policy: no policy given: pass its path, set BOX_MCP_POLICY, or write a starting one with "
        "`box-mcp policy init`\n",
    )
