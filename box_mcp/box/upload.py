"""Uploads in constant memory: simple multipart up to the chunked threshold, chunked upload sessions above it.

Simple uploads stream the attributes part, then the file, with `Content-MD5` = hex SHA-1 (Box's spelling).
Chunked uploads send parts concurrently with per-part `Digest`, then commit with the whole-file digest.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from box_mcp.errors import BoxTransportError

from .chunked import chunked_upload, first_entry
from .errors import BoxAPIError
from .sources import Progress, Source, iter_source, report, source_size
from .wire import Verified, file_path

if TYPE_CHECKING:
    from .client import BoxClient


async def _sha1_of(source: bytes | bytearray | memoryview | Path) -> str:
    digest = hashlib.sha1()  # noqa: S324  (Box's content digest is SHA-1)
    async for block in iter_source(source, 1024 * 1024):
        digest.update(block)
    return digest.hexdigest()


def _disposition_name(name: str) -> str:
    # The attributes part carries the real name; this is only the multipart filename, kept header-safe.
    return "".join(ch if ch.isprintable() and ch not in '"\\' else "_" for ch in name) or "file"


class _Multipart:
    """A multipart/form-data body with `attributes` before `file` (Box rejects the other order)."""

    def __init__(
        self, attributes: dict[str, Any], name: str, source: Source, size: int, progress: Progress | None
    ) -> None:
        self.boundary = secrets.token_hex(16)
        b = self.boundary
        self.head = (
            f'--{b}\r\nContent-Disposition: form-data; name="attributes"\r\n\r\n'
            f"{json.dumps(attributes, separators=(',', ':'))}\r\n"
            f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{_disposition_name(name)}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{b}--\r\n".encode()
        self.source, self.size, self.progress = source, size, progress
        self.length = len(self.head) + size + len(self.tail)

    async def body(self) -> AsyncIterator[bytes]:
        yield self.head
        sent = 0
        async for block in iter_source(self.source):
            sent += len(block)
            if sent > self.size:
                raise BoxTransportError(f"the upload source grew past its declared {self.size} bytes")
            yield block
            await report(self.progress, sent, self.size)
        if sent != self.size:
            raise BoxTransportError(f"the upload source ended at {sent} of its declared {self.size} bytes")
        yield self.tail


async def _simple(
    client: BoxClient,
    path: str,
    attributes: dict[str, Any],
    name: str,
    source: Source,
    size: int,
    progress: Progress | None,
    if_match: str | None,
    verify: Callable[[str], Awaitable[Any | None]],
) -> dict[str, Any]:
    if not isinstance(source, bytes | bytearray | memoryview | Path):
        # One pass cannot both hash (Content-MD5 goes first) and send, nor be sent again: spool to disk.
        with tempfile.TemporaryDirectory(prefix="box-mcp-upload-") as tmp:
            spooled = Path(tmp) / "content"
            written = 0
            async with await anyio.open_file(spooled, "wb") as out:
                async for block in iter_source(source):
                    written += len(block)
                    await out.write(block)
            if written != size:
                raise ValueError(f"size={size} but the source held {written} bytes")
            return await _simple(client, path, attributes, name, spooled, size, progress, if_match, verify)
    sha1 = await _sha1_of(source)
    body = _Multipart(attributes, name, source, size, progress)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={body.boundary}",
        "Content-Length": str(body.length),
        "Content-MD5": sha1,
    }
    if if_match is not None:
        headers["If-Match"] = if_match

    async def check() -> Any | None:
        return await verify(sha1)

    result = await client.send(
        "POST", path, content=body.body, headers=headers, upload=True, idempotent=False, verify=check
    )
    if isinstance(result, Verified):
        verified: dict[str, Any] = result.value  # what the caller's check returned
        return verified
    return first_entry(result.json())


def _new_file_check(
    client: BoxClient, parent_id: str, name: str, size: int
) -> Callable[[str], Awaitable[Any]]:
    """After a 5xx: did our file land anyway? Preflight names the conflicting file and its SHA-1.

    Only a clear answer may allow sending the file again: the name is free, or taken by other content.
    A preflight that itself fails (5xx, 429) proves nothing, so it propagates and the upload is
    reported as "may have happened" instead of being sent twice.
    """

    async def check(sha1: str) -> Any | None:
        try:
            await client.preflight(parent_id=parent_id, name=name, size=size)
        except BoxAPIError as err:
            if err.status >= 500 or err.status == 429:
                raise
            if err.code == "item_name_in_use":
                for item in err.conflicts:
                    if item.get("type") == "file" and item.get("sha1") == sha1 and item.get("id"):
                        return await client.get(file_path(str(item["id"])))
            return None
        return None

    return check


def _version_check(client: BoxClient, file_id: str) -> Callable[[str], Awaitable[Any]]:
    async def check(sha1: str) -> Any | None:
        current = await client.get(file_path(file_id))
        return current if isinstance(current, dict) and current.get("sha1") == sha1 else None

    return check


def _too_small_for_a_session(err: BoxAPIError) -> bool:
    """Box takes chunked sessions only from 20 MB on; below that (a low threshold) a simple upload is the
    way. Box refuses when the session is created, before the source is read, so falling back is safe."""
    return err.code == "file_size_too_small"


async def upload_file(
    client: BoxClient,
    *,
    parent_id: str,
    name: str,
    source: Source,
    size: int | None = None,
    progress: Progress | None = None,
    content_modified_at: str | None = None,
) -> dict[str, Any]:
    total = source_size(source, size)
    check = _new_file_check(client, parent_id, name, total)
    if total > client.chunked_threshold:
        try:
            return await chunked_upload(
                client,
                session_path="/files/upload_sessions",
                session_body={"folder_id": parent_id, "file_size": total, "file_name": name},
                source=source,
                size=total,
                progress=progress,
                if_match=None,
                attributes={"content_modified_at": content_modified_at} if content_modified_at else None,
                verify=check,
            )
        except BoxAPIError as err:
            if not _too_small_for_a_session(err):
                raise
    attributes: dict[str, Any] = {"name": name, "parent": {"id": parent_id}}
    if content_modified_at:
        attributes["content_modified_at"] = content_modified_at
    return await _simple(client, "/files/content", attributes, name, source, total, progress, None, check)


async def upload_version(
    client: BoxClient,
    *,
    file_id: str,
    source: Source,
    size: int | None = None,
    name: str | None = None,
    if_match: str | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    total = source_size(source, size)
    check = _version_check(client, file_id)
    if total > client.chunked_threshold:
        body: dict[str, Any] = {"file_size": total}
        if name:
            body["file_name"] = name
        try:
            return await chunked_upload(
                client,
                session_path=file_path(file_id, "/upload_sessions"),
                session_body=body,
                source=source,
                size=total,
                progress=progress,
                if_match=if_match,
                attributes={"name": name} if name else None,
                verify=check,
            )
        except BoxAPIError as err:
            if not _too_small_for_a_session(err):
                raise
    attributes = {"name": name} if name else {}
    return await _simple(
        client,
        file_path(file_id, "/content"),
        attributes,
        name or "file",
        source,
        total,
        progress,
        if_match,
        check,
    )
