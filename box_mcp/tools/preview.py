"""files toolset, preview side: a page of a file as an image, from Box's representations.

Box converts files into preview representations: `GET /files/{id}?fields=representations` with an
`x-rep-hints` header lists them; a paged PNG representation (documents) is generated when its `info.url` is
asked (state none -> pending -> success, with `metadata.pages`), and its `content.url_template` with
`{+asset_path}` = `1.png`, `2.png`... serves each page (an authenticated call). Images have an unpaged
representation (asset path empty). The tools return the page as MCP image content (base64, PNG or JPEG)
beside its page number, page count and size in pixels. On the emulator, pages are drawn from a text file's
text by a small built-in renderer (emulator/page_render.py); PDF and Office previews need real Box.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import httpx2
from mcp_types import ImageContent
from pydantic import Field, PrivateAttr

from box_mcp.access import Access
from box_mcp.errors import BoxError, ToolInputError
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import READ_HINTS, BoxId, ToolContext, ToolInput, ToolOutput, ToolSpec, item

PREVIEW_MAX_BYTES = 3 * 1024 * 1024  # get_file_preview's file limit, and every page image's
REP_HINTS = "[png?dimensions=1024x1024][jpg?dimensions=1024x1024]"
_MAX_WAITS = 10  # info.url asks while Box generates the pages, a second or Retry-After apart
_MAX_HOPS = 3
_PNG = b"\x89PNG\r\n\x1a\n"


class PreviewInput(ToolInput):
    file_id: BoxId
    version_id: BoxId | None = Field(
        None, description="An older version (list_file_versions); default current"
    )


class PreviewPageInput(PreviewInput):
    page: int = Field(ge=1, le=100_000)


class PreviewImage(ToolOutput):
    file_id: str
    version_id: str | None = None
    name: str | None = None
    file_size: int | None = None
    page: int
    page_count: int
    width: int | None = None
    height: int | None = None
    mime_type: str
    image_bytes: int
    representation: str
    _image: bytes = PrivateAttr(default=b"")

    def text(self) -> str:
        size = f"{self.width}x{self.height} " if self.width and self.height else ""
        more = f"; get_preview_page shows pages 1 to {self.page_count}" if self.page_count > 1 else ""
        return (
            f"Page {self.page} of {self.page_count} of {self.name!r} is attached as a {size}{self.mime_type} "
            f"image ({self.image_bytes} bytes){more}."
        )

    def extra_content(self) -> list[Any]:
        data = base64.b64encode(self._image).decode("ascii")
        return [ImageContent(type="image", data=data, mime_type=self.mime_type)]


def image_size(data: bytes) -> tuple[str, int | None, int | None] | None:
    """(mime type, width, height) of a PNG or JPEG by its own bytes, or None for anything else."""
    if data.startswith(_PNG):
        if len(data) >= 24 and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return "image/png", int(width), int(height)
        return "image/png", None, None
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    for _ in range(256):  # bounded: the frame header follows a handful of segments
        if at + 9 > len(data) or data[at] != 0xFF:
            break
        marker, length = data[at + 1], int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            return "image/jpeg", int.from_bytes(data[at + 7 : at + 9], "big"), height
        at += 2 + length
    return "image/jpeg", None, None


def _pick(raw: Any) -> dict[str, Any] | None:
    """The representation to show: paged PNG (documents), else an image's PNG, else its JPEG."""
    reps = raw.get("representations") if isinstance(raw, dict) else None
    entries = reps.get("entries") if isinstance(reps, dict) else None
    usable = [e for e in entries or () if isinstance(e, dict) and isinstance(e.get("content"), dict)]

    def rank(e: dict[str, Any]) -> int:
        props = e.get("properties") if isinstance(e.get("properties"), dict) else {}
        paged = str((props or {}).get("paged")) == "true"
        order = {("png", True): 0, ("png", False): 1, ("jpg", False): 2}
        return order.get((str(e.get("representation")), paged), 9)

    usable = [e for e in usable if rank(e) < 9]
    return min(usable, key=rank) if usable else None


def _url(raw: object, base: str) -> str:
    """An absolute http(s) URL from Box's answer; a BoxError that does not quote Box's text otherwise."""
    if not isinstance(raw, str) or not raw or len(raw) > 8192:
        raise BoxError("Box's preview answer has no usable URL. Fix: try again.")
    try:
        url = httpx2.URL(base).join(raw)
    except httpx2.InvalidURL:
        raise BoxError("Box's preview answer has a URL that is not valid. Fix: try again.") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise BoxError("Box's preview answer has a URL that is not http(s). Fix: try again.")
    return str(url)


def _for_version(url: str, current: str | None, version_id: str | None) -> str:
    """Box's representation URLs name the file version (`/versions/<id>/`): the older one asked for."""
    if version_id is None or version_id == current:
        return url
    marker = f"/versions/{current}/"
    if current is None or marker not in url:
        raise ToolInputError(
            "version_id: Box's preview of this file does not name a version, so an older version cannot be "
            "previewed here; preview the current one, or use get_download_url with version_id."
        )
    return url.replace(marker, f"/versions/{version_id}/", 1)


async def _pages(ctx: ToolContext, info_url: str, name: str) -> int:
    """The page count from info.url, asking again (bounded) while Box generates the representation."""
    for _ in range(_MAX_WAITS):
        info = await ctx.box.get(info_url)
        state = (info.get("status") or {}).get("state") if isinstance(info, dict) else None
        if state in ("success", "viewable"):
            pages = (info.get("metadata") or {}).get("pages")
            return pages if isinstance(pages, int) and pages >= 1 else 1
        if state not in ("pending", "none"):
            raise BoxError(f"Box could not make a preview of {name!r} (state {str(state)[:32]!r}).")
        await ctx.box.retry.pause(None)
    raise BoxError(f"Box is still generating the preview of {name!r}; try again in a minute.")


async def _fetch(ctx: ToolContext, url: str, page: int, name: str) -> bytes:
    """One page's bytes, at most PREVIEW_MAX_BYTES; 202 waits, redirects followed (with no token off Box)."""
    for _ in range(_MAX_WAITS + _MAX_HOPS):
        response = await ctx.box.send(
            "GET", url, headers={"Accept-Encoding": "identity"}, stream=True, authenticated_content=True
        )
        assert isinstance(response, httpx2.Response)  # without verify, never a Verified
        try:
            status = response.status_code
            if status == 202:
                wait = response.headers.get("retry-after")
                await ctx.box.retry.pause(float(wait) if wait and wait.isdigit() else None)
                continue
            if status in (301, 302, 303, 307, 308):
                url = _url(response.headers.get("location"), url)
                continue
            if status != 200:
                raise BoxError(
                    f"Box answered {status} for page {page} of {name!r}'s preview. Fix: try again."
                )
            chunks, received = [], 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > PREVIEW_MAX_BYTES:
                    raise ToolInputError(
                        f"page: page {page} of {name!r} is over {PREVIEW_MAX_BYTES} bytes as an image, "
                        "more than a preview may be; give the person a link with get_download_url instead."
                    )
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            await response.aclose()
    raise BoxError(f"Box did not serve page {page} of {name!r}'s preview; try again in a minute.")


async def _preview(
    ctx: ToolContext, file_id: str, version_id: str | None, page: int, *, max_file_bytes: int | None
) -> PreviewImage:
    raw = await ctx.box.get(
        f"/files/{file_id}",
        params={"fields": "id,name,size,extension,file_version,representations"},
        headers={"x-rep-hints": REP_HINTS},
    )
    name, size = str(raw.get("name") or file_id), raw.get("size")
    if max_file_bytes is not None and isinstance(size, int) and size > max_file_bytes:
        raise ToolInputError(
            f"file_id: {name!r} is {size} bytes, over get_file_preview's {max_file_bytes}-byte (3 MB) limit. "
            "Show single pages with get_preview_page, or give the person a link with get_download_url."
        )
    version = raw.get("file_version")
    current = version.get("id") if isinstance(version, dict) else None
    if version_id is not None and version_id != current:
        await ctx.box.get(f"/files/{file_id}/versions/{version_id}")  # 404 when it is not this file's
    entry = _pick(raw)
    if entry is None:
        raise ToolInputError(
            f"file_id: Box has no image preview of {name!r} (Box previews documents and images; the "
            "emulator only text files and images). Use get_file_content or get_download_url instead."
        )
    props = entry.get("properties") if isinstance(entry.get("properties"), dict) else {}
    paged = str((props or {}).get("paged")) == "true"
    api = ctx.box.url(f"/files/{file_id}")
    template = entry["content"].get("url_template")
    if not isinstance(template, str) or "{+asset_path}" not in template:
        raise BoxError(f"Box's preview answer for {name!r} has no url_template to fill. Fix: try again.")
    pages = 1
    state = (entry.get("status") or {}).get("state") if isinstance(entry.get("status"), dict) else None
    if paged or state not in ("success", "viewable"):
        info = entry.get("info") if isinstance(entry.get("info"), dict) else {}
        pages = await _pages(ctx, _for_version(_url((info or {}).get("url"), api), current, version_id), name)
        pages = pages if paged else 1
    if page > pages:
        raise ToolInputError(
            f"page: {name!r} has {pages} page{'s' if pages != 1 else ''}; ask for a page from 1 to {pages}."
        )
    asset = f"{page}.png" if paged else ""
    content_url = _for_version(_url(template.replace("{+asset_path}", asset), api), current, version_id)
    image = await _fetch(ctx, content_url, page, name)
    found = image_size(image)
    if found is None:
        raise BoxError(f"Box's preview of {name!r} is not a PNG or JPEG image. Fix: try again.")
    mime, width, height = found
    dims = str((props or {}).get("dimensions") or "")[:16]
    out = PreviewImage(
        file_id=file_id,
        version_id=version_id or current,
        name=name,
        file_size=size if isinstance(size, int) and (version_id is None or version_id == current) else None,
        page=page,
        page_count=pages,
        width=width,
        height=height,
        mime_type=mime,
        image_bytes=len(image),
        representation=f"{entry.get('representation')} {dims}{' paged' if paged else ''}".strip(),
    )
    out._image = image
    return out


async def get_file_preview(ctx: ToolContext, args: PreviewInput) -> PreviewImage:
    return await _preview(ctx, args.file_id, args.version_id, 1, max_file_bytes=PREVIEW_MAX_BYTES)


async def get_preview_page(ctx: ToolContext, args: PreviewPageInput) -> PreviewImage:
    return await _preview(ctx, args.file_id, args.version_id, args.page, max_file_bytes=None)


SPECS = (
    ToolSpec(
        name="get_file_preview",
        title="Preview a file",
        description=(
            "Show a file (up to 3 MB) as an image of its first page from Box's preview, with its page "
            "count; other pages: get_preview_page. Files Box cannot preview are refused."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("get_file_preview"),
        hints=READ_HINTS,
        input_model=PreviewInput,
        output_model=PreviewImage,
        handler=get_file_preview,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
    ToolSpec(
        name="get_preview_page",
        title="Show one page of a file",
        description=(
            "Show one page (1-based) of a file's Box preview as an image (at most 3 MB), with the page count."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("get_preview_page"),
        hints=READ_HINTS,
        input_model=PreviewPageInput,
        output_model=PreviewImage,
        handler=get_preview_page,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
)
