"""`box-mcp audit tail | query | verify | reindex` as a person runs them."""

from __future__ import annotations

import argparse
import functools
import io
import json
import threading
from pathlib import Path

import anyio
import pytest

from box_mcp.audit import AuditLog, query
from box_mcp.audit.cli import follow, one_line, register


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="box-mcp")
    register(parser.add_subparsers())
    args = parser.parse_args(["audit", *argv])
    return int(args.func(args))


async def _fill(directory: Path) -> None:
    async with await AuditLog.open(directory) as log:
        await log.append(
            "call",
            agent="alice",
            tool="get_file_details",
            items=[{"type": "file", "id": "11", "name": "plan\x1b[31m.docx"}],
            decision={"effect": "allow", "rules": ["read"]},
            outcome="ok",
            latency_ms=3.5,
        )
        await log.append(
            "call",
            agent="bob",
            tool="add_file_shared_link",
            decision={"effect": "deny", "rules": ["no-open-links"]},
            outcome="denied",
        )
        await log.intent(agent="bob", tool="delete_file", items=[{"type": "file", "id": "7"}])


@pytest.fixture
def filled(audit_dir: Path) -> Path:
    anyio.run(_fill, audit_dir)
    return audit_dir


def test_tail_prints_one_readable_line_per_record(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tail", "--dir", str(filled)) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3
    assert "#1  call  alice  get_file_details  allow[read]  ok  3.5ms  file 11" in out[0]
    assert "\x1b" not in out[0] and "\\x1b[31m" in out[0]  # names from Box cannot drive the terminal
    assert "#3  intent  bob  delete_file" in out[2]


def test_tail_filters_denied_calls_and_prints_json(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("tail", "--dir", str(filled), "--denied", "--json") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["agent"] == "bob" and json.loads(line)["decision"]["effect"] == "deny"


def test_follow_prints_records_written_after_it_started(filled: Path) -> None:
    out = io.StringIO()
    stop = threading.Event()

    class Stopper(io.StringIO):
        def write(self, text: str) -> int:
            out.write(text)
            stop.set()
            return len(text)

    async def later() -> None:
        async with await AuditLog.open(filled) as log:
            await log.append("call", agent="carol", tool="who_am_i")

    anyio.run(later)
    search = functools.partial(query, filled)
    follow(search, {"agent": "carol"}, after_seq=3, as_json=False, out=Stopper(), stop=stop, interval=0.01)
    assert "#4  call  carol  who_am_i" in out.getvalue()


def test_query_selects_by_item_and_agent(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("query", "--dir", str(filled), "--item", "file:7", "--agent", "bob", "--json") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["tool"] == "delete_file"


def test_query_with_a_bad_time_explains_the_accepted_forms(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("query", "--dir", str(filled), "--since", "last tuesday") == 3
    assert "use an ISO date or time" in capsys.readouterr().err


def test_verify_exit_status_says_ok_incomplete_or_tampered(
    filled: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("verify", "--dir", str(filled)) == 2
    out = capsys.readouterr().out
    assert "ok: 3 records" in out and "incomplete: 1 write intent" in out and "delete_file" in out

    [path] = sorted(filled.glob("audit-*.jsonl"))
    path.write_bytes(path.read_bytes().replace(b"alice", b"alicf"))
    assert run("verify", "--dir", str(filled)) == 1
    out = capsys.readouterr().out
    assert f"TAMPERED: the chain breaks at {path.name} line 1 (record 1)" in out


def test_verify_checks_an_anchor_and_prints_json(filled: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run("verify", "--dir", str(filled), "--json")
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "incomplete" and report["last_seq"] == 3
    anchor = f"{report['last_seq']}:{report['last_hash']}"
    assert run("verify", "--dir", str(filled), "--anchor", anchor) == 2
    assert run("verify", "--dir", str(filled), "--anchor", "3:" + "0" * 64) == 1
    assert run("verify", "--dir", str(filled), "--anchor", "three") == 3


def test_verify_of_a_missing_directory_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("verify", "--dir", str(tmp_path / "nope")) == 3
    assert "no audit log at" in capsys.readouterr().err


def test_the_directory_defaults_to_the_data_dir_setting(
    filled: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOX_MCP_DATA_DIR", str(filled.parent))
    assert run("reindex") == 0
    assert "indexed 3 records" in capsys.readouterr().out


def test_one_line_shows_event_details() -> None:
    line = one_line(
        {"time": "2026-11-23T13:00:00.000000Z", "seq": 9, "kind": "policy_reload", "detail": {"rules": 3}}
    )
    assert line == '2026-11-23 13:00:00.000  #9  policy_reload  {"rules": 3}'
