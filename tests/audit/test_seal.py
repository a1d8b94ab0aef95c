"""The optional HMAC seal: with the log's key, verify also catches well-formed forged records."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import anyio
import pytest

from box_mcp.audit import AuditLog, load_key, new_key_file, verify
from box_mcp.audit.cli import register
from box_mcp.audit.record import canonical, record_hash
from box_mcp.errors import AuditError

KEY = bytes(range(32))


def forged_append(path: Path, **changes: object) -> None:
    """Append a record that is perfectly chained and hashed, as a forger without the key can."""
    last = json.loads(path.read_bytes().splitlines()[-1])
    data = {k: v for k, v in last.items() if k not in ("hash", "mac")}
    data.update(seq=last["seq"] + 1, prev_hash=last["hash"], **changes)
    data["hash"] = record_hash(data)
    data["mac"] = "0" * 64
    with path.open("ab") as fh:
        fh.write(canonical(data) + b"\n")


async def _fill(directory: Path, key: bytes | None, count: int) -> None:
    async with await AuditLog.open(directory, key=key) as log:
        for _ in range(count):
            await log.append("call", agent="a", tool="who_am_i")


@pytest.fixture
def sealed(audit_dir: Path) -> Path:
    anyio.run(_fill, audit_dir, KEY, 4)
    [path] = sorted(audit_dir.glob("audit-*.jsonl"))
    return path


def test_sealed_records_verify_with_the_key_and_without_it(sealed: Path) -> None:
    with_key = verify(sealed.parent, key=KEY)
    assert with_key.status == "ok" and with_key.sealed == 4 and with_key.unsealed == 0
    assert verify(sealed.parent).status == "ok"


def test_a_well_formed_forged_record_is_caught_only_with_the_key(sealed: Path) -> None:
    forged_append(sealed, tool="delete_file")
    assert verify(sealed.parent).status == "ok"  # SHA-256 alone cannot tell
    report = verify(sealed.parent, key=KEY)
    bad = report.first_bad
    assert bad is not None and (bad.line, bad.seq) == (5, 5) and "mac does not match" in bad.why


def test_a_forged_record_without_a_mac_after_sealed_ones_is_caught(sealed: Path) -> None:
    last = json.loads(sealed.read_bytes().splitlines()[-1])
    data = {k: v for k, v in last.items() if k not in ("hash", "mac")}
    data.update(seq=5, prev_hash=last["hash"])
    data["hash"] = record_hash(data)
    with sealed.open("ab") as fh:
        fh.write(canonical(data) + b"\n")
    bad = verify(sealed.parent, key=KEY).first_bad
    assert bad is not None and bad.line == 5 and "no mac" in bad.why


def test_the_wrong_key_is_reported(sealed: Path) -> None:
    bad = verify(sealed.parent, key=b"x" * 32).first_bad
    assert bad is not None and bad.line == 1 and "wrong key" in bad.why


def test_records_written_before_the_key_was_set_are_counted_as_unsealed(audit_dir: Path) -> None:
    anyio.run(_fill, audit_dir, None, 2)
    anyio.run(_fill, audit_dir, KEY, 3)
    report = verify(audit_dir, key=KEY)
    assert report.status == "ok" and (report.unsealed, report.sealed) == (2, 3)


def test_new_key_files_are_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    new_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600 and len(load_key(path)) == 32
    with pytest.raises(AuditError, match="never overwritten"):
        new_key_file(path)
    path.chmod(0o644)
    with pytest.raises(AuditError, match="readable by others"):
        load_key(path)
    path.chmod(0o600)
    path.write_text("not a key")
    with pytest.raises(AuditError, match="does not hold an audit key"):
        load_key(path)


def test_verify_key_file_option_catches_a_forgery(
    sealed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "k"
    key_file.write_text(KEY.hex())
    key_file.chmod(0o600)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())

    def run(*argv: str) -> int:
        args = parser.parse_args(["audit", *argv])
        return int(args.func(args))

    assert run("verify", "--dir", str(sealed.parent), "--key-file", str(key_file)) == 0
    assert "4 sealed with the key" in capsys.readouterr().out
    forged_append(sealed)
    assert run("verify", "--dir", str(sealed.parent), "--key-file", str(key_file)) == 1
    assert "line 5 (record 5): mac does not match" in capsys.readouterr().out


@pytest.mark.parametrize("key", [None, b"k" * 32])
@pytest.mark.parametrize(
    "body",
    [
        {"kind": "call"},  # "id" is the first key
        {"kind": "log_recovery", "detail": {"torn_line_removed": {"bytes": 3}}},
        {"kind": "call", "tool": "t", "outcome": {"status": "ok"}, "latency_ms": 1.5},  # mac before outcome
        {"kind": "call", "args": {"outcome": {"x": 1}, "id": "nested", "prev_hash": "p"}},  # decoy keys
        {"kind": "call", "args": {'a"outcome': 1, 'q"prev_hash': 2, "s": '","id":"x"'}},  # escaped quotes
        {"kind": "call", "args": {"mac": "m", "hash": "h"}, "session_id": "s1"},
    ],
)
def test_the_line_is_the_canonical_encoding_of_the_record(body: dict, key: bytes | None) -> None:
    # seal builds the line from the hashed bytes by insertion; it must be exactly canonical(data).
    from box_mcp.audit.record import GENESIS, AuditRecord, record_mac

    record = AuditRecord.seal(body, seq=7, prev_hash=GENESIS, now_ns=1_764_000_000_123_456_789, key=key)
    assert record.line == canonical(record.data) + b"\n"
    assert record.hash == record_hash(record.data)
    assert record.data.get("mac") == (record_mac(key, record.hash) if key is not None else None)
