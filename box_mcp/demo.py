"""`box-mcp demo`: the emulator and box-mcp on loopback, governed by the shipped demo policy, with client
config that pastes and works, and a scripted session; `box-mcp demo --stdio` serves that demo on stdio."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx2

from box_mcp._serving import bind, serving
from box_mcp.config import Settings
from box_mcp.errors import ConfigError

Out = Callable[[str], None]

POLICY_DIR = Path(__file__).resolve().with_name("policies")  # package data: there however it is installed
DEMO_AGENT = "demo"
DEFAULT_EMULATOR_PORT = 8089  # beside `box-mcp emulator`'s 8088, so both can run
STATE_FILE = "demo.json"  # in the demo's data dir: the emulator port the last run used


def demo_policy() -> Path:
    """The policy every demo runs with. Missing means a broken install: never run the demo ungoverned."""
    path = POLICY_DIR / "default.yaml"
    if not path.is_file():
        raise ConfigError(
            f"the demo policy is missing from this box-mcp installation ({path}); reinstall box-mcp "
            "(the demo never runs without its policy)"
        )
    return path


def sign_in_policy() -> Path:
    """The policy of `box-mcp demo --sign-in`: each signed-in person as their own Box user."""
    path = POLICY_DIR / "examples" / "demo-people.yaml"
    if not path.is_file():
        raise ConfigError(
            f"the demo's sign-in policy is missing from this installation ({path}); reinstall box-mcp"
        )
    return path


def sign_in_config(mcp_url: str) -> str:
    """How a person connects a client by URL to the demo's remote sign-in, and what they will see."""
    return "\n".join(
        [
            f"Connect by URL (OAuth): {mcp_url}",
            "  Claude Code:  claude mcp add --transport http box-demo " + mcp_url,
            "  VS Code (.vscode/mcp.json): "
            + json.dumps({"servers": {"box-demo": {"type": "http", "url": mcp_url}}}),
            "  Cursor (~/.cursor/mcp.json): " + json.dumps({"mcpServers": {"box-demo": {"url": mcp_url}}}),
            "  Claude.ai / Claude Desktop custom connectors connect from Anthropic's cloud, so they need a",
            "    public https URL: run `box-mcp serve` behind a tunnel or proxy with --public-url (README,",
            '    "Connect Claude.ai / Claude Desktop / VS Code / Cursor by URL").',
            "What the person sees: box-mcp's consent page (the client, where the answer goes, the",
            "policy agent), then the emulator's Box sign-in (pick a seeded user, e.g. Bob Builder; no",
            "password), then the client is connected and every call runs as that Box user under the",
            "demo's people policy.",
        ]
    )


def command_prefix() -> list[str]:
    """How to start this same box-mcp from anywhere: the script that is running, else this Python."""
    script = sys.argv[0] if sys.argv else ""
    if Path(script).name in ("box-mcp", "box-mcp.exe") and Path(script).is_file():
        return [os.path.abspath(script)]  # abspath, not resolve: pipx's symlink survives upgrades
    return [sys.executable, "-m", "box_mcp"]


def _read_state(data_dir: Path) -> dict[str, Any]:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def _write_state(data_dir: Path, **values: Any) -> None:
    state = _read_state(data_dir) | values
    (data_dir / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")


def emulator_socket(data_dir: Path, requested: int | None) -> tuple[Any, str | None]:
    """The emulator's socket: the port asked for; else the last run's (or 8089), falling back to a free
    port when that one is busy. The port used is recorded, so the next run (and `demo --stdio`) use it."""
    if requested is not None:
        sock, note = bind(requested), None
    else:
        preferred = int(_read_state(data_dir).get("emulator_port") or DEFAULT_EMULATOR_PORT)
        try:
            sock, note = bind(preferred), None
        except ConfigError:
            sock = bind(0)
            note = f"port {preferred} is busy: the emulator uses {sock.getsockname()[1]} (kept for next time)"
    _write_state(data_dir, emulator_port=sock.getsockname()[1])
    return sock, note


def client_config(prefix: list[str], mcp_url: str, data_dir: Path) -> str:
    """Ready-to-paste config for the common MCP clients, each naming this box-mcp by absolute path."""
    stdio_args = ["demo", "--stdio", "--data-dir", str(data_dir)]
    stdio = {"command": prefix[0], "args": [*prefix[1:], *stdio_args]}
    stdio_line = shlex.join([*prefix, *stdio_args])
    key_input = {"type": "promptString", "id": "box-mcp-key", "description": "API key", "password": True}
    keyed = {"type": "http", "url": mcp_url, "headers": {"Authorization": "Bearer ${input:box-mcp-key}"}}
    keyed_vscode = {"inputs": [key_input], "servers": {"box": keyed}}
    return "\n".join(
        [
            f"box-mcp executable: {shlex.join(prefix)}",
            "Connect a client while this demo runs (stdio clients start their own box-mcp as the demo",
            "agent, with the demo policy, against this demo's emulator):",
            "",
            "Claude Code, stdio:",
            f"  claude mcp add box-demo -- {stdio_line}",
            "Claude Code, HTTP:",
            f"  claude mcp add --transport http box-demo {mcp_url}",
            "",
            "Claude Desktop (claude_desktop_config.json), stdio:",
            json.dumps({"mcpServers": {"box-demo": stdio}}, indent=2),
            "",
            "VS Code (.vscode/mcp.json), HTTP:",
            json.dumps({"servers": {"box-demo": {"type": "http", "url": mcp_url}}}, indent=2),
            "",
            "Any stdio client:",
            f"  {stdio_line}",
            "",
            "When a policy gives agents API keys (`box-mcp policy new-key AGENT`), HTTP clients send one:",
            f'  claude mcp add --transport http box {mcp_url} --header "Authorization: Bearer $BOX_MCP_KEY"',
            "  VS Code (.vscode/mcp.json; it asks for the key once and stores it as a secret):",
            json.dumps(keyed_vscode, indent=2),
        ]
    )


def _show(result: Any, limit: int = 400) -> str:
    text = " ".join(getattr(block, "text", "[embedded resource]") for block in result.content)
    text = text if len(text) <= limit else text[:limit] + " ..."
    return ("  <- error: " if result.is_error else "  <- ok: ") + text


async def scripted_session(mcp_url: str, files: dict[str, str], folders: dict[str, str], out: Out) -> int:
    """A handful of calls through a real MCP client over HTTP; returns how many failed unexpectedly."""
    from mcp.client import Client

    readme = files.get("Engineering/README.md", "1")
    hr = folders.get("HR", "1")
    stamp = time.strftime("%H%M%S")
    calls: list[tuple[str, dict[str, Any], bool]] = [  # (tool, args, expected to fail)
        ("who_am_i", {}, False),
        ("list_folder_content_by_folder_id", {"folder_id": "0", "limit": 20}, False),
        ("search_files_keyword", {"query": "budget", "limit": 5}, False),
        ("get_file_content", {"file_id": readme}, False),
        (
            "create_folder",
            {"parent_folder_id": folders.get("Engineering", "0"), "name": f"Agent notes {stamp}"},
            False,
        ),
        # The demo policy lets the agent write only in Contracts/Inbox and Engineering: a denial.
        ("delete_folder", {"folder_id": hr, "recursive": True}, True),
        ("get_folder_details", {"folder_id": hr}, False),  # ... and HR is still there
        ("get_file_details", {"file_id": "999999999"}, True),
        ("create_folder", {"parent_folder_id": "0", "name": "bad/name"}, True),
    ]
    unexpected = 0
    async with Client(mcp_url) as client:
        tools = await client.list_tools()
        out(f"tools/list: {len(tools.tools)} tools")
        for tool, args, should_fail in calls:
            out(f"-> {tool} {json.dumps(args)}")
            result = await client.call_tool(tool, args)
            out(_show(result))
            unexpected += int(bool(result.is_error) != should_fail)
    return unexpected


async def _demo(
    port: int,
    emulator_port: int | None,
    data_dir: Path,
    script: bool,
    script_only: bool,
    out: Out,
    sign_in: bool = False,
) -> int:
    policy = sign_in_policy() if sign_in else demo_policy()
    from box_mcp.audit import verify
    from box_mcp.deployment import open_deployment
    from box_mcp.emulator.app import create_app
    from box_mcp.server_cli import startup_summary

    emu_dir = data_dir / "emulator"
    emu_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    async with AsyncExitStack() as stack:
        mcp_sock = bind(port)
        stack.callback(mcp_sock.close)
        emu_sock, port_note = emulator_socket(data_dir, emulator_port)
        stack.callback(emu_sock.close)
        box_url = f"http://127.0.0.1:{emu_sock.getsockname()[1]}"
        mcp_port = mcp_sock.getsockname()[1]
        mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
        emu_app = create_app(data_dir=emu_dir, seed="demo", base_url=box_url)
        creds = emu_app.state.emulator.credentials
        if sign_in:  # only box-mcp's Box OAuth app: each person brings their own Box sign-in
            settings = Settings.load(
                env={},
                transport="http",
                box_url=box_url,
                data_dir=data_dir / "sign-in",
                oauth_client_id=creds["oauth"]["client_id"],
                oauth_client_secret=creds["oauth"]["client_secret"],
                policy=policy,
            )
        else:
            settings = Settings.load(
                env={},
                transport="http",
                box_url=box_url,
                data_dir=data_dir,
                agent=DEMO_AGENT,
                developer_token=_admin(creds)["developer_token"],
                policy=policy,
            )
        await stack.enter_async_context(serving(emu_app, emu_sock))
        deployment = await stack.enter_async_context(open_deployment(settings, transport="http"))
        app = deployment.http_app(port=mcp_port)
        for line in startup_summary(deployment, prefix="box-mcp demo"):
            print(line, file=sys.stderr, flush=True)
        await stack.enter_async_context(serving(app, mcp_sock))
        if port_note:
            out(f"note: {port_note}")
        if sign_in:
            urls = deployment.remote_urls
            assert urls is not None  # the people policy turns remote sign-in on
            out(f"Box emulator: {box_url}  (state in {emu_dir})")
            out(f"box-mcp:      {urls.resource}  (remote sign-in: each person as their own Box user)")
            out(f"policy:       {policy}  (GOVERNED)")
            out(f"audit log:    {settings.data_dir / 'audit'}")
            out("")
            out(sign_in_config(urls.resource))
            out("")
            async with httpx2.AsyncClient() as http:  # the discovery a URL-only client starts with
                challenge = (await http.post(urls.resource, json={})).headers.get("www-authenticate", "")
                meta = (
                    await http.get(f"http://127.0.0.1:{mcp_port}/.well-known/oauth-authorization-server")
                ).json()
            out(f"Discovery: /mcp answers 401 with {challenge}")
            out(
                f"           authorization server {meta['issuer']}, "
                f"registration {meta['registration_endpoint']}"
            )
            if not script_only:
                await _serve_until_stopped(out)
            return 0
        out(f"Box emulator: {box_url}  (state in {emu_dir})")
        out(f"box-mcp:      {mcp_url}  (agent '{DEMO_AGENT}'; the agent never sees a Box token)")
        out(f"policy:       {policy}  (GOVERNED)")
        out(f"audit log:    {data_dir / 'audit'}  (box-mcp audit tail --dir {data_dir / 'audit'})")
        out("")
        out(client_config(command_prefix(), mcp_url, data_dir))
        out("")
        out("Remote sign-in (connect a client by URL with OAuth; each person as their own Box user):")
        out("  box-mcp demo --sign-in")
        out("")
        if script or script_only:
            out("Scripted session through a real MCP client over HTTP:")
            failures = await scripted_session(mcp_url, creds.get("files", {}), creds.get("folders", {}), out)
            out("")
            # Every call above returned only once its record was on disk: the chain proves it.
            report = await anyio.to_thread.run_sync(verify, data_dir / "audit")
            out(
                f"Audit log: {report.count} records, chain {report.status}. Read it with "
                f"`box-mcp audit tail --dir {data_dir / 'audit'}`; prove it with `audit verify`."
            )
            out("")
        if not script_only:
            await _serve_until_stopped(out)
    return 1 if failures else 0


async def _serve_until_stopped(out: Out) -> None:
    out("Serving. Press Ctrl-C to stop.")
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for _ in signals:
            break
    out("Stopping.")


def _admin(credentials: dict[str, Any]) -> dict[str, Any]:
    return next(u for u in credentials["users"] if u.get("role") == "admin")


async def _stdio(data_dir: Path) -> int:
    """The demo agent on stdio: the demo policy, against the emulator a running `box-mcp demo` serves."""
    import httpx2

    from box_mcp.deployment import open_deployment
    from box_mcp.server_cli import startup_summary

    policy = demo_policy()
    port = _read_state(data_dir).get("emulator_port")
    box_url = f"http://127.0.0.1:{port}"
    start = f"start `box-mcp demo --data-dir {data_dir}` in a terminal first (it serves until Ctrl-C)"
    try:
        creds = json.loads((data_dir / "emulator" / "credentials.json").read_text(encoding="utf-8"))
        token = _admin(creds)["developer_token"]
        if not isinstance(port, int):
            raise ValueError("no emulator port recorded")
    except (OSError, ValueError, KeyError, StopIteration):
        raise ConfigError(f"no demo in {data_dir}: {start}") from None
    try:
        async with httpx2.AsyncClient(timeout=5.0) as http:
            await http.get(f"{box_url}/2.0/users/me", headers={"Authorization": f"Bearer {token}"})
    except httpx2.TransportError:
        raise ConfigError(f"the demo's Box emulator is not running at {box_url}: {start}") from None
    settings = Settings.load(
        env={},
        transport="stdio",
        box_url=box_url,
        data_dir=data_dir / "stdio",  # its own audit log: two servers never append to one chain
        agent=DEMO_AGENT,
        developer_token=token,
        policy=policy,
    )
    async with open_deployment(settings, transport="stdio") as deployment:
        for line in startup_summary(deployment, prefix="box-mcp demo"):
            print(line, file=sys.stderr, flush=True)
        await deployment.server.run_stdio()
    return 0


def _directory(data_dir: Path | None) -> Path:
    """--data-dir, else `demo` in $BOX_MCP_DATA_DIR (as `serve` uses it), else in the per-user data dir."""
    if data_dir is None:
        data_dir = Settings.load().data_dir / "demo"
    return Path(data_dir).expanduser().absolute()


def run(
    *,
    port: int = 8000,
    emulator_port: int | None = None,
    data_dir: Path | None = None,
    script: bool = True,
    script_only: bool = False,
    out: Out | None = None,
    sign_in: bool = False,
) -> int:
    def say(line: str) -> None:
        print(line, flush=True)

    directory = _directory(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    return anyio.run(_demo, port, emulator_port, directory, script, script_only, out or say, sign_in)


def run_stdio(*, data_dir: Path | None = None) -> int:
    return anyio.run(_stdio, _directory(data_dir))
