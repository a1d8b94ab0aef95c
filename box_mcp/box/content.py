"""The file-content half of BoxClient: streaming download, uploads (simple and chunked), upload preflight.

Kept apart from `client.py` so that one holds the request machinery and this one the content entry points.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from .download import Download, download_to, open_download
from .upload import upload_file, upload_version

if TYPE_CHECKING:
    from .client import BoxClient


class ContentMethods:
    """Mixed into BoxClient; every method goes through `BoxClient.send`, so retries and errors are shared."""

    @property
    def _box(self) -> BoxClient:
        return cast("BoxClient", self)

    def download(
        self,
        file_id: str,
        *,
        byte_range: tuple[int, int | None] | None = None,
        version: str | None = None,
    ) -> AbstractAsyncContextManager[Download]:
        """Open a file's content as a stream: `async with client.download(id) as d: async for c in d`."""
        return open_download(self._box, file_id, byte_range=byte_range, version=version)

    async def download_to(self, file_id: str, path: Path, **kw: Any) -> int:
        """Stream a file's content into `path` (a private temp file beside it, renamed at the end)."""
        return await download_to(self._box, file_id, Path(path), **kw)

    async def upload(
        self,
        *,
        parent_id: str,
        name: str,
        source: bytes | Path | AsyncIterable[bytes],
        size: int | None = None,
        progress: Callable[[int, int], Awaitable[None] | None] | None = None,
        content_modified_at: str | None = None,
    ) -> dict[str, Any]:
        """Upload a new file (simple multipart, or chunked above `chunked_threshold`); returns the File."""
        return await upload_file(
            self._box,
            parent_id=parent_id,
            name=name,
            source=source,
            size=size,
            progress=progress,
            content_modified_at=content_modified_at,
        )

    async def upload_version(
        self,
        *,
        file_id: str,
        source: bytes | Path | AsyncIterable[bytes],
        size: int | None = None,
        name: str | None = None,
        if_match: str | None = None,
        progress: Callable[[int, int], Awaitable[None] | None] | None = None,
    ) -> dict[str, Any]:
        """Upload a new version of a file, optionally only if its etag is still `if_match`."""
        return await upload_version(
            self._box,
            file_id=file_id,
            source=source,
            size=size,
            name=name,
            if_match=if_match,
            progress=progress,
        )

    async def preflight(self, *, parent_id: str, name: str, size: int) -> None:
        """Ask Box whether an upload would be accepted (name free, quota, permissions); raises if not."""
        await self._box.request(
            "OPTIONS", "/files/content", json={"name": name, "parent": {"id": parent_id}, "size": size}
        )
