"""The fresh-clone test: the wheel built from the tracked files, installed in a clean venv, runs a governed
demo from another directory, and the call it shows as denied changed nothing in Box (the emulator)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

from box_mcp.emulator.testing import running_emulator

ROOT = Path(__file__).resolve().parents[2]

# Building (setuptools from the registry, as pip's build isolation does) and installing the dependencies
# into an empty venv took 34 s here (pip cache warm); `make test` and CI run slow tests too.
pytestmark = pytest.mark.slow


@dataclass
class Installed:
    venv: Path
    home: Path  # HOME, XDG data and BOX_MCP_DATA_DIR all live under it
    seconds: float  # build + venv + install

    @property
    def box_mcp(self) -> Path:
        return self.venv / "bin" / "box-mcp"

    def env(self) -> dict[str, str]:
        drop = ("BOX_", "PYTHON", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        return env | {
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "BOX_MCP_DATA_DIR": str(self.home / "data"),
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        }

    def run(self, *args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [str(self.box_mcp), *args],
            cwd=cwd,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _check(args: list[str], *, timeout: float, cwd: Path | None = None) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout)  # noqa: S603
    assert done.returncode == 0, f"{args[:4]}...: {done.stdout[-2000:]}{done.stderr[-4000:]}"


def fresh_clone(dest: Path) -> Path:
    """The files a clone would have: git's tracked files (with their working-tree content)."""
    listed = (
        subprocess.run(  # noqa: S603
            ["git", "-C", str(ROOT), "ls-files", "-z"],  # noqa: S607
            capture_output=True,
            check=True,
            timeout=60,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source, target = ROOT / name, dest / name
        if not source.is_symlink() and not source.exists():
            continue  # deleted in the work tree, not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)  # the repo-root `policies` stays a symlink
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    src = fresh_clone(base / "clone")
    _check(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(src)],
        timeout=300,
    )
    wheels = list((base / "dist").glob("box_mcp-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    # No --system-site-packages: clean. No pip of its own either: this pip installs into it (`--python`),
    # which spares the ~5 s of CPU that bootstrapping a second pip (ensurepip) costs.
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    _check(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--disable-pip-version-check",
            str(wheels[0]),
        ],
        timeout=600,
    )
    home = base / "home"
    home.mkdir()
    yield Installed(venv=venv, home=home, seconds=time.monotonic() - started)


def site_packages(venv: Path) -> Path:
    found = list((venv / "lib").glob("python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def test_the_installed_demo_is_governed_and_its_denied_delete_changes_nothing(
    installed: Installed, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"  # no policies/ here: only package data can govern the demo
    elsewhere.mkdir()
    done = installed.run("demo", "--script-only", "--port", "0", "--emulator-port", "0", cwd=elsewhere)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    policy = site_packages(installed.venv) / "box_mcp" / "policies" / "default.yaml"
    assert f"box-mcp demo: GOVERNED by {policy} (2 agents, 6 rules)" in done.stderr.splitlines()
    demo_dir = installed.home / "data" / "demo"  # BOX_MCP_DATA_DIR/demo
    creds = json.loads((demo_dir / "emulator" / "credentials.json").read_text())
    hr = creds["folders"]["HR"]
    out = done.stdout.splitlines()
    denied = out[out.index(f'-> delete_folder {{"folder_id": "{hr}", "recursive": true}}') + 1]
    assert denied.startswith(f"  <- error: Denied: delete_folder changes folder {hr}")
    audit = [line for line in out if line.startswith("Audit log: ")]
    assert len(audit) == 1 and ", chain ok. Read it with `box-mcp audit tail --dir " in audit[0]

    # Independently of the demo's own words: open the emulator state it left and look at HR.
    with running_emulator(memory=True, seed="demo") as fresh:
        token = fresh.token("ada")
        with httpx2.Client(base_url=fresh.base_url, headers={"Authorization": f"Bearer {token}"}) as http:
            seeded = http.get(f"/2.0/folders/{hr}/items", params={"limit": 1000}).json()
    with running_emulator(memory=False, data_dir=demo_dir / "emulator") as left:
        admin = next(u for u in creds["users"] if u["role"] == "admin")["developer_token"]
        with httpx2.Client(base_url=left.base_url, headers={"Authorization": f"Bearer {admin}"}) as http:
            folder = http.get(f"/2.0/folders/{hr}")
            items = http.get(f"/2.0/folders/{hr}/items", params={"limit": 1000})
    assert folder.status_code == 200 and folder.json()["name"] == "HR"
    assert items.status_code == 200
    assert [e["id"] for e in items.json()["entries"]] == [e["id"] for e in seeded["entries"]]
    assert seeded["total_count"] >= 2  # HR holds files and the Sandbox folder: there was something to lose


def test_the_installed_package_ships_the_example_policies_and_policy_init(
    installed: Installed, tmp_path: Path
) -> None:
    shipped = site_packages(installed.venv) / "box_mcp" / "policies"
    assert not shipped.is_symlink() and (shipped / "examples" / "analyst.yaml").is_file()
    cases = installed.run("policy", "test", str(shipped), cwd=tmp_path)
    assert cases.returncode == 0, cases.stdout + cases.stderr
    assert cases.stdout.splitlines()[-1].endswith("cases passed")
    init = installed.run("policy", "init", cwd=tmp_path)
    check = installed.run("policy", "check", "--strict", "policy.yaml", cwd=tmp_path)
    assert (init.returncode, check.returncode) == (0, 0), init.stderr + check.stderr
    version = installed.run("--version", cwd=tmp_path)
    from box_mcp import __version__

    assert version.stdout == f"box-mcp {__version__}\n"
    print(f"build + clean venv + install: {installed.seconds:.1f} s")  # shown with -s / -rP
