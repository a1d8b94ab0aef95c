"""Audit log benchmark: durable records per second with 50 concurrent writers, and the latency the audit
adds to one tool call, each measured against a no-audit run in the same process.

    python bench/audit_throughput.py [--records 20000] [--writers 50] [--calls 2000] [--dir DIR]

A "tool call" here is a handler that yields once to the event loop (as an in-process tool would) and
returns; the audited call also awaits one durable `call` record with realistic fields, as the gate does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from _common import Results, parser, pct

from box_mcp.audit import AuditLog, verify

FIELDS = {
    "agent": "claude-code@laptop",
    "session_id": "6f1c2d4e-8a77-4b1e-9d0a-3c5e7f9a1b2c",
    "client_name": "claude-code",
    "client_version": "2.1.0",
    "acting_as": {"kind": "as_user", "user_id": "12345"},
    "tool": "get_file_details",
    "args": {"file_id": "123456789", "fields": ["name", "size", "modified_at"]},
    "items": [{"type": "file", "id": "123456789", "name": "Q3 plan.docx", "parent_path": "/Projects/Q3"}],
    "decision": {"effect": "allow", "rules": ["read-projects"], "sentence": "agents may read /Projects"},
    "outcome": {"status": "ok", "http_status": 200, "request_id": "0abc123def"},
    "latency_ms": 41.25,
}


async def tool_call() -> None:
    await asyncio.sleep(0)


async def run_writers(writers: int, per_writer: int, call: Callable[[], Awaitable[object]]) -> float:
    async def writer() -> None:
        for _ in range(per_writer):
            await call()

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - start


async def latencies(calls: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        await call()
        out.append((time.perf_counter() - start) * 1000)
    return out


async def main(args: argparse.Namespace) -> int:
    out = Results("audit_throughput", args)
    if args.dir is None:
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as tmp:
            await run(Path(tmp), args, out)
    else:
        await run(Path(args.dir), args, out)
    return out.finish()


async def run(base: Path, args: argparse.Namespace, out: Results) -> None:
    per_writer = max(1, args.records // args.writers)
    total = per_writer * args.writers

    async def audited(log: AuditLog) -> None:
        await tool_call()
        await log.append("call", **FIELDS)

    # Throughput: the same 50 writers, without and with a durable audit record per call.
    bare = await run_writers(args.writers, per_writer, tool_call)
    log = await AuditLog.open(base / "throughput", fsync=True)
    try:
        durable = await run_writers(args.writers, per_writer, lambda: audited(log))
    finally:
        await log.aclose()
    out.say(f"throughput, {args.writers} writers, {total} calls:")
    out.say(f"  no audit         {total / bare:12,.0f} calls/s")
    out.figure(
        f"durable records/s, {args.writers} writers", total / durable, "records/s", 5000, at_least=True
    )

    # Added latency: one caller at a time, so each append waits for its own fsync.
    log = await AuditLog.open(base / "latency", fsync=True)
    try:
        for _ in range(10 if args.quick else 50):  # warm up: file open, thread start, index thread
            await audited(log)
        plain = await latencies(args.calls, tool_call)
        with_audit = await latencies(args.calls, lambda: audited(log))
        plain2 = await latencies(args.calls, tool_call)
    finally:
        await log.aclose()
    plain_all = plain + plain2
    added = statistics.median(with_audit) - statistics.median(plain_all)
    out.say(f"latency per call, sequential, {args.calls} calls (ms):")
    out.say(f"  no audit         p50 {statistics.median(plain_all):.4f}  p99 {pct(plain_all, 99):.4f}")
    out.say(f"  durable audit    p50 {statistics.median(with_audit):.4f}  p99 {pct(with_audit, 99):.4f}")
    out.figure("added by audit p50", added, "ms", 0.3)

    # Where the added latency goes: the disk's own fdatasync of one appended line, and an append
    # that skips the sync (record building, hashing, the event-loop hand-offs, the write).
    floor = fdatasync_ms(base / "floor.bin", args.calls)
    floor_padded = fdatasync_ms(base / "floor-padded.bin", args.calls, padded=True)
    log = await AuditLog.open(base / "nosync", fsync=False)
    try:
        for _ in range(50):
            await audited(log)
        no_sync = await latencies(args.calls, lambda: audited(log))
    finally:
        await log.aclose()
    sync50 = statistics.median(floor_padded)
    out.figure("disk's own fdatasync p50, appended line", statistics.median(floor), "ms")
    out.figure("disk's own fdatasync p50, over zero-filled space (what the log does)", sync50, "ms")
    out.figure("append without sync p50", statistics.median(no_sync), "ms")
    out.ratio("audit added p50 / disk's own sync p50", added / sync50, 1.5)

    for name in ("throughput", "latency"):
        report = verify(base / name)
        out.say(f"verify {name}: {report.status}, {report.count} records")


def fdatasync_ms(path: Path, count: int, *, padded: bool = False) -> list[float]:
    """The disk's cost of making one ~700-byte line durable: appended, or written over space that was
    zero-filled and synced in advance (so the sync changes no size or extent)."""
    line = b"x" * 700 + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | (0 if padded else os.O_APPEND), 0o600)
    out = []
    try:
        if padded:
            os.pwrite(fd, bytes(len(line) * count), 0)
            os.fsync(fd)
        for n in range(count):
            if padded:
                os.pwrite(fd, line, n * len(line))
            else:
                os.write(fd, line)
            start = time.perf_counter()
            os.fdatasync(fd)
            out.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
    return out


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--records", type=int, default=20000)
    p.add_argument("--writers", type=int, default=50)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--dir", help="where to write the logs (default: a new temporary directory)")
    options = p.parse_args()
    if options.quick:
        options.records, options.writers, options.calls = 500, 10, 100
    sys.exit(asyncio.run(main(options)))
