"""`box-mcp audit export --format jsonl|ocsf` and the audit sink (HTTP JSON lines, syslog), in process,
on the file log and on PostgreSQL (the `log_kind` fixture runs each test against both)."""

from __future__ import annotations

import argparse
import http.server
import json
import socket
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest
from pydantic import SecretStr

from box_mcp.audit import AuditLog
from box_mcp.audit.cli import register
from box_mcp.audit.ocsf import to_ocsf
from box_mcp.audit.record import record_hash
from box_mcp.audit.sink import (
    FileCursor,
    FileSource,
    HTTPTransport,
    Line,
    SinkFollower,
    SyslogTransport,
    parse_sink,
    syslog_message,
)
from box_mcp.errors import ConfigError

pytestmark = pytest.mark.anyio


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="box-mcp")
    register(parser.add_subparsers())
    args = parser.parse_args(["audit", *argv])
    return int(args.func(args))


@dataclass
class Log:
    kind: str
    audit_dir: Path
    url: str | None = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[Any]:
        if self.url is None:
            async with await AuditLog.open(self.audit_dir) as log:
                yield log
            return
        from box_mcp.state.audit import PostgresAuditLog

        async with await PostgresAuditLog.open(SecretStr(self.url)) as log:
            yield log

    def source_args(self) -> list[str]:
        return ["--dir", str(self.audit_dir)] if self.url is None else ["--database-url", self.url]


@pytest.fixture(params=["file", "postgresql"])
def log_kind(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Log]:
    monkeypatch.delenv("BOX_MCP_DATABASE_URL", raising=False)
    monkeypatch.setenv("BOX_MCP_DATA_DIR", str(tmp_path / "data"))
    if request.param == "file":
        yield Log("file", tmp_path / "audit")
        return
    from tests.state.pg import fresh_database

    with fresh_database("sink") as url:
        yield Log("postgresql", tmp_path / "audit", url)


async def _fill(log: Any) -> None:
    await log.append(
        "call",
        agent="contracts-bot",
        tool="get_file_details",
        items=[{"type": "file", "id": "1300000000001", "name": "MSA.pdf"}],
        args={"file_id": "1300000000001", "password": "hunter2-secret"},
        decision={"effect": "allow", "rules": ["contracts-read"]},
        outcome={"status": "ok"},
        latency_ms=3.2,
        detail={"call_id": "c1", "transport": "http"},
        session_id="s1",
        client_name="claude",
    )
    intent = await log.intent(agent="contracts-bot", tool="delete_file", items=[{"type": "file", "id": "7"}])
    await log.outcome(
        intent,
        agent="contracts-bot",
        tool="delete_file",
        decision={"effect": "deny", "rules": ["no-delete"]},
        outcome={"status": "denied", "message": "Denied: not here"},
    )
    await log.append("sign_in", detail={"step": "signed_in", "box_user_id": "30000000001", "login": "ada@x"})
    await log.append("broker", acting_as="service_account", detail={"event": "refresh"})
    await log.append("policy_load", detail={"file": "p.yaml", "sha256": "ab"})


async def test_export_jsonl_is_the_log_s_own_lines_and_ocsf_maps_each_kind(
    log_kind: Log, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with log_kind.open() as log:
        await _fill(log)
    out = tmp_path / "export.jsonl"
    assert (
        run("export", *log_kind.source_args(), "--format", "jsonl", "--since", "1h", "--out", str(out)) == 0
    )
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    lines = out.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5, 6]
    for rec in records:  # each line is the record as logged: its hash still verifies
        assert record_hash({k: v for k, v in rec.items() if k not in ("hash", "mac")}) == rec["hash"]
    assert b"hunter2-secret" not in out.read_bytes()  # masked in the log, masked in the export
    assert run("export", *log_kind.source_args(), "--format", "jsonl", "--out", str(out)) == 3
    assert "exists" in capsys.readouterr().err

    capsys.readouterr()
    assert run("export", *log_kind.source_args(), "--format", "ocsf", "--since", "2000-01-01") == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["class_uid"] for e in events] == [6003, 6003, 6003, 3002, 3002, 6002]
    assert [e["metadata"]["uid"] for e in events] == [r["hash"] for r in records]
    call, intent, outcome, signin, broker, load = events
    assert call["activity_id"] == 2 and call["type_uid"] == 600302 and call["status_id"] == 1
    assert call["api"]["operation"] == "get_file_details" and call["disposition_id"] == 1
    assert call["resources"] == [{"uid": "1300000000001", "type": "file", "name": "MSA.pdf"}]
    assert call["actor"]["app_name"] == "contracts-bot" and call["src_endpoint"]["svc_name"] == "http"
    assert call["unmapped"]["box_mcp"]["args"]["password"] == "[masked]"
    assert intent["status_id"] == 0 and intent["activity_id"] == 4
    assert outcome["status_id"] == 2 and outcome["disposition_id"] == 2 and outcome["severity_id"] == 3
    assert outcome["metadata"]["correlation_uid"] == records[1]["id"]
    assert signin["activity_id"] == 1 and signin["status_id"] == 1 and signin["user"]["uid"] == "30000000001"
    assert broker["activity_id"] == 99 and broker["status_detail"] == "refresh"
    assert load["class_uid"] == 6002 and load["activity_name"] == "policy_load"
    assert all(isinstance(e["time"], int) for e in events)

    capsys.readouterr()
    assert run("export", *log_kind.source_args(), "--format", "jsonl", "--until", "2000-01-01") == 0
    assert capsys.readouterr().out == ""
    assert run("export", *log_kind.source_args(), "--since", "1h", "--until", "2h") == 3
    assert "must come after" in capsys.readouterr().err
    assert run("export", *log_kind.source_args()) == 3
    assert "--format jsonl|ocsf" in capsys.readouterr().err


def test_an_unknown_tool_and_an_unknown_kind_still_map() -> None:
    base = {"seq": 1, "hash": "h", "time": "2026-12-03T10:00:00.000001Z"}
    assert to_ocsf({**base, "kind": "call", "tool": "nope"})["activity_id"] == 0
    assert to_ocsf({**base, "kind": "call", "tool": "upload_file"})["activity_id"] == 1
    assert to_ocsf({**base, "kind": "call", "tool": "update_file_properties"})["activity_id"] == 3
    assert to_ocsf({**base, "kind": "session_start"})["activity_id"] == 99
    assert to_ocsf({**base, "kind": "log_recovery"})["class_uid"] == 6002
    failed = to_ocsf({**base, "kind": "sign_in", "detail": {"step": "box_denied"}})
    assert failed["status_id"] == 2
    assert to_ocsf({**base, "kind": "broker", "detail": {"event": "refresh_failed"}})["status_id"] == 2


# --- the sink ---------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A loopback HTTP receiver that refuses the first `fail_first` deliveries with 503."""

    fail_first: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    posts: int = 0

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.posts += 1
                if receiver.posts <= receiver.fail_first:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                assert self.headers["Content-Type"] == "application/x-ndjson"
                receiver.keys.append(self.headers["Idempotency-Key"])
                receiver.lines += [json.loads(line) for line in body.splitlines()]
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("the sink did not get there in time")


def test_a_sink_url_is_checked_and_never_shown_with_its_secret() -> None:
    target = parse_sink(SecretStr("https://ingest:s3cret-pass@siem.example/box?token=tok-123"))
    assert target.display == "https://siem.example:443/box"
    assert "s3cret" not in repr(target) and "tok-123" not in target.display
    assert parse_sink(SecretStr("syslog://logs.example")).port == 514
    assert parse_sink(SecretStr("syslog+tcp://logs.example:1514")).port == 1514
    for bad in ("ftp://x", "https://", "http://siem.example/x", "syslog://u:p@logs.example"):
        with pytest.raises(ConfigError) as caught:
            parse_sink(SecretStr(bad))
        assert "p@" not in str(caught.value)


async def test_the_sink_delivers_every_record_after_refusals_and_resumes_from_its_cursor(
    tmp_path: Path,
) -> None:
    receiver = Receiver(fail_first=3)
    audit_dir, data = tmp_path / "audit", tmp_path
    url = SecretStr(f"http://user:pw-secret@127.0.0.1:{receiver.port}/ingest")
    target = parse_sink(url)
    try:
        async with await AuditLog.open(audit_dir) as log:
            for i in range(25):
                await log.append(
                    "call", agent="a", tool="get_file_details", outcome={"status": "ok"}, latency_ms=i
                )
            transport = HTTPTransport(target)
            follower = SinkFollower(
                FileSource(audit_dir, lambda: log.last_seq),
                FileCursor(data, target.key),
                transport,
                display=target.display,
                batch=10,
                poll=0.01,
                backoff_base=0.01,
                backoff_cap=0.02,
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(follower.run)
                await _until(lambda: follower.position >= 25)
                # later records go too
                await log.append("call", agent="a", tool="who_am_i", outcome={"status": "ok"})
                follower.nudge()
                await _until(lambda: follower.position >= 26)
                tg.cancel_scope.cancel()
            await transport.aclose()
            cursor_file = data / f"audit-sink-{target.key}.cursor"
            assert stat.S_IMODE(cursor_file.stat().st_mode) == 0o600
            assert json.loads(cursor_file.read_text())["seq"] == 26
            # a restart with the cursor sends nothing again
            again = SinkFollower(
                FileSource(audit_dir, lambda: log.last_seq),
                FileCursor(data, target.key),
                HTTPTransport(target),
                display=target.display,
            )
            again.position = again.cursor.load()
            assert not await again.step()
    finally:
        receiver.close()
    assert [r["seq"] for r in receiver.lines] == list(range(1, 27))
    assert receiver.posts == 3 + 4  # three refusals, then batches of 10, 10, 5 and 1
    assert len(set(receiver.keys)) == len(receiver.keys)
    assert follower.delivered == 26 and follower.failures == 0


async def test_syslog_over_udp_and_tcp_is_rfc5424(tmp_path: Path) -> None:
    line = Line(7, "ab" * 32, "call", "2026-12-03T10:00:00.123456Z", b'{"kind":"call","seq":7}')
    message = syslog_message(line, hostname="host one", procid=42)
    assert message.startswith(
        b'<110>1 2026-12-03T10:00:00.123456Z hostone box-mcp 42 call [box-mcp@32473 seq="7" hash="'
    )
    assert message.endswith(b'"] \xef\xbb\xbf{"kind":"call","seq":7}')
    denied = Line(8, "cd" * 32, "call", line.time, b'{"outcome":{"status":"denied"}}')
    assert syslog_message(denied, hostname="h", procid=1).startswith(b"<108>1 ")

    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    transport = SyslogTransport(
        parse_sink(SecretStr(f"syslog://127.0.0.1:{udp.getsockname()[1]}")), tcp=False
    )
    try:
        await transport.deliver([line, denied])
        got = [udp.recv(65535), udp.recv(65535)]
    finally:
        await transport.aclose()
        udp.close()
    assert got[0].endswith(line.data) and got[1].endswith(denied.data)

    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    received = bytearray()

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            while chunk := conn.recv(65535):
                received.extend(chunk)

    thread = threading.Thread(target=accept)
    thread.start()
    tcp = SyslogTransport(
        parse_sink(SecretStr(f"syslog+tcp://127.0.0.1:{listener.getsockname()[1]}")), tcp=True
    )
    try:
        await tcp.deliver([line, denied])
    finally:
        await tcp.aclose()
        thread.join(5)
        listener.close()
    frames, rest = [], bytes(received)
    while rest:  # octet counting: "LEN SP MSG"
        size, _, rest = rest.partition(b" ")
        frames.append(rest[: int(size)])
        rest = rest[int(size) :]
    assert [f.rsplit(b"\xef\xbb\xbf", 1)[1] for f in frames] == [line.data, denied.data]


async def test_a_receiver_that_is_down_is_retried_and_the_delivery_error_names_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there
    target = parse_sink(SecretStr(f"http://u:pw-in-url@127.0.0.1:{port}/x?token=tok-in-url"))
    async with await AuditLog.open(tmp_path / "audit") as log:
        await log.append("call", agent="a", tool="t", outcome={"status": "ok"})
        follower = SinkFollower(
            FileSource(tmp_path / "audit", lambda: log.last_seq),
            FileCursor(tmp_path, target.key),
            HTTPTransport(target),
            display=target.display,
            backoff_base=0.001,
            backoff_cap=0.002,
        )
        assert not await follower.step() and not await follower.step()
        await follower.transport.aclose()
    assert follower.failures == 2 and follower.position == 0
    assert not (tmp_path / f"audit-sink-{target.key}.cursor").exists()
    text = caplog.text
    assert "ConnectError" in text and "pw-in-url" not in text and "tok-in-url" not in text


def test_the_postgresql_cursor_only_moves_forward() -> None:
    from box_mcp.state.audit_sink import PostgresCursor, PostgresSource
    from tests.state.pg import fresh_database

    with fresh_database("cursor") as url:
        PostgresSource(SecretStr(url)).close()  # migrates
        cursor = PostgresCursor(SecretStr(url), "k")
        try:
            assert cursor.load() == 0
            cursor.save(5, "h5")
            cursor.save(3, "h3")  # a slower replica's older acknowledgement
            assert cursor.load() == 5
        finally:
            cursor.close()


async def test_the_postgresql_source_reads_committed_rows(tmp_path: Path) -> None:
    from box_mcp.state.audit import PostgresAuditLog
    from box_mcp.state.audit_sink import PostgresSource
    from tests.state.pg import fresh_database

    with fresh_database("source") as url:
        async with await PostgresAuditLog.open(SecretStr(url)) as log:
            for _ in range(3):
                await log.append("call", agent="a", tool="t", outcome={"status": "ok"})
        source = PostgresSource(SecretStr(url))
        try:
            lines = source.read_after(1, 10)
        finally:
            source.close()
    assert [line.seq for line in lines] == [2, 3]
    assert all(json.loads(line.data)["hash"] == line.hash for line in lines)
