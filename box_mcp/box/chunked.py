"""Chunked upload sessions: create, send parts concurrently (bounded), commit with the whole-file digest.

Memory stays at most (part_concurrency + 1) parts whatever the file size; parts are retried on their own,
and a session that failed before its commit is aborted so it does not linger for Box's 7 days.
"""

from __future__ import annotations

import base64
import hashlib
from contextlib import suppress
from typing import TYPE_CHECKING, Any

import anyio
import httpx2

from box_mcp.errors import BoxError, BoxTransportError

from .errors import BoxAPIError, parse_retry_after
from .sources import Progress, Source, parts_of, report
from .wire import Verified

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .client import BoxClient

_MAX_COMMIT_POLLS = 60


def first_entry(payload: Any) -> dict[str, Any]:
    """The File in Box's upload answer `{"entries": [File], "total_count": 1}`."""
    if isinstance(payload, dict) and isinstance(payload.get("entries"), list) and payload["entries"]:
        entry = payload["entries"][0]
        if isinstance(entry, dict):
            return entry
    raise BoxTransportError("Box accepted the upload but answered no file entry. Fix: look in the folder.")


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _first_error(group: BaseExceptionGroup) -> BaseException:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        return exc
    return group


async def _put_part(client: BoxClient, url: str, offset: int, data: bytes, size: int) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/octet-stream",
        "Digest": f"sha={_b64(hashlib.sha1(data).digest())}",  # noqa: S324  (Box's part digest is SHA-1)
        "Content-Range": f"bytes {offset}-{offset + len(data) - 1}/{size}",
    }
    response = await client.send("PUT", url, content=lambda: data, headers=headers, idempotent=True)
    assert isinstance(response, httpx2.Response)  # without verify, never a Verified
    part = response.json().get("part")
    if not isinstance(part, dict):
        raise BoxTransportError(f"Box answered no part record for bytes {offset}-{offset + len(data) - 1}.")
    return part


async def _send_parts(
    client: BoxClient, url: str, source: Source, size: int, part_size: int, progress: Progress | None
) -> tuple[list[dict[str, Any]], str]:
    """Send every part; return Box's part records in offset order and the whole-file SHA-1."""
    whole = hashlib.sha1()  # noqa: S324
    parts: list[dict[str, Any]] = []
    sent = 0
    tx, rx = anyio.create_memory_object_stream[tuple[int, bytes]](0)

    async def worker(inbox: anyio.abc.ObjectReceiveStream[tuple[int, bytes]]) -> None:
        nonlocal sent
        async with inbox:
            async for offset, data in inbox:
                parts.append(await _put_part(client, url, offset, data, size))
                sent += len(data)
                await report(progress, sent, size)

    try:
        async with anyio.create_task_group() as tg:
            async with rx:
                for _ in range(client.part_concurrency):
                    tg.start_soon(worker, rx.clone())
            async with tx:
                offset = 0
                async for block in parts_of(source, part_size):
                    if offset + len(block) > size:
                        raise BoxTransportError(f"the upload source grew past its declared {size} bytes")
                    whole.update(block)
                    await tx.send((offset, block))
                    offset += len(block)
                if offset != size:
                    raise BoxTransportError(
                        f"the upload source ended at {offset} of its declared {size} bytes"
                    )
    except BaseExceptionGroup as group:
        raise _first_error(group) from None
    parts.sort(key=lambda p: int(p.get("offset", 0)))
    return parts, whole.hexdigest()


async def _commit(
    client: BoxClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    check: Callable[[], Awaitable[Any | None]],
) -> dict[str, Any]:
    for _ in range(_MAX_COMMIT_POLLS):
        result = await client.send("POST", url, json=body, headers=headers, idempotent=False, verify=check)
        if isinstance(result, Verified):
            verified: dict[str, Any] = result.value  # what the caller's check returned
            return verified
        if result.status_code == 202:
            # Box is still assembling the parts: ask again when it says.
            wait = parse_retry_after(result.headers.get("retry-after"))
            await client.retry.pause(wait)
            continue
        return first_entry(result.json())
    raise BoxTransportError(
        "Box is still assembling the uploaded file. Fix: look for it in the folder later."
    )


async def chunked_upload(
    client: BoxClient,
    *,
    session_path: str,
    session_body: dict[str, Any],
    source: Source,
    size: int,
    progress: Progress | None,
    if_match: str | None,
    attributes: dict[str, Any] | None,
    verify: Callable[[str], Awaitable[Any | None]],
) -> dict[str, Any]:
    # A spare session costs nothing (it expires), so creating one may be retried like a read.
    session = await client.request(
        "POST", client.url(session_path, upload=True), json=session_body, idempotent=True
    )
    try:
        part_size = int(session["part_size"])
        endpoints = session["session_endpoints"]
        part_url, commit_url, abort_url = endpoints["upload_part"], endpoints["commit"], endpoints["abort"]
    except (KeyError, TypeError, ValueError):
        raise BoxTransportError("Box answered an upload session without part size or endpoints.") from None
    for url in (part_url, commit_url, abort_url):
        if not client.is_trusted(str(url)):
            raise BoxTransportError(
                "Box answered an upload session on an unexpected host; not sending there."
            )

    async def abort() -> None:
        with anyio.CancelScope(shield=True), suppress(BoxError, httpx2.HTTPError):
            await client.request("DELETE", abort_url, idempotent=True)

    try:
        parts, sha1 = await _send_parts(client, part_url, source, size, part_size, progress)
    except BaseException:
        await abort()
        raise
    body: dict[str, Any] = {"parts": parts}
    if attributes:
        body["attributes"] = attributes
    headers = {"Digest": f"sha={_b64(bytes.fromhex(sha1))}"}
    if if_match is not None:
        headers["If-Match"] = if_match

    async def check() -> Any | None:
        return await verify(sha1)

    try:
        return await _commit(client, commit_url, body, headers, check)
    except BoxAPIError as err:
        # A refused commit (412, bad digest, ...) leaves a useless session; after a 5xx Box may still be
        # assembling the file, so leave that one alone.
        if err.status < 500 and err.status != 429:
            await abort()
        raise
