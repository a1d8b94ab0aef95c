"""File representations (previews): `GET /files/{id}?fields=representations` with `x-rep-hints`, each
entry's `info.url` (asking it generates a paged representation: state none -> success, with
`metadata.pages`) and its `content.url_template` (`{+asset_path}` = `1.png`, `2.png`... for paged ones,
empty for the others; an authenticated call, 202 + Retry-After while not generated yet).

What the emulator can render (page_render.py): the text of text-like files as paged PNG (1024x1024,
2048x2048), and PNG and JPEG images as themselves. Other files list no representation.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

from .. import page_render
from ..common import box_json, emulator, load_item, store
from ..errors import BoxError, not_found
from ..store import now

PNG_DIMENSIONS = tuple(page_render.PAGE_SCALES)
JPG_DIMENSIONS = ("32x32", "94x94", "160x160", "320x320", "1024x1024", "2048x2048")
_HINT = re.compile(r"\[([a-z_]+)(?:\?([^\[\]]*))?\]")
_IMAGE = {"png": "png", "jpg": "jpg", "jpeg": "jpg"}
# Formats Box converts with real renderers the emulator does not have: their bytes are not drawn as text.
_NOT_TEXT = frozenset(
    "pdf doc docx xls xlsx ppt pptx odt ods odp key pages numbers gif bmp tif tiff webp heic svg zip gz "
    "tgz bz2 xz 7z rar tar mp3 mp4 mov avi wav flac ogg exe dll so dylib bin iso dmg".split()
)
_PAGE = re.compile(r"([1-9][0-9]{0,5})\.png")


@dataclass(frozen=True)
class Rep:
    """One representation a file version has: its type, size and whether it is paged (text pages)."""

    kind: str  # png | jpg
    dimensions: str
    paged: bool

    @property
    def key(self) -> str:
        return f"{self.kind}_paged_{self.dimensions}" if self.paged else f"{self.kind}_{self.dimensions}"


def parse_hints(header: str | None) -> list[tuple[str, str | None]] | None:
    """`[png?dimensions=1024x1024][jpg?dimensions=32x32]` -> [("png", "1024x1024"), ("jpg", "32x32")]."""
    if header is None or not header.strip():
        return None
    text = header.strip()
    found = list(_HINT.finditer(text))
    if not found or "".join(m.group(0) for m in found) != text.replace(" ", ""):
        raise BoxError(
            400,
            "bad_request",
            "x-rep-hints must be one or more [type?dimensions=WxH] hints, e.g. [png?dimensions=1024x1024]",
        )
    hints: list[tuple[str, str | None]] = []
    for m in found:
        dims = None
        for part in (m.group(2) or "").split("&"):
            key, _, value = part.partition("=")
            if key == "dimensions":
                dims = value
        hints.append((m.group(1), dims))
    return hints


def _kind_of(row: sqlite3.Row, data: bytes) -> str | None:
    """ "text", "png", "jpg" or None (no representation): by extension and by the bytes themselves."""
    name = str(row["name"])
    ext = name.rsplit(".", 1)[1].lower() if "." in name else ""
    if ext in _IMAGE:
        image = _IMAGE[ext]
        looks = page_render.png_size(data) if image == "png" else page_render.jpeg_size(data)
        return image if looks is not None else None
    if ext in _NOT_TEXT or len(data) > page_render.MAX_TEXT_BYTES or b"\x00" in data[:8192]:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text"


def available(kind: str | None, hints: list[tuple[str, str | None]] | None) -> list[Rep]:
    """The representations a file of `kind` has that the hints ask for (all of them without hints)."""
    offered: list[Rep] = []
    if kind == "text":
        offered = [Rep("png", d, True) for d in PNG_DIMENSIONS]
    elif kind == "png":
        offered = [Rep("png", d, False) for d in PNG_DIMENSIONS]
    elif kind == "jpg":
        offered = [Rep("jpg", d, False) for d in JPG_DIMENSIONS]
    if hints is None:
        return offered
    return [r for r in offered if any(t == r.kind and (d is None or d == r.dimensions) for t, d in hints)]


def _content(request: Request, version: sqlite3.Row) -> bytes:
    st = store(request)
    with st.blob_path(version["blob"]).open("rb") as fh:
        return fh.read(page_render.MAX_TEXT_BYTES + 1)


def _base(request: Request, file_id: str, version_id: str, rep: Rep) -> str:
    origin = emulator(request).origin(request)
    return f"{origin}/2.0/internal_files/{file_id}/versions/{version_id}/representations/{rep.key}"


def _rendered(request: Request, version_id: str, rep: Rep) -> int | None:
    found = store(request).fetch_one(
        "SELECT pages FROM representation_renders WHERE version_id = ? AND representation = ?",
        (version_id, rep.key),
    )
    return int(found["pages"]) if found is not None else None


def entry(request: Request, file_id: str, version_id: str, rep: Rep, pages: int | None) -> dict[str, Any]:
    """Box's representation entry; paged ones are state none until their info.url is asked."""
    base = _base(request, file_id, version_id, rep)
    ready = not rep.paged or pages is not None
    out: dict[str, Any] = {
        "representation": rep.kind,
        "properties": {"dimensions": rep.dimensions, "paged": str(rep.paged).lower(), "thumb": "false"},
        "info": {"url": base},
        "status": {"state": "success" if ready else "none"},
        "content": {"url_template": f"{base}/content/{{+asset_path}}"},
    }
    return out


def for_file(request: Request, row: sqlite3.Row) -> dict[str, Any]:
    """The `representations` field of a file (current version), as x-rep-hints asks."""
    hints = parse_hints(request.headers.get("x-rep-hints"))
    version = store(request).fetch_one("SELECT * FROM file_versions WHERE id = ?", (row["version_id"],))
    if version is None:
        return {"entries": []}
    reps = available(_kind_of(row, _content(request, version)), hints)
    return {
        "entries": [
            entry(request, row["id"], version["id"], r, _rendered(request, version["id"], r)) for r in reps
        ]
    }


def _resolve(request: Request, action: str) -> tuple[sqlite3.Row, sqlite3.Row, Rep, bytes, str]:
    row = load_item(request, "file", request.path_params["file_id"], action)
    version = store(request).fetch_one(
        "SELECT * FROM file_versions WHERE id = ? AND file_id = ? AND trashed_at IS NULL",
        (request.path_params["version_id"], row["id"]),
    )
    if version is None:
        raise not_found("File version not found")
    data = _content(request, version)
    kind = _kind_of(row, data)
    wanted = request.path_params["representation"]
    rep = next((r for r in available(kind, None) if r.key == wanted), None)
    if rep is None or kind is None:
        raise not_found("Representation not found for this file")
    return row, version, rep, data, kind


async def representation_info(request: Request) -> Response:
    """info.url: the entry with `metadata.pages`; asking it generates a paged representation."""
    row, version, rep, data, _kind = _resolve(request, "read")
    pages = 1
    if rep.paged:
        pages = page_render.page_count(data.decode("utf-8"))
        st = store(request)
        if _rendered(request, version["id"], rep) is None:
            st.execute(
                "INSERT OR IGNORE INTO representation_renders "
                "(version_id, representation, pages, created_at) VALUES (?, ?, ?, ?)",
                (version["id"], rep.key, pages, now()),
            )
    out = entry(request, row["id"], version["id"], rep, pages)
    out["metadata"] = {"pages": pages}
    return box_json(out)


async def representation_content(request: Request) -> Response:
    """url_template with the asset path: one page (paged), or the image itself (asset path empty)."""
    _row, version, rep, data, kind = _resolve(request, "preview")
    asset = request.path_params["asset_path"]
    headers = {"Cache-Control": "no-cache, no-store"}
    if not rep.paged:
        if asset:
            raise not_found("This representation is not paged: leave the asset path empty")
        path = store(request).blob_path(version["blob"])  # the image itself, however large
        return FileResponse(path, media_type="image/png" if kind == "png" else "image/jpeg", headers=headers)
    pages = _rendered(request, version["id"], rep)
    if pages is None:  # not generated yet: Box answers 202 until it is
        return Response(status_code=202, headers={"Retry-After": "1", **headers})
    m = _PAGE.fullmatch(asset)
    if m is None or not 1 <= int(m.group(1)) <= pages:
        raise not_found(f"No such page: this representation has pages 1.png to {pages}.png")
    png = page_render.render_page(data.decode("utf-8"), int(m.group(1)), rep.dimensions)
    return Response(png, media_type="image/png", headers=headers)


_BASE = "/2.0/internal_files/{file_id:boxid}/versions/{version_id:boxid}/representations/{representation}"
routes: list[BaseRoute] = [
    Route(_BASE, representation_info, methods=["GET"]),
    Route(_BASE + "/content/{asset_path:path}", representation_content, methods=["GET"]),
]
