"""Streaming download in constant memory: 302 to a storage host (never given our token), 202 waits, Range.

Box answers `GET /files/{id}/content` with 302 + a short-lived Location on another host (dl.boxcloud.com),
or 202 + Retry-After while the content is not ready yet.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import anyio
import httpx2

from box_mcp.errors import BoxMCPError, BoxTransportError, ToolInputError

from .errors import parse_retry_after

if TYPE_CHECKING:
    from .client import BoxClient

_MAX_HOPS = 5
_MAX_NOT_READY = 30
_CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

DownloadProgress = Callable[[int, int | None], Awaitable[None]]  # (bytes written, total or None)


class Download:
    """An open download: `size` (bytes in this answer), `headers`, and the body as chunks, read once."""

    def __init__(self, response: httpx2.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.headers = response.headers
        length = response.headers.get("content-length")
        encoded = response.headers.get("content-encoding", "identity").lower() != "identity"
        self.size: int | None = int(length) if length and length.isdigit() and not encoded else None
        m = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        self.total_size: int | None = int(m.group(3)) if m and m.group(3) != "*" else self.size

    async def aiter_bytes(self, chunk_size: int = _CHUNK) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.aiter_bytes(chunk_size):
                yield chunk
        except httpx2.TransportError as exc:
            raise BoxTransportError(
                f"the download broke off ({type(exc).__name__}). Fix: download again."
            ) from None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.aiter_bytes()


def _range_header(byte_range: tuple[int, int | None]) -> str:
    start, end = byte_range
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"byte_range must be (start, end) with 0 <= start <= end, got {byte_range!r}")
    return f"bytes={start}-{'' if end is None else end}"


@asynccontextmanager
async def open_download(
    client: BoxClient,
    file_id: str,
    *,
    byte_range: tuple[int, int | None] | None = None,
    version: str | None = None,
) -> AsyncIterator[Download]:
    # The file's own bytes: no transfer compression, so sizes and ranges mean what they say.
    headers = {"Accept-Encoding": "identity"}
    if byte_range is not None:
        headers["Range"] = _range_header(byte_range)
    params = {"version": version} if version else None
    api_url = client.url(f"/files/{quote(file_id, safe='')}/content")
    url = api_url
    not_ready = 0
    for _ in range(_MAX_HOPS + _MAX_NOT_READY):
        # Query parameters belong to the API call only: the Location is complete and signed as it is.
        response = await client.send(
            "GET", url, params=params if url == api_url else None, headers=headers, stream=True
        )
        assert isinstance(response, httpx2.Response)  # without verify, never a Verified
        status = response.status_code
        if status == 202:
            await response.aclose()
            not_ready += 1
            if not_ready > _MAX_NOT_READY:
                break
            wait = parse_retry_after(response.headers.get("retry-after"))
            await client.retry.pause(wait)
            continue
        if status in (301, 302, 303, 307, 308):
            await response.aclose()
            location = response.headers.get("location")
            if not location:
                raise BoxTransportError(f"Box answered {status} for file {file_id} without a Location.")
            # Relative locations resolve against the URL asked; absolute ones on another host get no token.
            try:
                url = str(httpx2.URL(url).join(location))
            except httpx2.InvalidURL:  # its text would quote the link: a download link is its own secret
                raise BoxTransportError(
                    f"Box answered {status} for file {file_id} with a Location that is not a valid URL. "
                    "Fix: download again; if it keeps happening, report it to Box."
                ) from None
            continue
        if status == 304 or not 200 <= status < 300:
            await response.aclose()
            raise BoxTransportError(f"Box answered {status} to a download of file {file_id}.")
        try:
            yield Download(response)
        finally:
            await response.aclose()
        return
    raise BoxTransportError(
        f"file {file_id} was still not ready to download after several tries. Fix: try again in a minute."
    )


async def download_to(
    client: BoxClient,
    file_id: str,
    path: Path,
    *,
    overwrite: bool = True,
    progress: DownloadProgress | None = None,
    **kw: object,
) -> int:
    """Write a file's content to `path`; returns bytes written. Without `overwrite` an existing file stays.

    The bytes go to a fresh temporary file beside `path` (created exclusively with mode 0600, so never
    through a planted symlink nor over someone's file), which takes the name only once it is complete.
    `progress(written, total)` is called after each chunk is on disk; total is None when Box sends no size.
    """
    try:
        fd, name = tempfile.mkstemp(prefix=".box-mcp-", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise _local_error(path, exc) from None
    part = Path(name)
    written = 0
    try:
        async with await anyio.open_file(fd, "wb") as out:
            async with open_download(client, file_id, **kw) as download:  # type: ignore[arg-type]
                async for chunk in download.aiter_bytes():
                    await out.write(chunk)
                    written += len(chunk)
                    if progress is not None:
                        await progress(written, download.size)
                if download.size is not None and written != download.size:
                    raise BoxTransportError(
                        f"the download of file {file_id} stopped at {written} of {download.size} bytes. "
                        "Fix: download again."
                    )
        _publish(part, path, overwrite=overwrite)
    except OSError as exc:  # the local side failed (no space, no permission, a name too long)
        raise _local_error(path, exc) from None
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.Path(part).unlink(missing_ok=True)
    return written


class LocalFileError(BoxMCPError):
    """The local file system refused a download's file; the message names the path and the reason."""


def _local_error(path: Path, exc: OSError) -> LocalFileError:
    return LocalFileError(
        f"cannot write the local file {path} ({exc.strerror or type(exc).__name__}). "
        "Fix: give another local_path (a directory box-mcp can write, or a shorter file name)."
    )


def _publish(part: Path, path: Path, *, overwrite: bool) -> None:
    """Give the finished file its name: replace, or (no overwrite) a link that fails if the name is taken."""
    if overwrite:
        os.replace(part, path)
        return
    try:
        os.link(part, path)
    except FileExistsError:
        raise ToolInputError(
            f"{path} appeared while the download ran and was left as it is; pass overwrite=true to replace it"
        ) from None
    except OSError:  # a file system without hard links: claim the name exclusively, then fill it
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        except FileExistsError:
            raise ToolInputError(
                f"{path} appeared while the download ran and was left as it is; pass overwrite=true to "
                "replace it"
            ) from None
        os.replace(part, path)
