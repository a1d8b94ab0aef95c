"""`box-mcp demo`: the emulator and box-mcp over HTTP on loopback, client config, a scripted session."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
from mcp.client import Client

from box_mcp.config import Settings, default_data_dir
from box_mcp.http.serving import bind, serving

Out = Callable[[str], None]


def demo_policy() -> Path | None:
    """policies/default.yaml beside the package (a source checkout); None when installed without it."""
    path = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
    return path if path.is_file() else None


def client_config(mcp_url: str, box_url: str, credentials_path: Path, login: str) -> str:
    """Ready-to-paste config for the common MCP clients."""
    token_hint = f"<developer_token of {login} from {credentials_path}>"
    stdio = {
        "command": "box-mcp",
        "args": ["serve", "--transport", "stdio", "--box-url", box_url],
        "env": {"BOX_DEVELOPER_TOKEN": token_hint},
    }
    return "\n".join(
        [
            "Claude Desktop (claude_desktop_config.json, stdio):",
            json.dumps({"mcpServers": {"box": stdio}}, indent=2),
            "",
            "VS Code (.vscode/mcp.json, HTTP):",
            json.dumps({"servers": {"box": {"type": "http", "url": mcp_url}}}, indent=2),
            "",
            "Claude Code:",
            f"  claude mcp add --transport http box {mcp_url}",
            "",
            "Any client, stdio form:",
            f"  BOX_DEVELOPER_TOKEN='{token_hint}' box-mcp serve --transport stdio --box-url {box_url}",
        ]
    )


def _show(result: Any, limit: int = 400) -> str:
    text = " ".join(getattr(block, "text", "[embedded resource]") for block in result.content)
    text = text if len(text) <= limit else text[:limit] + " ..."
    return ("  <- error: " if result.is_error else "  <- ok: ") + text


async def scripted_session(
    mcp_url: str, files: dict[str, str], folders: dict[str, str], out: Out, *, governed: bool
) -> int:
    """A handful of calls through a real MCP client over HTTP; returns how many failed unexpectedly."""
    readme = files.get("Engineering/README.md", "1")
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
        # Under the demo policy the agent may write only in Contracts/Inbox and Engineering: a denial.
        ("delete_folder", {"folder_id": folders.get("HR", "1"), "recursive": True}, governed),
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


async def _demo(port: int, data_dir: Path, script: bool, script_only: bool, out: Out) -> int:
    policy = demo_policy()
    from box_mcp.emulator.app import create_app
    from box_mcp.http.app import create_http_app
    from box_mcp.server import open_deployment

    emu_dir = data_dir / "emulator"
    emu_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    async with AsyncExitStack() as stack:
        emu_sock = bind(0)
        stack.callback(emu_sock.close)
        mcp_sock = bind(port)
        stack.callback(mcp_sock.close)
        box_url = f"http://127.0.0.1:{emu_sock.getsockname()[1]}"
        mcp_port = mcp_sock.getsockname()[1]
        mcp_url = f"http://127.0.0.1:{mcp_port}/mcp"
        emu_app = create_app(data_dir=emu_dir, seed="demo", base_url=box_url)
        creds = emu_app.state.emulator.credentials
        admin = next(u for u in creds["users"] if u.get("role") == "admin")
        settings = Settings.load(
            env={},
            transport="http",
            box_url=box_url,
            data_dir=data_dir,
            agent="demo",
            developer_token=admin["developer_token"],
            policy=policy,
        )
        await stack.enter_async_context(serving(emu_app, emu_sock))
        server, hooks = await open_deployment(settings, stack, transport="http")
        mcp_app = create_http_app(server, host="127.0.0.1", port=mcp_port, authenticate=hooks.authenticate)
        await stack.enter_async_context(serving(mcp_app, mcp_sock))
        out(f"Box emulator: {box_url}  (state in {emu_dir})")
        out(f"box-mcp:      {mcp_url}  (agent 'demo'; the agent never sees a Box token)")
        out(f"policy:       {policy or 'none (every call allowed)'}")
        out(f"audit log:    {data_dir / 'audit'}  (box-mcp audit tail --dir {data_dir / 'audit'})")
        out("")
        out(client_config(mcp_url, box_url, emu_dir / "credentials.json", admin["login"]))
        out("")
        if script or script_only:
            out("Scripted session through a real MCP client over HTTP:")
            failures = await scripted_session(
                mcp_url,
                creds.get("files", {}),
                creds.get("folders", {}),
                out,
                governed=settings.policy is not None,
            )
            out("")
            if hooks.audit is not None:
                from box_mcp.audit import verify

                # Every call above returned only once its record was on disk: the chain proves it.
                report = await anyio.to_thread.run_sync(verify, data_dir / "audit")
                out(f"Audit log: {report.count} records, chain {report.status}. Read it with "
                    f"`box-mcp audit tail --dir {data_dir / 'audit'}`; prove it with `audit verify`.")
                out("")
        if not script_only:
            out("Serving. Press Ctrl-C to stop.")
            with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
                async for _ in signals:
                    break
            out("Stopping.")
    return 1 if failures else 0


def run(
    *,
    port: int = 8000,
    data_dir: Path | None = None,
    script: bool = True,
    script_only: bool = False,
    out: Out | None = None,
) -> int:
    def say(line: str) -> None:
        print(line, flush=True)

    directory = Path(data_dir) if data_dir is not None else default_data_dir() / "demo"
    return anyio.run(_demo, port, directory, script, script_only, out or say)


if __name__ == "__main__":
    sys.exit(run())
