"""Issue 9: hostile or malformed requests to a real `box-mcp serve` get a clear answer, never silence.

Duplicate in-flight ids, garbage stdio lines, malformed params, unknown prompts, a 406 without a body,
Host/Origin values that only start like an allowed one, and a slash redirect built from the Host header.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from box_mcp.emulator.testing import running_emulator
from tests.server.hostile_servers import (
    HEADERS,
    PROTOCOL,
    ccg_env,
    encode,
    http_rpc,
    http_server,
    init_message,
    open_http_session,
    stdio_peer,
    tool_call,
)

pytestmark = pytest.mark.anyio

APPROVAL_POLICY = """agents: {bot: {}}
rules:
  - {id: read, effect: permit, agents: [bot], access: read}
  - {id: ask, effect: require_approval, agents: [bot], tools: [who_am_i]}
"""
ELICITING = {
    "protocolVersion": PROTOCOL,
    "capabilities": {"elicitation": {}},
    "clientInfo": {"name": "h", "version": "1"},
}
DUPLICATE = (
    "Invalid request: id 7 is already in use by a request still in progress; give each request its own id"
)


def _bad(message: str) -> dict[str, Any]:
    return {"code": -32602, "message": message}


# (method, params, the JSON-RPC error): the caller's mistakes are -32602 naming the field; a method the
# server does not offer (box-mcp has no prompts) is JSON-RPC's -32601.
BAD_PARAMS = [
    (
        "tools/call",
        {"name": "who_am_i", "arguments": [1]},
        _bad("Invalid request parameters: params.arguments must be an object"),
    ),
    ("tools/call", {"arguments": {}}, _bad("Invalid request parameters: params.name is required")),
    (
        "tools/call",
        {"name": "who_am_i", "arguments": {}, "_meta": {"progressToken": [1]}},
        _bad("Invalid request parameters: params._meta.progressToken must be a string or an integer"),
    ),
    ("prompts/get", {"name": "nope"}, {"code": -32601, "message": "Method not found", "data": "prompts/get"}),
]


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Any]:
    with running_emulator(memory=True, seed="demo", rate_limits=False) as emu:
        yield emu


@pytest.fixture(scope="module")
async def served(module_emulator: Any, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    """One loopback HTTP server for the header tests, with two extra allowed hosts."""
    data = tmp_path_factory.mktemp("served")
    async with http_server(
        module_emulator, data, "--allowed-host", "mcp.example:8443", "--allowed-host", "[2001:db8::5]:8443"
    ) as server:
        yield server


def approval_policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(APPROVAL_POLICY)
    return path


async def test_a_reused_in_flight_id_on_stdio_is_refused_and_the_first_call_still_gets_its_answer(
    module_emulator: Any,
    tmp_path: Path,
) -> None:
    env_args = ("--policy", str(approval_policy(tmp_path)), "--agent", "bot")
    async with stdio_peer(
        module_emulator, tmp_path, *env_args, env=ccg_env(module_emulator), init_params=ELICITING
    ) as peer:
        with anyio.fail_after(20):
            await peer.send(tool_call(7, "who_am_i", {}))
            ask = await peer.next_message()  # the approval question holds call 7 in flight
            assert ask["method"] == "elicitation/create"
            duplicate = await peer.request(
                tool_call(7, "list_folder_content_by_folder_id", {"folder_id": "0"})
            )
            assert duplicate == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32600, "message": DUPLICATE}}
            as_text = await peer.request(tool_call("7", "who_am_i", {}))  # the SDK takes "7" for 7
            assert as_text == {
                "jsonrpc": "2.0",
                "id": "7",
                "error": {"code": -32600, "message": DUPLICATE.replace("id 7", 'id "7"')},
            }
            await peer.send({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "decline"}})
            first = await peer.answer(7)
            again = await peer.request(tool_call(7, "list_folder_content_by_folder_id", {"folder_id": "0"}))
    assert first["result"]["isError"] and "approval" in first["result"]["content"][0]["text"]
    assert not again["result"]["isError"]  # once answered, the id is free again


async def test_a_cancelled_id_on_stdio_is_free_again_and_the_cancelled_call_gets_no_answer(
    module_emulator: Any,
    tmp_path: Path,
) -> None:
    env_args = ("--policy", str(approval_policy(tmp_path)), "--agent", "bot")
    async with stdio_peer(
        module_emulator, tmp_path, *env_args, env=ccg_env(module_emulator), init_params=ELICITING
    ) as peer:
        with anyio.fail_after(20):
            await peer.send(tool_call(7, "who_am_i", {}))
            ask = await peer.next_message()  # call 7 waits for its approval
            assert ask["method"] == "elicitation/create"
            await peer.send(
                {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": 7, "reason": "changed my mind"},
                }
            )
            again = await peer.request(tool_call(7, "list_folder_content_by_folder_id", {"folder_id": "0"}))
            last = await peer.request(tool_call(8, "list_folder_content_by_folder_id", {"folder_id": "0"}))
    assert not again["result"]["isError"] and not last["result"]["isError"]
    assert not [m for m in peer.seen if m.get("id") == 7]  # one answer to 7: the second call's


async def test_a_reused_in_flight_id_on_an_http_session_is_refused_and_the_first_call_still_gets_its_answer(
    module_emulator: Any,
    tmp_path: Path,
) -> None:
    async with (
        http_server(
            module_emulator,
            tmp_path,
            "--policy",
            str(approval_policy(tmp_path)),
            "--agent",
            "bot",
            env=ccg_env(module_emulator),
        ) as server,
        httpx2.AsyncClient(timeout=20) as http,
    ):
        init = init_message() | {"params": ELICITING}
        opened = await http.post(server.url, content=encode(init), headers=HEADERS)
        headers = HEADERS | {
            "mcp-session-id": opened.headers["mcp-session-id"],
            "mcp-protocol-version": PROTOCOL,
        }
        await http.post(
            server.url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
        )
        first: dict[str, Any] = {}
        asked = anyio.Event()
        question: dict[str, Any] = {}

        async def first_call() -> None:
            async with http.stream(
                "POST", server.url, content=encode(tool_call(7, "who_am_i", {})), headers=headers
            ) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data:") or not line[5:].strip():
                        continue
                    message = json.loads(line[5:])
                    if message.get("method") == "elicitation/create":
                        question.update(message)
                        asked.set()
                    elif message.get("id") == 7:
                        first.update(message)
                        return

        with anyio.fail_after(20):
            async with anyio.create_task_group() as tg:
                tg.start_soon(first_call)
                await asked.wait()
                duplicate = await http.post(
                    server.url,
                    headers=headers,
                    content=encode(tool_call(7, "list_folder_content_by_folder_id", {"folder_id": "0"})),
                )
                await http.post(
                    server.url,
                    headers=headers,
                    content=encode({"jsonrpc": "2.0", "id": question["id"], "result": {"action": "decline"}}),
                )
    assert duplicate.status_code == 409
    assert duplicate.json() == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {
            "code": -32600,
            "message": "Invalid request: id 7 is already in use by a request still in progress "
            "on this session; give each request its own id",
        },
    }
    assert first["result"]["isError"] and "approval" in first["result"]["content"][0]["text"]


async def test_garbage_lines_and_malformed_params_on_stdio_get_clear_json_rpc_errors_and_no_traceback(
    module_emulator: Any,
    tmp_path: Path,
) -> None:
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        async with stdio_peer(module_emulator, tmp_path, stderr=stderr) as peer:
            with anyio.fail_after(20):
                garbage = []
                for line in (b"garbage {", b"\x00\xff\xfe", b'{"hello": 1}', b"[1, 2", b"42"):
                    await peer.send_line(line)
                    garbage.append(await peer.next_message())
                answers = [
                    await peer.request({"jsonrpc": "2.0", "id": n, "method": method, "params": params})
                    for n, (method, params, _) in enumerate(BAD_PARAMS, start=1)
                ]
                served = await peer.request(tool_call(99, "who_am_i", {}))
    codes = [(a["id"], a["error"]["code"]) for a in garbage]
    assert codes == [(None, -32700), (None, -32700), (None, -32600), (None, -32700), (None, -32600)]
    assert garbage[0]["error"]["message"] == (
        "Parse error: the line is not valid JSON; send one JSON-RPC 2.0 message per line"
    )
    assert [a["error"] for a in answers] == [error for _, _, error in BAD_PARAMS]
    assert not served["result"]["isError"]  # still serving
    assert "Traceback" not in stderr_path.read_text()


async def test_malformed_params_and_unknown_prompts_over_http_say_what_is_wrong(served: Any) -> None:
    async with httpx2.AsyncClient(timeout=20) as http:
        headers = await open_http_session(http, served.url)
        answers = [
            await http_rpc(
                http, served.url, headers, {"jsonrpc": "2.0", "id": n, "method": method, "params": params}
            )
            for n, (method, params, _) in enumerate(BAD_PARAMS, start=1)
        ]
    assert [a["error"] for a in answers] == [error for _, _, error in BAD_PARAMS]


async def test_host_and_origin_are_compared_exactly_by_host_and_port(served: Any) -> None:
    p = served.port
    hosts = {
        f"127.0.0.1:{p}": 200,
        f"localhost:{p}": 200,
        f"[::1]:{p}": 200,
        "127.0.0.1": 200,
        "mcp.example:8443": 200,
        "[2001:db8::5]:8443": 200,
        "MCP.example:8443": 200,
        f"127.0.0.1:{p}.evil.example": 421,
        f"localhost:{p}@evil.example": 421,
        f"localhost.evil:{p}": 421,
        "127.0.0.1:": 421,
        "127.0.0.1:99999": 421,
        "127.0.0.1:+80": 421,
        f"::1:{p}": 421,
        "mcp.example:8444": 421,
        "mcp.example": 421,
        "mcp.example:8443.evil.example": 421,
        "[2001:db8::5]:8444": 421,
        "[2001:db8::5]": 421,
        "2001:db8::5:8443": 421,
        "evil.example": 421,
    }
    origins = {
        "http://localhost:3000": 200,
        f"http://127.0.0.1:{p}": 200,
        "http://[::1]:5173": 200,
        "http://mcp.example:8443": 200,
        "https://mcp.example:8443": 200,
        f"http://127.0.0.1:{p}.evil.example": 403,
        f"http://localhost:{p}@evil.example": 403,
        "https://localhost:3000": 403,
        "http://localhost": 403,
        "http://localhost:3000/x": 403,
        "http://mcp.example:8443.evil": 403,
        "http://mcp.example": 403,
        "null": 403,
        "ftp://localhost:3000": 403,
    }
    got_hosts, got_origins = {}, {}
    async with httpx2.AsyncClient(timeout=20) as http:
        for host in hosts:
            response = await http.post(
                served.url, content=encode(init_message()), headers=HEADERS | {"Host": host}
            )
            got_hosts[host] = response.status_code
        for origin in origins:
            response = await http.post(
                served.url, content=encode(init_message()), headers=HEADERS | {"Origin": origin}
            )
            got_origins[origin] = response.status_code
    assert got_hosts == hosts
    assert got_origins == origins


async def test_a_406_says_which_accept_header_the_endpoint_needs(served: Any) -> None:
    modern = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/list",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}},
    }
    async with httpx2.AsyncClient(timeout=20) as http:
        response = await http.post(
            served.url,
            json=modern,
            headers={
                "Accept": "text/html",
                "Content-Type": "application/json",
                "mcp-protocol-version": "2026-07-28",
            },
        )
    assert response.status_code == 406
    assert response.json()["error"]["message"] == (
        "Not Acceptable: send the header Accept: application/json, text/event-stream "
        "(this endpoint answers in either)"
    )


async def test_a_trailing_slash_is_not_redirected_to_a_url_built_from_the_host_header(served: Any) -> None:
    async with httpx2.AsyncClient(timeout=20) as http:
        response = await http.get(
            served.url.removesuffix("/mcp") + "/healthz/", headers={"Host": "evil.example"}
        )
    assert (response.status_code, response.headers.get("location")) == (404, None)
