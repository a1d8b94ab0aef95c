"""Start one box-mcp replica of compose.yaml: Box credentials, API key hashes into the policy, then serve.

1. Box credentials: when BOX_CLIENT_ID is unset and the emulator's credentials.json is readable
   (EMULATOR_CREDENTIALS, default /data/emulator/credentials.json), its Client Credentials app is used.
   Against real Box, set BOX_CLIENT_ID, BOX_CLIENT_SECRET and BOX_ENTERPRISE_ID in deploy/box-mcp.env.
2. API keys: AGENT_KEYS="assistant=sha256:<hex> reporter=sha256:<hex>" (the lines `box-mcp policy
   new-key AGENT` prints; only hashes, never keys) are added to those agents' `keys:` in a copy of the
   policy directory (POLICY_SOURCE, default /policies/compose) written to POLICY_COPY (default
   /tmp/policy). Edit the policy, then restart the replicas to serve the edit.
3. exec `box-mcp serve` with the copy as its policy (every other setting comes from BOX_MCP_* variables).

Runs inside the image (Python and PyYAML are there); tests/e2e/test_graceful_shutdown.py runs it too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import NoReturn

import yaml

HASH = re.compile(r"^sha256:[0-9a-fA-F]{64}$")
REQUIRED = ("BOX_MCP_VAULT_KEY", "BOX_MCP_DATABASE_URL")


def fail(message: str) -> NoReturn:
    print(f"start-replica: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def box_credentials(env: dict[str, str]) -> None:
    if env.get("BOX_CLIENT_ID") or env.get("BOX_DEVELOPER_TOKEN") or env.get("BOX_JWT_CONFIG_FILE"):
        return
    path = Path(env.get("EMULATOR_CREDENTIALS", "/data/emulator/credentials.json"))
    try:
        ccg = json.loads(path.read_text(encoding="utf-8"))["ccg"]
    except (OSError, ValueError, KeyError) as exc:
        fail(
            f"no Box credentials: BOX_CLIENT_ID is unset and {path} cannot be read ({type(exc).__name__}). "
            "Set BOX_CLIENT_ID, BOX_CLIENT_SECRET and BOX_ENTERPRISE_ID in deploy/box-mcp.env, or start "
            "the emulator service first"
        )
    env["BOX_CLIENT_ID"] = ccg["client_id"]
    env["BOX_CLIENT_SECRET"] = ccg["client_secret"]
    env["BOX_ENTERPRISE_ID"] = ccg["enterprise_id"]


def parse_keys(text: str) -> dict[str, list[str]]:
    """`agent=sha256:<hex>` pairs, separated by spaces or commas; an agent may be named more than once."""
    keys: dict[str, list[str]] = {}
    for pair in text.replace(",", " ").split():
        agent, sep, digest = pair.partition("=")
        if not sep or not agent or not HASH.match(digest):
            shown = pair if not sep else f"{agent}=…"  # never echo what may be a key
            fail(
                f"AGENT_KEYS entry {shown!r} is not AGENT=sha256:<64 hex digits>: put the sha256 line "
                "`box-mcp policy new-key AGENT` prints (not the key itself)"
            )
        keys.setdefault(agent, []).append(digest.lower())
    return keys


def policy_copy(source: Path, target: Path, keys: dict[str, list[str]]) -> None:
    if not source.is_dir():
        fail(f"policy directory {source} does not exist (compose.yaml mounts ./policies/compose there)")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    known: set[str] = set()
    for path in sorted(source.iterdir()):
        if path.suffix not in (".yaml", ".yml") or path.name.endswith(".cases.yaml"):
            continue
        text = path.read_text(encoding="utf-8")
        doc = yaml.safe_load(text)
        agents = doc.get("agents") if isinstance(doc, dict) else None
        named = {name: entry for name, entry in (agents or {}).items() if name in keys}
        known.update(agents or {})
        for name, entry in named.items():
            entry["keys"] = list(dict.fromkeys([*(entry.get("keys") or []), *keys[name]]))
        if named:  # rewritten (comments are lost in the copy); other files are copied as they are
            text = f"# Generated from {path} by start-replica.py (AGENT_KEYS added).\n" + yaml.safe_dump(
                doc, sort_keys=False
            )
        (target / path.name).write_text(text, encoding="utf-8")
    unknown = sorted(set(keys) - known)
    if unknown:
        agents = ", ".join(sorted(known)) or "none"
        fail(f"AGENT_KEYS names {', '.join(unknown)}, not agents of {source} (its agents: {agents})")


def main() -> None:
    env = dict(os.environ)
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        fail(
            f"{' and '.join(missing)} unset: copy deploy/box-mcp.env.example to deploy/box-mcp.env and fill "
            "it in (every replica must get the same values)"
        )
    box_credentials(env)
    keys = parse_keys(env.get("AGENT_KEYS", ""))
    if not keys:
        fail(
            "AGENT_KEYS is empty, so no agent could connect: mint a key with `box-mcp policy new-key "
            "assistant` and put AGENT_KEYS=assistant=sha256:... in deploy/box-mcp.env"
        )
    target = Path(env.get("POLICY_COPY", "/tmp/policy"))  # noqa: S108 - the container's own tmpfs
    policy_copy(Path(env.get("POLICY_SOURCE", "/policies/compose")), target, keys)
    argv = [sys.executable, "-m", "box_mcp.cli", "serve", "--transport", "http", "--policy", str(target)]
    os.execve(sys.executable, argv, env)  # noqa: S606 - becomes the server: signals reach it directly


if __name__ == "__main__":
    main()
