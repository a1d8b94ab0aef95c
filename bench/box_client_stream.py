"""Box client memory benchmark: peak RSS growth of streamed downloads and uploads vs. a buffered baseline.

    python bench/box_client_stream.py [--mb 128]

Box is a fake in process (a transport that generates bytes, or discards them as they arrive; unlike
httpx2.MockTransport it never reads a request whole), so the figures are the client's own memory.
Each phase resets the kernel's peak-RSS mark (Linux /proc/self/clear_refs) first.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
from _common import Results, parser

from box_mcp.box import BoxClient, StaticToken

MB = 1024 * 1024
PART = 8 * MB


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/self/status (Linux only)")


def reset_peak() -> int:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    return _status_kb("VmRSS")


def peak_growth_mb(start_kb: int) -> float:
    return (_status_kb("VmHWM") - start_kb) / 1024


class FakeBox(httpx2.AsyncBaseTransport):
    def __init__(self, size: int) -> None:
        self.size = size
        self.received = 0

    async def _generate(self) -> AsyncIterator[bytes]:
        block = b"\x5a" * (256 * 1024)
        for _ in range(self.size // len(block)):
            yield block

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path.endswith("/content") and request.method == "GET":
            return httpx2.Response(200, content=self._generate(), headers={"Content-Length": str(self.size)})
        if path.endswith("/upload_sessions"):
            await request.aread()
            base = "https://upload.box.com/api/2.0/files/upload_sessions/S1"
            endpoints = {"upload_part": base, "commit": f"{base}/commit", "abort": base}
            session = {"id": "S1", "part_size": PART, "total_parts": -(-self.size // PART)}
            return httpx2.Response(201, json={**session, "session_endpoints": endpoints})
        if request.method == "PUT":
            got = 0
            async for chunk in request.stream:
                got += len(chunk)
            self.received += got
            lo = int(re.match(r"bytes (\d+)-", request.headers["Content-Range"]).group(1))
            return httpx2.Response(200, json={"part": {"part_id": f"P{lo}", "offset": lo, "size": got}})
        if path.endswith("/commit") or path.endswith("/files/content"):
            async for chunk in request.stream:  # discard as it arrives, like a server writing to disk
                self.received += len(chunk)
            return httpx2.Response(201, json={"entries": [{"type": "file", "id": "1", "size": self.size}]})
        return httpx2.Response(404, json={"type": "error", "status": 404, "code": "not_found"})


async def run(mb: int, res: Results) -> None:
    size = mb * MB
    box = FakeBox(size)
    rows: list[tuple[str, float]] = []
    async with BoxClient(
        token_source=StaticToken("bench"), transport=box, chunked_threshold=size // 2
    ) as client:
        start = reset_peak()
        async with client.download("1") as dl:
            got = 0
            async for chunk in dl.aiter_bytes():
                got += len(chunk)
        assert got == size
        rows.append(("download, streamed", peak_growth_mb(start)))

        start = reset_peak()
        response = await client.send("GET", "/files/1/content")
        assert isinstance(response, httpx2.Response) and len(response.content) == size
        del response
        rows.append(("download, buffered (baseline)", peak_growth_mb(start)))

        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "big.bin"
            with source.open("wb") as out:
                for _ in range(mb):
                    out.write(hashlib.sha256(out.name.encode()).digest() * (MB // 32))
            small = Path(tmp) / "small.bin"
            with source.open("rb") as src, small.open("wb") as out:
                out.write(src.read(size // 2))

            start = reset_peak()
            await client.upload(parent_id="0", name="small.bin", source=small)
            rows.append((f"upload simple multipart ({mb // 2} MB), streamed", peak_growth_mb(start)))

            start = reset_peak()
            await client.upload(parent_id="0", name="big.bin", source=source)
            rows.append(
                (f"upload chunked ({mb} MB, 8 MB parts x{client.part_concurrency})", peak_growth_mb(start))
            )

            start = reset_peak()
            whole = [source.read_bytes()]
            await client.send("POST", "/files/content", content=whole.pop, upload=True, idempotent=True)
            rows.append(("upload, buffered (baseline)", peak_growth_mb(start)))

    res.say(f"peak RSS growth for {mb} MB of content")
    for name, grown in rows:
        res.figure(f"peak RSS growth, {name}", grown, "MB")
    streamed_dl, buffered_dl = rows[0][1], rows[1][1]
    res.ratio("streamed / buffered download peak", max(streamed_dl, 0.1) / max(buffered_dl, 0.1), 0.1)


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--mb", type=int, default=128, help="content size in MB (default 128)")
    args = p.parse_args()
    out = Results("box_client_stream", args)
    asyncio.run(run(32 if args.quick else args.mb, out))
    return out.finish()


if __name__ == "__main__":
    sys.exit(main())
