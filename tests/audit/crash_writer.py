"""A child process for the durability test: concurrent writers append to an AuditLog and print one
`ack` line per append the moment it returns (durable), until killed or `count` appends are done.

    python crash_writer.py DIRECTORY WRITERS COUNT [PAD [go]]
    PAD: extra argument fields (~60 bytes each); go: wait for a line on stdin before writing
    stdout: "ready <last_seq> <last_hash>", then "ack <kind> <record id> <seq> [<intent id>]" lines
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from box_mcp.audit import AuditLog


async def main(directory: Path, writers: int, count: int, pad: int, wait: bool) -> None:
    log = await AuditLog.open(directory)
    out = sys.stdout
    out.write(f"ready {log.last_seq} {log.last_hash}\n")
    out.flush()
    if wait:  # lets a test start several writers at the same moment
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    left = [count]
    # Big records make batches span pages, so a kill can cut a write short (a torn line).
    padding = {f"field_{j}": "v" * 50 for j in range(pad)}
    pid = str(os.getpid())

    def ack(kind: str, rec_id: str, seq: int, intent_id: str = "") -> None:
        out.write(f"ack {kind} {rec_id} {seq} {intent_id}\n")
        out.flush()

    async def writer(n: int) -> None:
        i = 0
        while left[0] > 0:
            left[0] -= 1
            i += 1
            if i % 2:
                rec = await log.append(
                    "call",
                    agent=f"agent-{n}",
                    tool="get_file_details",
                    session_id=pid,
                    args={"file_id": str(i), **padding},
                    outcome="ok",
                )
                ack("call", rec.id, rec.seq)
            else:
                intent_id = await log.intent(
                    agent=f"agent-{n}", tool="upload_file", args={"content": f"payload {n} {i}"}
                )
                ack("intent", intent_id, -1)
                rec = await log.outcome(intent_id, outcome="ok")
                ack("outcome", rec.id, rec.seq, intent_id)

    await asyncio.gather(*(writer(n) for n in range(writers)))
    await log.aclose()
    out.write("done\n")
    out.flush()


if __name__ == "__main__":
    pad = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), pad, sys.argv[5:] == ["go"]))
