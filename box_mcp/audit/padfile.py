"""The padded log file's primitives: zero-fill ahead, durable positioned writes, where the data ends,
and cutting the padding off (see store.py for the format, log.py for the locking around them)."""

from __future__ import annotations

import os

PAD_BYTES = 1 << 20  # zero-filled ahead of the records; one fill (~1 ms) serves ~1,200 records


def size(fd: int) -> int:
    # Not fstat: on Linux 6.13+ (multigrain timestamps) a stat makes the file's next write stamp a
    # fine-grained mtime, which dirties the inode and adds ~0.06 ms to that write's sync.
    return os.lseek(fd, 0, os.SEEK_END)


def pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def fill_ahead(fd: int, end: int, need: int) -> None:
    """Make sure NUL padding covers `need` bytes from `end`, filling to the next PAD_BYTES boundary and
    one more. Written through the log's O_DSYNC descriptor, so the new size is durable too, and the
    record writes into it change no metadata."""
    have = size(fd)
    if have < end + need:
        fill_from = max(end, have)
        pwrite_all(fd, bytes((end + need) // PAD_BYTES * PAD_BYTES + PAD_BYTES - fill_from), fill_from)


def ends_at(fd: int, offset: int) -> bool:
    """Whether the file behind `fd` holds only NUL padding from `offset` on (probing its first and last
    byte: a writer killed mid-write leaves bytes at `offset`; bytes appended later sit at the end)."""
    at = os.pread(fd, 1, offset)
    if at == b"":
        return size(fd) == offset
    if at != b"\0":
        return False
    return os.pread(fd, 1, size(fd) - 1) == b"\0"


def ends_at_path(path: str, offset: int) -> bool:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        return ends_at(fd, offset)
    finally:
        os.close(fd)


def cut_padding(path: str, end: int, *, sync: bool) -> None:
    """Truncate `path` to `end`, where its data ends, if only padding follows (call it under the lock)."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return
    try:
        if size(fd) > end and ends_at(fd, end):
            os.ftruncate(fd, end)
            if sync:
                os.fsync(fd)
    finally:
        os.close(fd)
