"""Box requests per tool call for a realistic agent mix, through a real `box-mcp serve` under a confined
policy, counted by the emulator itself (warm cache: one unmeasured round first).

    python bench/box_requests.py [--rounds 5] [--quick] [--json]

Each round: list a folder x3, file details x2, file content, a search, create a folder, upload a file,
move it, copy a file, share a file. The policy confines the agent to one folder and forbids .exe files
(a name condition, so a move or copy learns the name of the file it keeps). Prints per tool the mean
requests per call and the exact requests (method + path, ids shown as {id}), and the mix average against
the targets (<= 1.2 on average, <= 2 for a governed move or copy). Then, apart from the mix, a move and a
copy of files box-mcp has never seen (uploaded by someone else: nothing cached). Token requests
(/oauth2/token) are counted apart and in the total.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

try:
    from _common import Results, clean_env, parser
except ModuleNotFoundError:  # run as `python -m bench.box_requests` from the repository
    from bench._common import Results, clean_env, parser
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from box_mcp.box.client import BoxClient, StaticToken
from box_mcp.emulator.request_log import RequestLog
from box_mcp.emulator.testing import RunningEmulator, running_emulator

CLI = [sys.executable, "-m", "box_mcp.cli"]
ROUND = (
    ["list_folder_content_by_folder_id"] * 3
    + ["get_file_details"] * 2
    + [
        "get_file_content",
        "search_files_keyword",
        "create_folder",
        "upload_file",
        "move_file",
        "copy_file",
        "add_file_shared_link",
    ]
)


def shape(path: str) -> str:
    path = re.sub(r"^/dl/[^/]+/", "/dl/{download token}/", path)  # the emulator's download URL
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


async def workspace(box: RunningEmulator) -> dict[str, str]:
    admin = BoxClient(
        token_source=StaticToken(box.token("ada")), base_url=box.base_url, upload_url=f"{box.base_url}/api"
    )
    async with admin:
        root = await admin.post("/folders", json={"name": "bench-requests", "parent": {"id": "0"}})
        src = await admin.post("/folders", json={"name": "src", "parent": {"id": root["id"]}})
        dst = await admin.post("/folders", json={"name": "dst", "parent": {"id": root["id"]}})
        report = await admin.upload(parent_id=src["id"], name="report.txt", source=b"Quarterly report\n")
    return {"root": root["id"], "src": src["id"], "dst": dst["id"], "report": report["id"]}


async def upload_elsewhere(box: RunningEmulator, ws: dict[str, str], name: str) -> str:
    """A file in src that someone else put there: box-mcp has never looked it up."""
    admin = BoxClient(
        token_source=StaticToken(box.token("ada")), base_url=box.base_url, upload_url=f"{box.base_url}/api"
    )
    async with admin:
        return str((await admin.upload(parent_id=ws["src"], name=name, source=b"cold\n"))["id"])


def arguments(tool: str, ws: dict[str, str], n: int, last_upload: str | None) -> dict[str, Any]:
    return {
        "list_folder_content_by_folder_id": {"folder_id": ws["src"]},
        "get_file_details": {"file_id": ws["report"]},
        "get_file_content": {"file_id": ws["report"]},
        "search_files_keyword": {"query": "report", "ancestor_folder_ids": [ws["root"]]},
        "create_folder": {"parent_folder_id": ws["root"], "name": f"made-{n}"},
        "upload_file": {"parent_folder_id": ws["src"], "name": f"notes-{n}.txt", "content_text": "notes"},
        "move_file": {"file_id": last_upload or "", "destination_folder_id": ws["dst"]},
        "copy_file": {
            "file_id": ws["report"],
            "destination_folder_id": ws["dst"],
            "new_name": f"copy-{n}.txt",
        },
        "add_file_shared_link": {"file_id": ws["report"], "access": "company"},
    }[tool]


async def measure(box: RunningEmulator, log: RequestLog, home: Path, rounds: int, out: Results) -> None:
    ws = await workspace(box)
    ada = next(u["id"] for u in box.credentials["users"] if u["login"].startswith("ada"))
    policy = home / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": 1,
                "default_agent": "bench",
                "agents": {"bench": {"acts_as": {"as_user": ada}}},
                "rules": [
                    {
                        "id": "workspace",
                        "effect": "permit",
                        "agents": ["bench"],
                        "access": "admin",
                        "within": [ws["root"]],
                    },
                    {
                        "id": "no-exe",
                        "effect": "forbid",
                        "agents": ["bench"],
                        "when": {"file_extensions": ["exe"]},
                    },
                ],
            }
        )
    )
    env = clean_env(
        BOX_DEVELOPER_TOKEN=box.token("ada"),
        BOX_MCP_DATA_DIR=str(home / "data"),
        HOME=str(home),
        XDG_DATA_HOME=str(home / "xdg"),
    )
    args = ["serve", "--transport", "stdio", "--box-url", box.base_url, "--policy", str(policy)]
    per_tool: dict[str, list[list[tuple[str, str]]]] = defaultdict(list)
    async with Client(StdioServerParameters(command=CLI[0], args=[*CLI[1:], *args], env=env)) as client:
        n, last_upload = 0, None
        for r in range(rounds + 1):  # round 0 warms the caches and is not counted
            for tool in ROUND:
                n += 1
                mark = log.mark()
                result = await client.call_tool(tool, arguments(tool, ws, n, last_upload))
                if result.is_error:
                    raise RuntimeError(f"{tool} failed: {result.content[0].text}")  # type: ignore[union-attr]
                if tool == "upload_file":
                    last_upload = str(result.structured_content["id"])  # type: ignore[index]
                if r:
                    per_tool[tool].append([(m, shape(p)) for m, p in log.since(mark)])
        cold: dict[str, list[list[tuple[str, str]]]] = defaultdict(list)
        for r in range(rounds):
            for tool in ("move_file", "copy_file"):
                other = await upload_elsewhere(box, ws, f"cold-{tool}-{r}.txt")  # not through box-mcp
                mark = log.mark()
                result = await client.call_tool(tool, {"file_id": other, "destination_folder_id": ws["dst"]})
                if result.is_error:
                    raise RuntimeError(f"{tool} failed: {result.content[0].text}")  # type: ignore[union-attr]
                cold[tool].append([(m, shape(p)) for m, p in log.since(mark)])
    total_calls = total_requests = 0
    for tool in dict.fromkeys(ROUND):
        calls = per_tool[tool]
        requests = sum(len(c) for c in calls)
        total_calls += len(calls)
        total_requests += requests
        seen = Counter(f"{m} {p}" for c in calls for m, p in c)
        out.say(f"{tool}: " + "; ".join(f"{k} x{v / len(calls):.2g}" for k, v in seen.items()))
        target = 2.0 if tool in ("move_file", "copy_file") else None
        out.figure(f"requests per call, {tool}", requests / len(calls), "requests", target)
    out.figure("requests per call, mix average (warm)", total_requests / total_calls, "requests", 1.2)
    for tool, calls in cold.items():
        seen = Counter(f"{m} {p}" for c in calls for m, p in c)
        out.say(
            f"{tool}, a file box-mcp has not seen: "
            + "; ".join(f"{k} x{v / len(calls):.2g}" for k, v in seen.items())
        )
        out.figure(
            f"requests per call, {tool} (cold)", sum(len(c) for c in calls) / len(calls), "requests", 2.0
        )


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    out = Results("box_requests", args)
    with (
        tempfile.TemporaryDirectory(prefix="box-requests-") as tmp,
        running_emulator(rate_limits=False, count_requests=True) as box,
    ):
        log = box.app.state.request_log
        asyncio.run(measure(box, log, Path(tmp), 1 if args.quick else args.rounds, out))
    return out.finish()


if __name__ == "__main__":
    sys.exit(main())
