"""`box-mcp demo` prints client config that pastes and works: the stdio command it prints, run as printed,
serves the demo agent under the demo policy against the demo's emulator, whose port stays put across runs."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.text import TextReceiveStream
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from box_mcp import demo

BOX_MCP = Path(sys.executable).with_name("box-mcp")  # the venv's script, as a user runs it
DEMO_POLICY = Path(__file__).resolve().parents[2] / "box_mcp" / "policies" / "default.yaml"


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOX_")}
    dirs = {"HOME": tmp_path, "XDG_DATA_HOME": tmp_path / "xdg", "BOX_MCP_DATA_DIR": tmp_path}
    return env | {name: str(path) for name, path in dirs.items()}


def _block_after(lines: list[str], heading: str) -> str:
    """The JSON printed under `heading`, up to the next blank line."""
    start = lines.index(heading) + 1
    end = lines.index("", start)
    return "\n".join(lines[start:end])


@pytest.mark.anyio
@pytest.mark.slow
async def test_the_printed_stdio_command_serves_the_demo_agent_under_its_policy(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    ports = ["--port", "0", "--emulator-port", "0"]
    args = [str(BOX_MCP), "demo", "--no-script", *ports, "--data-dir", str(data)]
    lines: list[str] = []
    with anyio.fail_after(90):
        async with await anyio.open_process(args, env=clean_env(tmp_path), cwd=tmp_path) as proc:
            assert proc.stdout is not None
            try:
                buffer = ""
                async for chunk in TextReceiveStream(proc.stdout):
                    buffer += chunk
                    if "Serving. Press Ctrl-C to stop." in buffer:
                        break
                lines = buffer.splitlines()
                stdio_line = next(line for line in lines if line.startswith("  claude mcp add box-demo -- "))
                command = shlex.split(stdio_line.removeprefix("  claude mcp add box-demo -- "))
                params = StdioServerParameters(command=command[0], args=command[1:], env=clean_env(tmp_path))
                async with Client(params) as client:
                    tools = (await client.list_tools()).tools
                    me = await client.call_tool("who_am_i", {})
                    hr = demo_folder(data, "HR")
                    denied = await client.call_tool("delete_folder", {"folder_id": hr, "recursive": True})
                    still = await client.call_tool("get_folder_details", {"folder_id": hr})
            finally:
                proc.send_signal(signal.SIGINT)
            assert await proc.wait() == 0
    assert command == [str(BOX_MCP), "demo", "--stdio", "--data-dir", str(data)]
    desktop = json.loads(_block_after(lines, "Claude Desktop (claude_desktop_config.json), stdio:"))
    assert desktop == {"mcpServers": {"box-demo": {"command": command[0], "args": command[1:]}}}
    assert len(tools) > 30
    assert not me.is_error and me.structured_content["login"] == "ada@acme.example"
    assert denied.is_error and denied.content[0].text.startswith("Denied: delete_folder")
    assert not still.is_error and still.structured_content["name"] == "HR"


def demo_folder(data: Path, name: str) -> str:
    return str(json.loads((data / "emulator" / "credentials.json").read_text())["folders"][name])


def test_the_printed_keyed_http_config_shows_how_a_client_sends_its_key() -> None:
    text = demo.client_config(["/opt/bin/box-mcp"], "http://127.0.0.1:8000/mcp", Path("/data/demo"))
    lines = text.splitlines()
    assert (
        '  claude mcp add --transport http box http://127.0.0.1:8000/mcp --header "Authorization: Bearer '
        '$BOX_MCP_KEY"' in lines
    )
    heading = "  VS Code (.vscode/mcp.json; it asks for the key once and stores it as a secret):"
    vscode = json.loads(_block_after([*lines, ""], heading))
    assert vscode == {
        "inputs": [{"type": "promptString", "id": "box-mcp-key", "description": "API key", "password": True}],
        "servers": {
            "box": {
                "type": "http",
                "url": "http://127.0.0.1:8000/mcp",
                "headers": {"Authorization": "Bearer ${input:box-mcp-key}"},
            }
        },
    }
    assert "box-mcp executable: /opt/bin/box-mcp" in lines


def test_the_demo_emulator_keeps_its_port_across_runs(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    sock, _ = demo.emulator_socket(data, 0)  # what an earlier run records: the free port it got
    earlier = sock.getsockname()[1]
    sock.close()
    done = subprocess.run(  # noqa: S603
        [str(BOX_MCP), "demo", "--script-only", "--port", "0", "--data-dir", str(data)],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    line = f"Box emulator: http://127.0.0.1:{earlier}  (state in {data / 'emulator'})"
    assert line in done.stdout.splitlines()
    assert json.loads((data / "demo.json").read_text()) == {"emulator_port": earlier}


def test_a_busy_recorded_port_falls_back_to_a_free_one_and_records_it(tmp_path: Path) -> None:
    sock, note = demo.emulator_socket(tmp_path, 0)
    sock.listen()  # a running demo's emulator: the next run cannot have its port
    recorded = sock.getsockname()[1]
    try:
        other, note = demo.emulator_socket(tmp_path, None)
    finally:
        sock.close()
    moved = other.getsockname()[1]
    other.close()
    again, _ = demo.emulator_socket(tmp_path, None)
    reused = again.getsockname()[1]
    again.close()
    assert moved != recorded
    assert note == f"port {recorded} is busy: the emulator uses {moved} (kept for next time)"
    assert reused == moved


def test_demo_stdio_without_a_running_demo_says_to_start_one(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    done = subprocess.run(  # noqa: S603
        [str(BOX_MCP), "demo", "--stdio", "--data-dir", str(data)],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (
        2,
        f"box-mcp demo: no demo in {data}: start `box-mcp demo --data-dir {data}` in a terminal first "
        "(it serves until Ctrl-C)\n",
    )


def test_demo_stdio_when_the_demo_stopped_names_the_emulator_url(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    data.mkdir()
    sock, _ = demo.emulator_socket(data, 0)  # record a port ...
    port = sock.getsockname()[1]
    sock.close()  # ... on which nothing listens any more
    (data / "emulator").mkdir()
    creds: dict[str, Any] = {"users": [{"role": "admin", "developer_token": "t"}]}
    (data / "emulator" / "credentials.json").write_text(json.dumps(creds))
    done = subprocess.run(  # noqa: S603
        [str(BOX_MCP), "demo", "--stdio", "--data-dir", str(data)],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (
        2,
        f"box-mcp demo: the demo's Box emulator is not running at http://127.0.0.1:{port}: start "
        f"`box-mcp demo --data-dir {data}` in a terminal first (it serves until Ctrl-C)\n",
    )


def test_the_sign_in_demo_prints_the_url_to_add_and_answers_discovery(tmp_path: Path) -> None:
    """`box-mcp demo --sign-in`: the real command, no credentials in the environment; it serves the
    people policy as an OAuth server, prints the URL to add and how, and checks discovery live."""
    done = subprocess.run(  # noqa: S603
        [
            str(BOX_MCP),
            "demo",
            "--sign-in",
            "--script-only",
            "--port",
            "0",
            "--emulator-port",
            "0",
            "--data-dir",
            str(tmp_path / "d"),
        ],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    url = next(
        line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("Connect by URL")
    )
    assert url.startswith("http://127.0.0.1:") and url.endswith("/mcp")
    assert f"claude mcp add --transport http box-demo {url}" in done.stdout
    assert 'resource_metadata="' in done.stdout and "registration http://127.0.0.1:" in done.stdout
    assert "each signed-in person (people)" in done.stderr and f"people connect by URL {url}" in done.stderr
