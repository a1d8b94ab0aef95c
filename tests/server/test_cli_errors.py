"""A mistake the user can fix, in any `box-mcp` sub-command, is one line on stderr and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from box_mcp.cli import main, user_error
from box_mcp.errors import ConfigError, PolicyError

DEMO_POLICY = Path(__file__).resolve().parents[2] / "box_mcp" / "policies" / "default.yaml"
BAD_POLICY = "agents: {a: {}}\nrules:\n  - id: r\n    effect: permit\n    agents: a\n    tools: [get_fil]\n"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any Box setting, with every per-user directory under tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    env |= {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "xdg"), "BOX_MCP_DATA_DIR": str(tmp_path)}
    return env | extra


def box_mcp(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "box_mcp", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path, **env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_serve_with_a_missing_policy_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    done = box_mcp(tmp_path, "serve", "--policy", "nope.yaml", BOX_DEVELOPER_TOKEN="t")
    assert done.returncode == 2
    assert done.stderr == "box-mcp serve: nope.yaml: no such policy file or directory\n"


def test_serve_with_a_bad_policy_prints_the_line_policy_check_prints(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_POLICY)
    check = box_mcp(tmp_path, "policy", "check", "bad.yaml")
    serve = box_mcp(tmp_path, "serve", "--policy", "bad.yaml", BOX_DEVELOPER_TOKEN="t")
    line = "bad.yaml:3: rule 'r' names unknown tool 'get_fil' (did you mean 'delete_file'?)"
    assert check.stderr.splitlines()[0] == line
    assert (serve.returncode, serve.stderr) == (2, f"box-mcp serve: {line}\n")


def test_the_policy_from_box_mcp_policy_is_checked_the_same_way(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(BAD_POLICY)
    done = box_mcp(tmp_path, "serve", BOX_DEVELOPER_TOKEN="t", BOX_MCP_POLICY="bad.yaml")
    assert done.returncode == 2
    line = "bad.yaml:3: rule 'r' names unknown tool 'get_fil' (did you mean 'delete_file'?)"
    assert done.stderr == f"box-mcp serve: {line}\n"


def test_an_agent_the_policy_does_not_name_fails_at_start(tmp_path: Path) -> None:
    done = box_mcp(
        tmp_path, "serve", "--policy", str(DEMO_POLICY), "--agent", "nobody", BOX_DEVELOPER_TOKEN="t"
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"box-mcp serve: --agent / BOX_MCP_AGENT 'nobody' is not an agent of the policy {DEMO_POLICY} "
        "(its agents: contracts-bot, demo): pass --agent with one of them, or set default_agent\n"
    )


def test_a_policy_without_default_agent_needs_an_agent_for_stdio(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text('agents: {a: {acts_as: {as_user: "1"}}}\n')
    done = box_mcp(tmp_path, "serve", "--policy", "p.yaml", BOX_DEVELOPER_TOKEN="t")
    assert done.returncode == 2
    assert done.stderr == (
        "box-mcp serve: the policy p.yaml names no default_agent, and 'default' is not one of its agents "
        "(its agents: a): pass --agent with one of them, or set default_agent\n"
    )


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda tmp: tmp / "missing", "no such directory (create it, or correct the path)"),
        (lambda tmp: tmp / "bad.yaml", "not a directory (give the folder files may be saved in)"),
    ],
    ids=["missing", "a file"],
)
def test_an_unusable_allowed_dir_fails_at_start(tmp_path: Path, make: Any, problem: str) -> None:
    (tmp_path / "bad.yaml").write_text("x")
    path = make(tmp_path)
    done = box_mcp(tmp_path, "serve", "--allowed-dir", str(path), BOX_DEVELOPER_TOKEN="t")
    assert (done.returncode, done.stderr) == (
        2,
        f"box-mcp serve: --allowed-dir / BOX_MCP_ALLOWED_DIRS {path}: {problem}\n",
    )


def test_serve_without_a_credential_says_what_to_set(tmp_path: Path) -> None:
    done = box_mcp(tmp_path, "serve")
    assert done.returncode == 2
    assert done.stderr.startswith("box-mcp serve: no Box credential: set BOX_DEVELOPER_TOKEN")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["emulator", "--data-dir", "{tmp}/a-file/state"],
            "box-mcp emulator: {tmp}/a-file/state: Not a directory (check the path and its permissions)\n",
        ),
        (
            ["audit", "new-key", "{tmp}/no-dir/key"],
            "box-mcp audit: {tmp}/no-dir/key: No such file or directory "
            "(check the path and its permissions)\n",
        ),
        (
            ["policy", "init", "{tmp}/no-dir/policy.yaml"],
            "box-mcp policy: {tmp}/no-dir/policy.yaml: No such file or directory "
            "(check the path and its permissions)\n",
        ),
        (
            ["auth", "status"],
            "box-mcp auth: cannot read the Box JWT config {tmp}/no-such.json: No such file or directory\n",
        ),
    ],
    ids=["emulator", "audit", "policy", "auth"],
)
def test_every_area_prints_a_path_problem_as_one_line_with_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    (tmp_path / "a-file").write_text("x")
    done = box_mcp(
        tmp_path, *(a.format(tmp=tmp_path) for a in args), BOX_JWT_CONFIG_FILE=str(tmp_path / "no-such.json")
    )
    assert (done.returncode, done.stderr) == (2, expected.format(tmp=tmp_path))


def test_box_mcp_version_prints_the_package_version(tmp_path: Path) -> None:
    from box_mcp import __version__

    done = box_mcp(tmp_path, "--version")
    assert (done.returncode, done.stdout) == (0, f"box-mcp {__version__}\n")


def test_the_demo_refuses_to_run_without_its_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from box_mcp import demo

    monkeypatch.setattr(demo, "POLICY_DIR", tmp_path / "gone")
    code = main(["demo", "--script-only", "--port", "0", "--emulator-port", "0", "--data-dir", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err == (
        "box-mcp demo: the demo policy is missing from this box-mcp installation "
        f"({tmp_path}/gone/default.yaml); reinstall box-mcp (the demo never runs without its policy)\n"
    )


def test_only_errors_a_user_can_fix_lose_their_traceback() -> None:
    assert user_error(ConfigError("bad port")) == "bad port"
    assert user_error(ExceptionGroup("tg", [PolicyError("p.yaml:1: bad")])) == "p.yaml:1: bad"
    assert user_error(FileNotFoundError(2, "No such file or directory", "/x")) == (
        "/x: No such file or directory (check the path and its permissions)"
    )
    assert user_error(ExceptionGroup("tg", [ConfigError("bad"), RuntimeError("bug")])) is None
    assert user_error(KeyError("bug")) is None
    assert user_error(ConnectionResetError()) is None  # no path the user gave: a bug until shown otherwise
