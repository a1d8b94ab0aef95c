"""Upload sources (bytes, a local file, or an async iterable of known size) read in bounded chunks."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path

import anyio

Source = bytes | bytearray | memoryview | Path | AsyncIterable[bytes]
Progress = Callable[[int, int], Awaitable[None] | None]
CHUNK = 256 * 1024


async def report(progress: Progress | None, sent: int, total: int) -> None:
    if progress is not None:
        result = progress(sent, total)
        if inspect.isawaitable(result):
            await result


def source_size(source: Source, size: int | None) -> int:
    """The byte count of a source; an async iterable must say its size up front."""
    if isinstance(source, bytes | bytearray | memoryview):
        actual: int | None = len(source)
    elif isinstance(source, Path):
        if not source.is_file():
            raise ValueError(f"{source} is not a readable file")
        actual = source.stat().st_size
    else:
        actual = None
    if actual is None:
        if size is None or size < 0:
            raise ValueError("an async iterable source needs its size in bytes (size=...)")
        return size
    if size is not None and size != actual:
        raise ValueError(f"size={size} but the source holds {actual} bytes")
    return actual


async def iter_source(source: Source, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    """The source's bytes in chunks of at most `chunk`, never the whole source at once."""
    if isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source)
        for start in range(0, len(view), chunk):
            yield bytes(view[start : start + chunk])
    elif isinstance(source, Path):
        async with await anyio.open_file(source, "rb") as f:
            while block := await f.read(chunk):
                yield block
    else:
        async for block in source:
            yield bytes(block)


async def parts_of(source: Source, part_size: int) -> AsyncIterator[bytes]:
    """The source cut into blocks of exactly `part_size` bytes (the last may be shorter)."""
    if part_size < 1:
        raise ValueError("part_size must be positive")
    pending = bytearray()
    async for block in iter_source(source, min(part_size, 1024 * 1024)):
        pending += block
        while len(pending) >= part_size:
            if len(pending) == part_size:  # the usual case: hand the buffer over without copying a slice
                part, pending = bytes(pending), bytearray()
            else:
                part = bytes(pending[:part_size])
                del pending[:part_size]
            yield part
    if pending:
        yield bytes(pending)
