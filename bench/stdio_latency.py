"""box-mcp over stdio beside a bare MCP SDK stdio server doing the same Box request, in one run.

    python bench/stdio_latency.py [--calls 300] [--no-governed] [--profile DIR] [--quick] [--json]

Both servers are real processes spoken to by the same client (the mcp SDK's stdio client), against one
Box emulator in its own process on loopback (no added Box latency):
  - box-mcp: `box-mcp serve --transport stdio` with default settings plus a developer token (so the
    gate, the broker and the durable audit log are all on), calling list_folder_content_by_folder_id;
  - bare: a script written into a temporary directory, on the same SDK's MCPServer, whose one tool sends
    the very same GET /2.0/folders/{id}/items (same query) with httpx2 and returns Box's JSON;
  - governed: box-mcp again, under a small confined policy (one agent acting as the admin via As-User,
    reads permitted within one folder only) with the audit on, listing that folder; the bare server lists
    the same folder beside it, so the ratio shows what governance costs on top.
Rounds interleave one call of each side, so load from other processes hits every side alike. Prints
p50/p99 per side and the ratios box-mcp / bare (target <= 1.15x at p50). Loops are bounded in count
and in time. `--profile DIR` runs each box-mcp under pyinstrument (the `bench` extra) and leaves its
report in DIR/<side>.txt and .html (the figures are then slower, the profile is the point).
The servers' stderr goes to a file, shown if one fails.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TextIO

from _common import Results, answers, clean_env, free_port, parser, pct, process
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from box_mcp.tools.models import ITEM_FIELDS

TIME_BUDGET = 60.0  # seconds for the measured rounds, whatever the counts say
TARGET = 1.15
LIMIT = 100  # list_folder_content_by_folder_id's default page size: the bare tool asks for the same

BARE_SERVER = '''\
"""A bare MCP stdio server (the mcp SDK's MCPServer) whose one tool lists a Box folder."""
import sys

import httpx2
from mcp.server.mcpserver import MCPServer

BOX_URL, TOKEN, FIELDS, LIMIT = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
server = MCPServer("bare-box", log_level="WARNING")
http = httpx2.AsyncClient(base_url=BOX_URL + "/2.0", headers={"Authorization": f"Bearer {TOKEN}"})


@server.tool()
async def list_items(folder_id: str) -> dict:
    """List a Box folder's items."""
    response = await http.get(
        f"/folders/{folder_id}/items", params={"usemarker": "true", "limit": LIMIT, "fields": FIELDS}
    )
    response.raise_for_status()
    return response.json()


server.run("stdio")
'''


def confined_policy(directory: Path, creds: dict[str, Any], folder_id: str) -> Path:
    """One agent acting as the admin (As-User), permitted to read within one folder, no rate limit."""
    admin = next(u["id"] for u in creds["users"] if u["role"] == "admin")
    path = directory / "confined-policy.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "default_agent": "bench",
                "agents": {"bench": {"acts_as": {"as_user": admin}}},
                "rules": [
                    {
                        "id": "bench-read",
                        "effect": "permit",
                        "agents": ["bench"],
                        "access": "read",
                        "within": [folder_id],
                    }
                ],
            }
        )
    )
    return path


def profiled(profiler: str, report: Path, serve: list[str], env: dict[str, str]) -> tuple[str, list[str]]:
    """The command and arguments that run `python <serve>` under the profiler, reporting to `report`."""
    report.parent.mkdir(parents=True, exist_ok=True)
    report = report.resolve()
    if profiler == "py-spy":  # writes when the server exits (the client closes its stdin)
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
        if spy is None:
            raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
        return spy, [
            "record",
            "--rate",
            "2000",
            "--format",
            "raw",
            "--output",
            f"{report}.txt",
            "--",
            sys.executable,
            *serve,
        ]
    env["BENCH_PROFILE_OUT"] = str(report)
    return sys.executable, [str(Path(__file__).with_name("_profiled.py")), *serve]


Op = Callable[[], Awaitable[None]]


def tool_op(client: Client, tool: str, args: dict[str, Any]) -> Op:
    async def op() -> None:
        result = await client.call_tool(tool, args)
        if result.is_error:
            raise RuntimeError(f"{tool} failed: {result.content}")

    return op


async def measure(
    sides: dict[str, tuple[StdioServerParameters, str, dict[str, Any]]], calls: int, warm: int, errlog: TextIO
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in sides}
    async with AsyncExitStack() as stack:
        ops: dict[str, Op] = {}
        for name, (params, tool, args) in sides.items():
            client = await stack.enter_async_context(Client(stdio_client(params, errlog=errlog)))
            ops[name] = tool_op(client, tool, args)
        for op in ops.values():
            for _ in range(warm):
                await op()
        stop_at = time.monotonic() + TIME_BUDGET
        for _ in range(calls):
            for name, op in ops.items():
                started = time.perf_counter()
                await op()
                samples[name].append((time.perf_counter() - started) * 1000)
            if time.monotonic() > stop_at:
                break
    return samples


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--calls", type=int, default=300, help="calls per side (interleaved rounds)")
    p.add_argument(
        "--no-governed",
        dest="governed",
        action="store_false",
        help="leave out the governed box-mcp (confined policy + audit)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run each box-mcp under a profiler; its report in DIR/<side>.*",
    )
    p.add_argument(
        "--profiler",
        choices=("py-spy", "pyinstrument"),
        default="py-spy",
        help="py-spy (sampling from outside: collapsed stacks, DIR/<side>.txt) or "
        "pyinstrument (in the process: DIR/<side>.txt and .html); both in the bench extra",
    )
    args = p.parse_args()
    calls, warm = (20, 3) if args.quick else (args.calls, max(10, args.calls // 10))
    out = Results("stdio_latency", args)
    py = sys.executable
    with tempfile.TemporaryDirectory(prefix="box-mcp-stdio-bench-") as tmp:
        base = Path(tmp)
        emu_port = free_port()
        box_url = f"http://127.0.0.1:{emu_port}"
        emulator = [
            py,
            "-m",
            "box_mcp.cli",
            "emulator",
            "--port",
            str(emu_port),
            "--data-dir",
            str(base / "emulator"),
            "--no-rate-limits",
        ]
        with process(emulator, answers(box_url + "/2.0/users/me")):
            creds = json.loads((base / "emulator" / "credentials.json").read_text())
            token = next(u["developer_token"] for u in creds["users"] if u["role"] == "admin")
            confined = str(creds["folders"]["Engineering"])
            bare_script = base / "bare_server.py"
            bare_script.write_text(BARE_SERVER)

            def bare_server(name: str) -> StdioServerParameters:
                env = clean_env(HOME=str(base / "home"))
                argv = [str(bare_script), box_url, token, ITEM_FIELDS, str(LIMIT)]
                if args.profile:
                    command, argv = profiled(args.profiler, args.profile / name, argv, env)
                    return StdioServerParameters(command=command, args=argv, env=env)
                return StdioServerParameters(command=py, args=argv, env=env)

            def box_mcp(name: str, *extra: str) -> StdioServerParameters:
                home = base / name
                env = clean_env(
                    BOX_DEVELOPER_TOKEN=token,
                    BOX_MCP_DATA_DIR=str(home / "data"),
                    HOME=str(home),
                    XDG_DATA_HOME=str(home / "xdg"),
                )
                serve = ["-m", "box_mcp.cli", "serve", "--transport", "stdio", "--box-url", box_url, *extra]
                if args.profile:
                    command, serve = profiled(args.profiler, args.profile / name, serve, env)
                    return StdioServerParameters(command=command, args=serve, env=env)
                return StdioServerParameters(command=py, args=serve, env=env)

            tool = "list_folder_content_by_folder_id"
            sides: dict[str, tuple[StdioServerParameters, str, dict[str, Any]]] = {
                "bare SDK server, folder 0": (bare_server("bare"), "list_items", {"folder_id": "0"}),
                "box-mcp, folder 0": (box_mcp("plain"), tool, {"folder_id": "0"}),
            }
            if args.governed:
                policy = confined_policy(base, creds, confined)
                sides |= {
                    "bare SDK server, confined folder": (
                        bare_server("bare-confined"),
                        "list_items",
                        {"folder_id": confined},
                    ),
                    "box-mcp governed, confined folder": (
                        box_mcp("governed", "--policy", str(policy)),
                        tool,
                        {"folder_id": confined},
                    ),
                }
            with (base / "servers.log").open("w+") as errlog:
                try:
                    samples = asyncio.run(measure(sides, calls, warm, errlog))
                except BaseException:
                    errlog.seek(0)
                    sys.stderr.write(errlog.read()[-3000:])
                    raise

    out.say(
        "box-mcp: default settings + developer token (gate, broker, durable audit); governed: "
        "a confined policy (As-User, reads within one folder) + audit; rounds interleaved"
    )
    out.say(f"{'':36}{'p50 ms':>10}{'p99 ms':>10}{'n':>6}")
    for name, values in samples.items():
        out.say(f"{name:36}{pct(values, 50):10.2f}{pct(values, 99):10.2f}{len(values):6d}")
    bare0, ours0 = samples["bare SDK server, folder 0"], samples["box-mcp, folder 0"]
    out.figure("box-mcp list folder p50", pct(ours0, 50), "ms")
    out.figure("bare SDK server list folder p50", pct(bare0, 50), "ms")
    out.ratio("box-mcp / bare SDK server p50", pct(ours0, 50) / pct(bare0, 50), TARGET)
    out.ratio("box-mcp / bare SDK server p99", pct(ours0, 99) / pct(bare0, 99))
    if args.governed:
        bare_c = samples["bare SDK server, confined folder"]
        gov = samples["box-mcp governed, confined folder"]
        out.figure("box-mcp governed list folder p50", pct(gov, 50), "ms")
        out.ratio("box-mcp governed / bare SDK server p50", pct(gov, 50) / pct(bare_c, 50))
        out.ratio("box-mcp governed / bare SDK server p99", pct(gov, 99) / pct(bare_c, 99))
    return out.finish()


if __name__ == "__main__":
    sys.exit(main())
