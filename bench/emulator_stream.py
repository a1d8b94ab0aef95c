"""Peak RSS of the emulator while 1 GiB goes up (multipart upload) and comes back down (download).

Runs `box-mcp emulator --memory` in its own process so that its RSS is measured alone (VmHWM from
/proc), streams a generated 1 GiB file up and reads it back in chunks, and compares the peak with the
RSS of the same emulator idle (the baseline, measured in the same run). Target: peak < 150 MB.

    python bench/emulator_stream.py [--size-mib 1024]
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
from _common import Results, free_port, parser

CHUNK = 1024 * 1024


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for pid {pid}")


class Source:
    """A file-like object producing `size` deterministic bytes without holding them."""

    def __init__(self, size: int) -> None:
        self.size, self.sent = size, 0
        self.block = hashlib.sha256(b"box-mcp").digest() * (CHUNK // 32)
        self.sha1 = hashlib.sha1()  # noqa: S324 - Box's content digest is SHA-1

    def read(self, n: int = -1) -> bytes:
        want = min(self.size - self.sent, CHUNK if n < 0 else min(n, CHUNK))
        data = self.block[:want]
        self.sent += len(data)
        self.sha1.update(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk


def main() -> int:
    p = parser(__doc__)
    p.add_argument("--size-mib", type=int, default=1024)
    args = p.parse_args()
    out = Results("emulator_stream", args)
    size = (16 if args.quick else args.size_mib) * CHUNK
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="emulator-bench-") as tmp:
        command = [
            sys.executable,
            "-m",
            "box_mcp.cli",
            "emulator",
            "--data-dir",
            tmp,
            "--port",
            str(port),
            "--no-rate-limits",
        ]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        try:
            run(proc, base, Path(tmp), size, out)
            return out.finish()
        finally:
            proc.terminate()
            proc.wait(10)


def run(proc: subprocess.Popen[bytes], base: str, data_dir: Path, size: int, out: Results) -> None:
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=base, timeout=600) as http:
        while True:  # bounded wait for the port to answer
            try:
                http.get("/2.0/users/me")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        token = json.loads((data_dir / "credentials.json").read_text())["users"][0]["developer_token"]
        auth = {"Authorization": f"Bearer {token}"}
        idle = rss_kib(proc.pid, "VmRSS")
        source = Source(size)
        started = time.monotonic()
        reply = http.post(
            "/api/2.0/files/content",
            headers=auth,
            files={
                "attributes": (
                    None,
                    json.dumps({"name": "big.bin", "parent": {"id": "0"}}),
                    "application/json",
                ),
                "file": ("big.bin", source, "application/octet-stream"),
            },
        )
        reply.raise_for_status()
        uploaded = time.monotonic() - started
        entry = reply.json()["entries"][0]
        assert entry["sha1"] == source.sha1.hexdigest() and entry["size"] == size
        started = time.monotonic()
        digest, received = hashlib.sha1(), 0  # noqa: S324
        url = f"/2.0/files/{entry['id']}/content"
        with http.stream("GET", url, headers=auth, follow_redirects=True) as down:
            down.raise_for_status()
            for chunk in down.iter_bytes(CHUNK):
                digest.update(chunk)
                received += len(chunk)
        downloaded = time.monotonic() - started
        assert received == size and digest.hexdigest() == entry["sha1"]
    peak = rss_kib(proc.pid, "VmHWM")
    mib = size / CHUNK
    out.say(f"moved {mib:.0f} MiB up and down")
    out.figure("emulator idle RSS (baseline)", idle / 1024, "MiB")
    out.figure("emulator peak RSS", peak * 1024 / 1e6, "MB", 150.0)
    out.ratio("peak / idle RSS", peak / idle)
    out.figure("upload", mib / uploaded, "MiB/s")
    out.figure("download", mib / downloaded, "MiB/s")


if __name__ == "__main__":
    sys.exit(main())
