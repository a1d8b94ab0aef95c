"""Issue 9: a number JSON cannot hold (NaN, Infinity, 1e400) must never stop the audit log.

One such number in a rejected call's unknown argument, in `limit`, or in metadata values used to make
the writer fail for good (later reads served unrecorded, writes refused). Now the call is refused by
argument validation, recorded with the number tagged, and the log keeps writing, over stdio and HTTP.
"""

from __future__ import annotations

import errno
import traceback
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

import box_mcp.audit.front as audit_front_module
import box_mcp.audit.log as audit_log_module
from box_mcp.audit import AuditLog, verify
from box_mcp.audit.record import build_body
from box_mcp.errors import AuditError
from tests.server.hostile_servers import (
    assert_audit_verifies,
    http_rpc,
    http_server,
    open_http_session,
    rpc_message,
    stdio_peer,
    tool_call,
    tool_call_records,
)

pytestmark = pytest.mark.anyio

NAN, INF = float("nan"), float("inf")
# The three hostile calls of the issue (raw JSON text: 1e400 parses to infinity), then a plain read
# that must still be served and recorded.
HOSTILE_CALLS = [
    ("who_am_i", '{"unknown": NaN}'),
    ("list_folder_content_by_folder_id", '{"folder_id": "0", "limit": 1e400}'),
    (
        "set_file_metadata",
        '{"file_id": "1", "template_key": "properties", "scope": "global", "values": {"amount": -Infinity}}',
    ),
]


def raw_call(request_id: int, name: str, arguments: str) -> bytes:
    return (
        f'{{"jsonrpc": "2.0", "id": {request_id}, "method": "tools/call", '
        f'"params": {{"name": "{name}", "arguments": {arguments}}}}}'
    ).encode()


def _read(directory: Path) -> list[dict[str, Any]]:
    import json

    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("audit-*.jsonl")):
        out += [json.loads(line) for line in path.read_bytes().split(b"\0", 1)[0].splitlines() if line]
    return out


async def test_non_finite_numbers_in_arguments_are_recorded_tagged_and_the_log_keeps_writing(
    audit_dir: Path,
) -> None:
    async with await AuditLog.open(audit_dir) as log:
        await log.append("call", tool="who_am_i", args={"x": NAN, "y": [INF, -INF], "z": 1.5}, latency_ms=NAN)
        await log.append("call", tool="who_am_i", args={})
    first, second = _read(audit_dir)
    assert first["args"] == {
        "x": {"$nonfinite": "NaN"},
        "y": [{"$nonfinite": "Infinity"}, {"$nonfinite": "-Infinity"}],
        "z": 1.5,
    }
    assert first["latency_ms"] == {"$nonfinite": "NaN"}
    assert second["seq"] == 2 and second["prev_hash"] == first["hash"]
    assert verify(audit_dir).status == "ok"


async def test_a_record_that_will_not_encode_is_written_in_a_safe_form_and_is_no_writer_failure(
    audit_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def unredacted(kind: str, fields: dict[str, Any], redactor: Any) -> dict[str, Any]:
        body = build_body(kind, fields, redactor)
        body["detail"] = {"raw": NAN, "object": object()}  # what a field skipping redaction could hold
        return body

    async with await AuditLog.open(audit_dir) as log:
        monkeypatch.setattr(audit_front_module, "build_body", unredacted)
        await log.append("call", tool="who_am_i")
        monkeypatch.undo()
        await log.append("call", tool="who_am_i")
        assert log.failure is None
    first, second = _read(audit_dir)
    assert first["detail"] == {"raw": {"$nonfinite": "NaN"}, "object": {"$unencodable": "object"}}
    assert second["seq"] == 2
    assert verify(audit_dir).status == "ok"


async def test_a_real_write_failure_names_no_path_and_later_refusals_do_not_grow_a_traceback(
    audit_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with await AuditLog.open(audit_dir) as log:

        def disk_full(fd: int, data: bytes, offset: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(audit_log_module, "_durable_write", disk_full)
        errors: list[AuditError] = []
        for _ in range(4):
            with pytest.raises(AuditError) as caught:
                await log.append("call", tool="who_am_i")
            errors.append(caught.value)
        monkeypatch.undo()
    messages = {str(e) for e in errors}
    assert messages == {
        "the audit log cannot write its records (No space left on device); tool calls are "
        "refused until the server's operator fixes the cause and restarts it"
    }
    assert str(audit_dir) not in next(iter(messages))
    lengths = [len(traceback.format_exception(e)) for e in errors[1:]]
    assert len(set(lengths)) == 1, lengths
    # The operator is told once, with the directory and the cause.
    told = [r for r in caplog.records if r.name == "box_mcp.audit"]
    assert len(told) == 1 and str(audit_dir) in told[0].getMessage() and told[0].exc_info is not None


async def _hostile_session_over_stdio(emulator: Any, data_dir: Path) -> list[dict[str, Any]]:
    answers = []
    async with stdio_peer(emulator, data_dir) as peer:
        with anyio.fail_after(30):
            for n, (name, args) in enumerate(HOSTILE_CALLS, start=1):
                await peer.send_line(raw_call(n, name, args))
                answers.append(await peer.answer(n))
            answers.append(await peer.request(tool_call(99, "who_am_i", {})))
    return answers


async def _hostile_session_over_http(emulator: Any, data_dir: Path) -> list[dict[str, Any]]:
    answers = []
    async with http_server(emulator, data_dir) as server, httpx2.AsyncClient(timeout=20) as http:
        headers = await open_http_session(http, server.url)
        with anyio.fail_after(30):
            for n, (name, args) in enumerate(HOSTILE_CALLS, start=1):
                response = await http.post(server.url, content=raw_call(n, name, args), headers=headers)
                answers.append(rpc_message(response))
            answers.append(await http_rpc(http, server.url, headers, tool_call(99, "who_am_i", {})))
    return answers


@pytest.mark.parametrize(
    "session", [_hostile_session_over_stdio, _hostile_session_over_http], ids=["stdio", "http"]
)
async def test_one_non_finite_number_cannot_blind_the_audit_of_a_real_server(
    emulator: Any,
    tmp_path: Path,
    session: Any,
) -> None:
    answers = await session(emulator, tmp_path)
    refused = [a["result"] for a in answers[:3]]
    assert all(r["isError"] for r in refused), refused
    assert "unknown: Extra inputs are not permitted" in refused[0]["content"][0]["text"]
    assert "limit: Input should be a finite number" in refused[1]["content"][0]["text"]
    assert "values.amount: a metadata value must be a finite number" in refused[2]["content"][0]["text"]
    served = answers[3]["result"]
    assert not served["isError"] and served["structuredContent"]["login"] == "ada@acme.example"
    calls = tool_call_records(tmp_path)
    assert [c["tool"] for c in calls] == [name for name, _ in HOSTILE_CALLS] + ["who_am_i"]
    assert calls[0]["args"] == {"unknown": {"$nonfinite": "NaN"}}
    assert calls[1]["args"]["limit"] == {"$nonfinite": "Infinity"}
    assert calls[2]["args"]["values"] == {"amount": {"$nonfinite": "-Infinity"}}
    assert calls[3]["outcome"]["status"] == "ok"
    assert_audit_verifies(tmp_path)
