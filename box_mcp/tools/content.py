"""files toolset, content side: read a file, download it to disk, upload a new file or a new version."""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Any

from mcp_types import BlobResourceContents, EmbeddedResource
from pydantic import Field, PrivateAttr, model_validator

from box_mcp.access import Access, CallFacts
from box_mcp.errors import ToolInputError
from box_mcp.tools.local import confine_path
from box_mcp.tools.models import FileDetails
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Etag,
    Hints,
    ItemName,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    extension_of,
    item,
)

# upload_file's inline cap: base64-encoded it fits the 8 MiB HTTP body cap (_serving.MAX_BODY_BYTES)
MAX_INLINE_BYTES = 4 * 1024 * 1024
_B64_MAX_CHARS = (MAX_INLINE_BYTES // 3 + 1) * 4

TEXT_EXTENSIONS = frozenset(
    "txt md markdown csv tsv json jsonl xml html htm yaml yml toml ini cfg conf log py js ts tsx jsx java "
    "c h cpp hpp cs go rs rb php sh bash zsh sql css scss svg tex rst vtt srt properties env".split()
)

# Formats whose bytes are not meant to be read as text even when they happen to decode.
BINARY_EXTENSIONS = frozenset(
    "pdf doc docx xls xlsx ppt pptx odt ods odp key pages numbers png jpg jpeg gif bmp tif tiff webp heic "
    "zip gz tgz bz2 xz 7z rar tar mp3 mp4 mov avi wav flac ogg exe dll so dylib bin iso dmg".split()
)


class FileContentInput(ToolInput):
    file_id: BoxId


class FileContent(ToolOutput):
    file_id: str
    name: str | None = None
    size: int | None = None
    kind: str = Field(
        description="'text' (content holds the text) or 'binary' (sent as an embedded resource)"
    )
    mime_type: str | None = None
    content: str | None = Field(None, description="The file's text, for text-like files")
    _blob: bytes | None = PrivateAttr(default=None)

    def text(self) -> str:
        if self.kind == "text":
            return self.content or ""
        return f"{self.name} ({self.size} bytes, {self.mime_type}) is attached as an embedded resource."

    def extra_content(self) -> list[Any]:
        if self._blob is None:
            return []
        blob = BlobResourceContents(
            uri=f"box://files/{self.file_id}",
            mime_type=self.mime_type or "application/octet-stream",
            blob=base64.b64encode(self._blob).decode("ascii"),
        )
        return [EmbeddedResource(type="resource", resource=blob)]


_MIME = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}")


def _mime(ext: str | None, headers: Any) -> str:
    ctype = str(headers.get("content-type", "")) if headers is not None else ""
    ctype = ctype.split(";")[0].strip()
    if ctype and ctype != "application/octet-stream" and _MIME.fullmatch(ctype):  # untrusted header text
        return ctype
    known = {
        "pdf": "application/pdf",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "zip": "application/zip",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
    return known.get(ext or "", "application/octet-stream")


async def get_file_content(ctx: ToolContext, args: FileContentInput) -> FileContent:
    info = await ctx.box.get(f"/files/{args.file_id}", params={"fields": "id,name,size,extension"})
    name, size = info.get("name"), int(info.get("size") or 0)
    cap = ctx.max_read_bytes
    if size > cap:
        raise ToolInputError(
            f"file_id: {name!r} is {size} bytes, over the {cap}-byte limit for get_file_content. "
            "Use download_file to save it to a local path (stdio), or get_file_details for its metadata."
        )
    chunks: list[bytes] = []
    received = 0
    async with ctx.box.download(args.file_id) as dl:
        async for chunk in dl.aiter_bytes():
            received += len(chunk)
            if received > cap:  # the file grew since we asked: stop reading, keep memory bounded
                raise ToolInputError(f"file_id: the file grew past {cap} bytes; use download_file")
            chunks.append(chunk)
        headers = getattr(dl, "headers", None)
    data = b"".join(chunks)
    ext = extension_of(name) or info.get("extension")
    looks_text = ext in TEXT_EXTENSIONS or (ext not in BINARY_EXTENSIONS and b"\x00" not in data[:8192])
    if looks_text:
        try:
            return FileContent(
                file_id=args.file_id,
                name=name,
                size=len(data),
                kind="text",
                mime_type="text/plain",
                content=data.decode("utf-8"),
            )
        except UnicodeDecodeError:
            pass
    out = FileContent(
        file_id=args.file_id,
        name=name,
        size=len(data),
        kind="binary",
        mime_type=_mime(ext, headers),
        content=None,
    )
    out._blob = data
    return out


class DownloadInput(ToolInput):
    file_id: BoxId
    local_path: str = Field(
        min_length=1,
        max_length=4096,
        description="Absolute path of the target file, or of an existing directory (the Box name is used)",
    )
    overwrite: bool = Field(False, description="Replace an existing local file")


class Downloaded(ToolOutput):
    file_id: str
    path: str
    size: int


async def download_file(ctx: ToolContext, args: DownloadInput) -> Downloaded:
    target = confine_path(ctx, args.local_path, field="local_path", must_exist=False)
    if target.is_dir():
        info = await ctx.box.get(f"/files/{args.file_id}", params={"fields": "id,name"})
        name = str(info.get("name") or args.file_id)
        if "/" in name or "\\" in name or name in (".", ".."):  # Box text is untrusted: no path games
            name = args.file_id
        target = confine_path(ctx, str(target / name), field="local_path", must_exist=False)
    if target.exists() and not args.overwrite:
        raise ToolInputError(f"local_path: {target} exists; pass overwrite=true to replace it")
    if not target.parent.is_dir():
        raise ToolInputError(f"local_path: the directory {target.parent} does not exist")
    progress = _Progress(ctx, "downloaded")
    size = int(await ctx.box.download_to(args.file_id, target, overwrite=args.overwrite, progress=progress))
    await progress(size, size)  # no half files: the file has its name now
    return Downloaded(file_id=args.file_id, path=str(target), size=size)


class _ContentSource(ToolInput):
    content_text: str | None = Field(None, max_length=MAX_INLINE_BYTES, description="Content as UTF-8 text")
    content_base64: str | None = Field(None, max_length=_B64_MAX_CHARS, description="Content as base64")
    local_path: str | None = Field(
        None, min_length=1, max_length=4096, description="Absolute path of a local file (stdio, allowed dirs)"
    )

    @model_validator(mode="after")
    def _exactly_one_source(self) -> _ContentSource:
        given = [n for n in ("content_text", "content_base64", "local_path") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of content_text, content_base64, local_path")
        if self.content_text is not None and len(self.content_text.encode()) > MAX_INLINE_BYTES:
            raise ValueError(f"content_text is over {MAX_INLINE_BYTES} bytes; upload from local_path instead")
        if self.content_base64 is not None:
            try:
                base64.b64decode(self.content_base64, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("content_base64 is not valid base64") from exc
        return self

    def inline_size(self) -> int | None:
        if self.content_text is not None:
            return len(self.content_text.encode())
        if self.content_base64 is not None:
            return len(self.content_base64) * 3 // 4 - self.content_base64[-2:].count("=")
        try:  # facts for the policy: the size a local upload will have (stat only, nothing read)
            return os.stat(self.local_path or "").st_size
        except OSError:
            return None


def _source(ctx: ToolContext, args: _ContentSource) -> tuple[bytes | Path, int]:
    if args.content_text is not None:
        data = args.content_text.encode()
        return data, len(data)
    if args.content_base64 is not None:
        data = base64.b64decode(args.content_base64, validate=True)
        return data, len(data)
    path = confine_path(ctx, args.local_path or "", field="local_path", must_exist=True)
    return path, path.stat().st_size


class _Progress:
    """Bytes moved, as MCP progress notifications: strictly increasing (a retried upload's body starts
    again from 0; those repeats are not sent), at most one per STEP bytes, and the last one always."""

    STEP = 256 * 1024

    def __init__(self, ctx: ToolContext, verb: str, total: int | None = None) -> None:
        self._ctx, self._verb, self._total = ctx, verb, total
        self._last: int | None = None

    async def __call__(self, done: int, total: int | None = None, message: str | None = None) -> None:
        total = self._total if total is None else total
        last = self._last
        if last is not None and (done <= last or (done - last < self.STEP and done != total)):
            return
        self._last = done
        of = "" if total is None else f" of {total}"
        text = message or f"{self._verb} {done}{of} bytes"
        await self._ctx.progress(float(done), None if total is None else float(total), text)


def _file_of(raw: Any) -> FileDetails:
    if isinstance(raw, dict) and isinstance(raw.get("entries"), list) and raw["entries"]:
        raw = raw["entries"][0]
    return FileDetails.from_box(raw)


class UploadInput(_ContentSource):
    parent_folder_id: BoxId = Field(description="Folder to upload into ('0' is All Files)")
    name: ItemName


async def upload_file(ctx: ToolContext, args: UploadInput) -> FileDetails:
    source, size = _source(ctx, args)
    progress = _Progress(ctx, "uploaded", size)
    await progress(0, message="upload starting")
    raw = await ctx.box.upload(
        parent_id=args.parent_folder_id,
        name=args.name,
        source=source,
        size=size,
        progress=progress,
    )
    await progress(size, message="upload done")
    return _file_of(raw)


class UploadVersionInput(_ContentSource):
    file_id: BoxId
    new_name: ItemName | None = Field(None, description="Rename the file with this version")
    etag: Etag | None = None


async def upload_file_version(ctx: ToolContext, args: UploadVersionInput) -> FileDetails:
    source, size = _source(ctx, args)
    progress = _Progress(ctx, "uploaded", size)
    await progress(0, message="upload starting")
    raw = await ctx.box.upload_version(
        file_id=args.file_id,
        source=source,
        size=size,
        name=args.new_name,
        if_match=args.etag,
        progress=progress,
    )
    await progress(size, message="upload done")
    return _file_of(raw)


SPECS = (
    ToolSpec(
        name="get_file_content",
        title="Read a file's content",
        description=(
            "Return a file's content: the text of a text-like (UTF-8) file, or a small binary as an embedded "
            "resource. Files over the size cap (1 MiB by default) are refused: use download_file. Does not "
            "extract text from PDF or Office files."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("get_file_content"),
        hints=READ_HINTS,
        input_model=FileContentInput,
        output_model=FileContent,
        handler=get_file_content,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
    ToolSpec(
        name="download_file",
        title="Download a file to disk",
        description=(
            "Save a Box file to a local path (stdio only, inside the server's --allowed-dir directories). "
            "Returns the path and size written. Refuses to overwrite unless overwrite=true."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("download_file"),
        hints=READ_HINTS,
        input_model=DownloadInput,
        output_model=Downloaded,
        handler=download_file,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
        stdio_only_fields=frozenset({"local_path"}),
    ),
    ToolSpec(
        name="upload_file",
        title="Upload a new file",
        description=(
            "Create a file in a folder from content_text, content_base64 (up to 4 MiB inline) or local_path "
            "(stdio only, inside allowed dirs; large files go in chunks with progress). Returns its details. "
            "Fails with item_name_in_use if the name exists: use upload_file_version to replace content."
        ),
        toolset="files",
        access=Access.WRITE,
        box_scopes=box_scopes("upload_file"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),
        input_model=UploadInput,
        output_model=FileDetails,
        handler=upload_file,
        output_kind="item",
        resources=lambda a: (item("folder", a.parent_folder_id, Access.WRITE, "parent"),),
        facts=lambda a: CallFacts(name=a.name, extension=extension_of(a.name), size_bytes=a.inline_size()),
        stdio_only_fields=frozenset({"local_path"}),
    ),
    ToolSpec(
        name="upload_file_version",
        title="Upload a new version of a file",
        description=(
            "Replace a file's content with a new version from content_text, content_base64 or local_path "
            "(stdio only); the old one stays in list_file_versions. Pass etag to refuse if the file changed "
            "since you read it. Returns the updated details."
        ),
        toolset="files",
        access=Access.WRITE,
        box_scopes=box_scopes("upload_file_version"),
        hints=Hints(read_only=False, destructive=True, idempotent=False),
        input_model=UploadVersionInput,
        output_model=FileDetails,
        handler=upload_file_version,
        output_kind="item",
        resources=lambda a: (item("file", a.file_id, Access.WRITE),),
        facts=lambda a: CallFacts(
            name=a.new_name, extension=extension_of(a.new_name), size_bytes=a.inline_size()
        ),
        stdio_only_fields=frozenset({"local_path"}),
    ),
)
