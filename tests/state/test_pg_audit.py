"""The audit log on PostgreSQL: one chain for several writers (replicas), the same records and bytes as the
file log, tamper evidence without files, no doubled batch when a COMMIT's answer is lost, and the
`box-mcp audit` commands reading it. Behaviour both logs share runs against both (`sink` fixture)."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from box_mcp.audit import AuditLog, query, verify
from box_mcp.audit.cli import register
from box_mcp.audit.store import Head, new_key_file
from box_mcp.errors import AuditError
from box_mcp.state.audit import PostgresAuditLog, PostgresAuditReader
from box_mcp.state.database import DatabaseError

pytestmark = pytest.mark.anyio

PASSWORD = "audit-db-secret"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="box-mcp")
    register(parser.add_subparsers())
    args = parser.parse_args(["audit", *argv])
    return int(args.func(args))


Opener = Callable[[], AbstractAsyncContextManager[Any]]


@pytest.fixture(params=["file", "postgresql"])
def sink(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Opener, Any, Any]]:
    """(open a writer, read every record back as dicts): the file log in tmp_path, or a fresh database."""
    if request.param == "file":

        @asynccontextmanager
        async def open_file() -> AsyncIterator[Any]:
            async with await AuditLog.open(tmp_path / "audit") as log:
                yield log

        yield open_file, lambda: list(query(tmp_path / "audit")), lambda: verify(tmp_path / "audit")
        return
    from tests.state.pg import fresh_database

    with fresh_database("audit") as url:

        @asynccontextmanager
        async def open_pg() -> AsyncIterator[Any]:
            async with await PostgresAuditLog.open(SecretStr(url)) as log:
                yield log

        def read() -> list[dict[str, Any]]:
            with PostgresAuditReader.open(SecretStr(url)) as reader:
                return list(reader.query())

        def check() -> Any:
            with PostgresAuditReader.open(SecretStr(url)) as reader:
                return reader.verify()

        yield open_pg, read, check


async def test_both_logs_chain_records_across_a_reopen_and_keep_what_json_cannot(sink: Any) -> None:
    open_log, read, check = sink
    async with open_log() as log:
        first = await log.append("call", agent="a", tool="t", args={"x": float("nan")}, outcome="ok")
        intent = await log.intent(agent="a", tool="delete_file", items=[{"type": "file", "id": "7"}])
    async with open_log() as log:  # a restart continues the chain
        assert log.last_seq == 2
        await log.outcome(intent, agent="a", tool="delete_file", outcome="ok")
    records = read()
    assert [r["seq"] for r in records] == [1, 2, 3]
    assert records[0]["id"] == first.id and records[0]["args"]["x"] == {"$nonfinite": "NaN"}
    assert records[1]["prev_hash"] == records[0]["hash"] and records[2]["intent_id"] == intent
    report = check()
    assert report.status == "ok" and report.count == 3 and not report.incomplete_intents


async def test_both_logs_name_an_intent_without_outcome(sink: Any) -> None:
    open_log, _, check = sink
    async with open_log() as log:
        await log.intent(agent="a", tool="delete_file", items=[{"type": "file", "id": "7"}])
    report = check()
    assert report.status == "incomplete" and [i["tool"] for i in report.incomplete_intents] == ["delete_file"]


async def test_two_writers_on_one_database_make_one_chain(database: str) -> None:
    """Two pools are two replicas: 2 x 300 concurrent appends interleave into one gapless chain."""
    url = SecretStr(database)
    a, b = await PostgresAuditLog.open(url), await PostgresAuditLog.open(url)
    try:
        appends = [
            log.append("call", agent=name, tool="who_am_i", outcome="ok")
            for i in range(300)
            for log, name in ((a, "a"), (b, "b"))
        ]
        records = await asyncio.gather(*appends)
    finally:
        await a.aclose()
        await b.aclose()
    assert sorted(r.seq for r in records) == list(range(1, 601))
    with PostgresAuditReader.open(url) as reader:
        report = reader.verify()
        assert report.status == "ok" and report.count == 600
        assert reader.head() == Head(600, report.last_hash)
        assert sum(1 for _ in reader.query(agent="b")) == 300


async def test_the_export_is_the_file_logs_bytes_and_verifies_as_one(database: str, tmp_path: Path) -> None:
    url = SecretStr(database)
    async with await PostgresAuditLog.open(url) as log:
        written = [
            await log.append("call", agent="a", tool="t", detail={"i": i}, outcome="ok") for i in range(5)
        ]
    with PostgresAuditReader.open(url) as reader:
        assert reader.export(tmp_path / "out") == (5, 1)
        with pytest.raises(AuditError, match="empty directory"):
            reader.export(tmp_path / "out")
    [path] = list((tmp_path / "out").iterdir())
    assert path.read_bytes() == b"".join(r.line for r in written)
    assert path.stat().st_mode & 0o777 == 0o600
    report = verify(tmp_path / "out")
    assert report.status == "ok" and report.count == 5
    # and the file log goes on from the exported chain exactly as if it had written it
    async with await AuditLog.open(tmp_path / "out") as file_log:
        assert (file_log.last_seq, file_log.last_hash) == (5, written[-1].hash)


def _edit(url: str, sql: str, *params: object) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.encode(), params)


async def _five(url: str, key: bytes | None = None) -> None:
    async with await PostgresAuditLog.open(SecretStr(url), key=key) as log:
        for i in range(5):
            await log.append("call", agent="a", tool="t", detail={"i": i}, outcome="ok")


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (
            "UPDATE audit_records SET line = convert_to(replace(convert_from(line, 'UTF8'), "
            "'\"i\":2', '\"i\":9'), 'UTF8') WHERE seq = 3",
            "hash",
        ),
        ("DELETE FROM audit_records WHERE seq = 3", "expected record 3"),
        ("DELETE FROM audit_records WHERE seq = 5", "rows deleted"),
        ("UPDATE audit_records SET seq = 50 WHERE seq = 5", "stored as row 50"),
        ("UPDATE audit_head SET seq = 4", "inserted by hand"),
    ],
)
async def test_verify_finds_an_edited_deleted_or_moved_row(database: str, edit: str, why: str) -> None:
    await _five(database)
    _edit(database, edit)
    with PostgresAuditReader.open(SecretStr(database)) as reader:
        report = reader.verify()
    assert report.status == "tampered" and report.first_bad is not None
    assert why in report.first_bad.why and report.first_bad.file == "audit_records"


async def test_sealed_records_verify_only_with_their_key(database: str, tmp_path: Path) -> None:
    new_key_file(tmp_path / "k")
    key = (tmp_path / "k").read_bytes()
    await _five(database, key=key)
    with PostgresAuditReader.open(SecretStr(database)) as reader:
        assert reader.verify(key=key).sealed == 5
        head = reader.head()
        assert reader.verify(anchor=Head(3, "f" * 64)).status == "tampered"
        assert reader.verify(anchor=head).status == "ok"
    new_key_file(tmp_path / "other")
    with PostgresAuditReader.open(SecretStr(database)) as reader:
        assert reader.verify(key=(tmp_path / "other").read_bytes()).status == "tampered"


async def test_a_batch_whose_commit_answer_is_lost_is_not_written_twice(
    database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    lost: list[int] = []
    commit = PostgresAuditLog._commit

    def commit_then_lose_the_answer(self: PostgresAuditLog, conn: Any, batch: Any, sealed: Any) -> Any:
        records = commit(self, conn, batch, sealed)  # committed in PostgreSQL ...
        if not lost:
            lost.append(len(records))
            conn.close()  # ... and then the connection drops before the answer is read
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return records

    async with await PostgresAuditLog.open(SecretStr(database)) as log:
        await log.append("call", agent="a", tool="t", outcome="ok")
        monkeypatch.setattr(PostgresAuditLog, "_commit", commit_then_lose_the_answer)
        records = await asyncio.gather(
            *(log.append("call", agent="a", tool=f"t{i}", outcome="ok") for i in range(4))
        )
    assert lost == [4]
    assert [r.seq for r in records] == [2, 3, 4, 5]
    with PostgresAuditReader.open(SecretStr(database)) as reader:
        report = reader.verify()
    assert report.status == "ok" and report.count == 5


async def test_an_unreachable_database_fails_start_up_without_its_password() -> None:
    url = SecretStr(f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nowhere")
    with pytest.raises(DatabaseError) as caught:
        await PostgresAuditLog.open(url)
    assert PASSWORD not in str(caught.value) and "BOX_MCP_DATABASE_URL" in str(caught.value)
    assert PASSWORD not in repr(PostgresAuditLog)


async def test_the_audit_commands_read_the_database(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async with await PostgresAuditLog.open(SecretStr(database)) as log:
        await log.append("call", agent="alice", tool="get_file_details", items=[{"type": "file", "id": "11"}])
        await log.append(
            "call", agent="bob", tool="delete_file", decision={"effect": "deny", "rules": ["no"]}
        )
    monkeypatch.setenv("BOX_MCP_DATABASE_URL", database)
    monkeypatch.setenv("BOX_MCP_DATA_DIR", str(tmp_path / "data"))
    assert run("verify") == 0
    assert "ok: 2 records in PostgreSQL verify from genesis" in capsys.readouterr().out
    assert run("query", "--item", "file:11", "--json") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["agent"] == "alice"
    assert run("tail", "--denied") == 0
    assert "bob  delete_file  deny[no]" in capsys.readouterr().out
    assert run("export", "--out", str(tmp_path / "out")) == 0
    assert "exported 2 records into 1 file(s)" in capsys.readouterr().out
    assert run("verify", "--dir", str(tmp_path / "out")) == 0  # --dir reads files even with a database set
    capsys.readouterr()
    monkeypatch.delenv("BOX_MCP_DATABASE_URL")
    assert run("export", "--out", str(tmp_path / "x")) == 3
    assert "already JSONL" in capsys.readouterr().err
    assert run("verify", "--database-url", database, "--json") == 0
    assert json.loads(capsys.readouterr().out)["count"] == 2
    assert run("verify", "--database-url", f"postgresql://postgres:{PASSWORD}@127.0.0.1:1/nowhere") == 3
    err = capsys.readouterr().err
    assert PASSWORD not in err and "cannot connect" in err


async def test_a_database_without_the_audit_tables_says_who_creates_them(database: str) -> None:
    with (
        pytest.raises(AuditError, match="creates it when it starts"),
        PostgresAuditReader.open(SecretStr(database)),
    ):
        pass


async def test_while_postgresql_is_down_a_call_waits_or_fails_clearly_and_the_next_one_writes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """In process, on a server of the test's own: an append made while PostgreSQL restarts waits and is
    written; one that outlasts RETRY_FOR fails with a sentence naming no database, and the log is not
    broken by it (unlike the file log, whose failed write refuses every later call)."""
    import anyio

    from box_mcp.state import audit as pg_audit
    from tests.state.pg import private_server

    with private_server() as pg:
        url = SecretStr(pg.url)
        async with await PostgresAuditLog.open(url) as log:
            await log.append("call", agent="a", tool="t", outcome="ok")
            await anyio.to_thread.run_sync(pg.stop, "fast")

            async def start_soon() -> None:
                await anyio.sleep(0.6)
                await anyio.to_thread.run_sync(pg.start)

            async with anyio.create_task_group() as tg:
                tg.start_soon(start_soon)
                waited = await log.append("call", agent="a", tool="waited", outcome="ok")
            assert waited.seq == 2

            await anyio.to_thread.run_sync(pg.stop, "fast")
            monkeypatch.setattr(pg_audit, "RETRY_FOR", 0.3)
            with pytest.raises(AuditError) as caught:
                await log.append("call", agent="a", tool="lost", outcome="ok")
            assert "could not record this call" in str(caught.value) and str(pg.port) not in str(caught.value)
            assert log.failure is None
            assert "cannot reach PostgreSQL" in caplog.text
            await anyio.to_thread.run_sync(pg.start)
            after = await log.append("call", agent="a", tool="after", outcome="ok")
            assert after.seq == 3  # the failed call took no place in the chain
        with PostgresAuditReader.open(url) as reader:
            assert [r["tool"] for r in reader.query()] == ["t", "waited", "after"]
            assert reader.verify().status == "ok"


async def test_a_record_postgresql_refuses_fails_its_call_only(database: str) -> None:
    async with await PostgresAuditLog.open(SecretStr(database)) as log:
        _edit(database, "ALTER TABLE audit_records ADD CONSTRAINT no_bad CHECK (tool IS DISTINCT FROM 'bad')")
        with pytest.raises(AuditError, match="could not record this call"):
            await log.append("call", agent="a", tool="bad", outcome="ok")
        assert (await log.append("call", agent="a", tool="good", outcome="ok")).seq == 1
    with PostgresAuditReader.open(SecretStr(database)) as reader:
        assert reader.verify().count == 1
