"""files toolset, transfer side: short-lived URLs a client uses to move bytes to or from Box directly.

`get_download_url` asks Box for a file's content (`GET /files/{id}/content`), which Box answers with a 302
to a short-lived link on its download host (dl.boxcloud.com); the tool hands over that Location without
following it. `get_upload_url` runs Box's upload preflight (`OPTIONS /files/content` for a new file,
`/files/{id}/content` for a new version), which checks name, permission and quota and answers an
`upload_url` with an `upload_token` for it.

Both are bearer secrets: whoever holds one can move those bytes until it expires. They reach the agent
(that is the point) and nothing else: the audit records that one was issued, for which item, and until
when (`audit_detail`), never the URL or the token; error texts never quote them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx2
from pydantic import Field, model_validator

from box_mcp.access import Access, CallFacts, ResourceUse
from box_mcp.errors import BoxError, ToolInputError
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import (
    READ_HINTS,
    BoxId,
    Hints,
    ItemName,
    ToolContext,
    ToolInput,
    ToolOutput,
    ToolSpec,
    extension_of,
    item,
)

# How long box-mcp tells a client a URL stays usable. Box publishes no lifetime for either; its download
# links and upload URLs are short-lived (the emulator's: 300 s and 600 s), so this is a "use by", not
# Box's own expiry: a client should fetch again after it rather than retry the old URL.
USE_WITHIN_SECONDS = 300
MAX_UPLOAD_BYTES = 500 * 1024**3  # Box's largest single file (Enterprise Plus: 500 GB)


def _use_by(issued: float) -> str:
    return datetime.fromtimestamp(issued + USE_WITHIN_SECONDS, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _checked_url(raw: object, base: str, what: str) -> str:
    """An absolute http(s) URL from Box's answer (resolved against `base` when relative), or a BoxError
    that does not quote it: the URL is a secret, and its text came from Box."""
    if not isinstance(raw, str) or not raw or len(raw) > 8192:
        raise BoxError(f"Box answered {what} without a usable URL. Fix: try again; if it persists, ask Box.")
    try:
        url = httpx2.URL(base).join(raw)
    except httpx2.InvalidURL:
        raise BoxError(f"Box answered {what} with a URL that is not valid. Fix: try again.") from None
    if url.scheme not in ("https", "http") or not url.host:
        raise BoxError(f"Box answered {what} with a URL that is not http(s). Fix: try again.")
    if url.scheme == "http" and httpx2.URL(base).scheme == "https":  # never downgrade real Box's links
        raise BoxError(f"Box answered {what} with a plain-http URL; refusing it. Fix: try again.")
    return str(url)


# --- get_download_url ----------------------------------------------------------------------------------


class DownloadUrlInput(ToolInput):
    file_id: BoxId
    version_id: BoxId | None = Field(
        None, description="An older version (list_file_versions); default current"
    )


class DownloadUrl(ToolOutput):
    file_id: str
    version_id: str | None = None
    name: str | None = None
    size: int | None = None
    sha1: str | None = None
    download_url: str = Field(
        description="GET it, with no Authorization header: the URL itself grants access"
    )
    expires_at: str = Field(description="Use it before this time (UTC); then ask for a new one")
    note: str = (
        "A bearer link to this file's bytes: anyone holding it can download them until it expires. Give it "
        "only to the person or program that needs the file; do not post it in shared places."
    )

    def audit_detail(self) -> dict[str, Any]:
        return {
            "issued": "download_url",
            "file_id": self.file_id,
            "version_id": self.version_id,
            "expires_at": self.expires_at,
        }


async def get_download_url(ctx: ToolContext, args: DownloadUrlInput) -> DownloadUrl:
    info = await ctx.box.get(f"/files/{args.file_id}", params={"fields": "id,name,size,sha1,file_version"})
    version = info.get("file_version")
    current = version.get("id") if isinstance(version, dict) else None
    path = f"/files/{quote(args.file_id, safe='')}/content"
    params = {"version": args.version_id} if args.version_id else None
    issued = time.time()
    response = await ctx.box.send("GET", path, params=params, stream=True)
    assert isinstance(response, httpx2.Response)  # without verify, never a Verified
    await response.aclose()  # a 200 would be the bytes themselves: not read, not wanted
    status = response.status_code
    if status == 202:
        wait = response.headers.get("retry-after", "a few")
        raise ToolInputError(
            f"file_id: Box is still preparing this file's content; call get_download_url again in {wait} s."
        )
    if status not in (301, 302, 303, 307, 308):
        raise BoxError(
            f"Box answered {status} instead of a download link for file {args.file_id}. Fix: for a small "
            "file use get_file_content; otherwise try again."
        )
    url = _checked_url(response.headers.get("location"), ctx.box.url(path), "the download")
    same = args.version_id is None or args.version_id == current
    return DownloadUrl(
        file_id=args.file_id,
        version_id=args.version_id or current,
        name=info.get("name"),
        size=info.get("size") if same else None,
        sha1=info.get("sha1") if same else None,
        download_url=url,
        expires_at=_use_by(issued),
    )


# --- get_upload_url ------------------------------------------------------------------------------------


class UploadUrlInput(ToolInput):
    folder_id: BoxId | None = Field(None, description="A new file: the folder it goes into (with file_name)")
    file_id: BoxId | None = Field(None, description="A new version of this file instead")
    file_name: ItemName | None = Field(None, description="The new file's name (with file_id: a new name)")
    # Required: a policy's max_upload_bytes decides on it (a size left out would escape that rule).
    size: int = Field(ge=0, le=MAX_UPLOAD_BYTES, description="Bytes you will send")

    @model_validator(mode="after")
    def _new_file_or_new_version(self) -> UploadUrlInput:
        if (self.folder_id is None) == (self.file_id is None):
            raise ValueError("give folder_id (with file_name) for a new file, or file_id for a new version")
        if self.folder_id is not None and self.file_name is None:
            raise ValueError("a new file needs file_name")
        return self


class UploadUrl(ToolOutput):
    kind: Literal["new_file", "new_version"]
    folder_id: str | None = None
    file_id: str | None = None
    file_name: str | None = None
    size: int
    upload_url: str
    upload_token: str
    attributes: dict[str, Any] = Field(description="JSON of the 'attributes' part (see note)")
    expires_at: str = Field(description="Start before (UTC); then ask again")
    note: str = (
        "POST multipart/form-data to upload_url with the header 'Authorization: Bearer <upload_token>': "
        "a part 'attributes' holding the attributes JSON, then a part 'file' with the bytes. It takes "
        "exactly this upload. Keep the URL and token private: they let anyone holding them upload here "
        "until they expire."
    )

    def audit_detail(self) -> dict[str, Any]:
        return {
            "issued": "upload_url",
            "kind": self.kind,
            "folder_id": self.folder_id,
            "file_id": self.file_id,
            "file_name": self.file_name,
            "size": self.size,
            "expires_at": self.expires_at,
        }


async def get_upload_url(ctx: ToolContext, args: UploadUrlInput) -> UploadUrl:
    body: dict[str, Any] = {}
    if args.file_name is not None:
        body["name"] = args.file_name
    body["size"] = args.size
    issued = time.time()
    if args.folder_id is not None:
        body["parent"] = {"id": args.folder_id}
        path, attributes = "/files/content", {"name": args.file_name, "parent": {"id": args.folder_id}}
    else:
        path = f"/files/{args.file_id}/content"
        attributes = {"name": args.file_name} if args.file_name else {}
    raw = await ctx.box.options(path, json=body)
    if not isinstance(raw, dict):
        raise BoxError("Box's upload preflight answered no upload URL. Fix: try again.")
    url = _checked_url(raw.get("upload_url"), ctx.box.url(path), "the upload preflight")
    token = raw.get("upload_token")
    if not isinstance(token, str) or not token:
        raise BoxError(
            "Box's upload preflight answered an upload URL without an upload token, so the client would "
            "need box-mcp's own Box token, which box-mcp never hands out. Fix: use upload_file instead."
        )
    return UploadUrl(
        kind="new_file" if args.folder_id is not None else "new_version",
        folder_id=args.folder_id,
        file_id=args.file_id,
        file_name=args.file_name,
        size=args.size,
        upload_url=url,
        upload_token=token,
        attributes=attributes,
        expires_at=_use_by(issued),
    )


def _upload_resources(args: UploadUrlInput) -> tuple[ResourceUse, ...]:
    if args.folder_id is not None:  # a new file: a write into the folder, as upload_file is
        return (item("folder", args.folder_id, Access.WRITE, "parent"),)
    return (item("file", args.file_id or "", Access.WRITE),)  # a new version, as upload_file_version is


SPECS = (
    ToolSpec(
        name="get_download_url",
        title="Get a download URL for a file",
        description=(
            "Return a short-lived URL to a file's bytes (or a version's) that a person or a client able to "
            "reach Box fetches with no token: for large or binary files. It expires in minutes "
            "(expires_at) and works for whoever holds it: share it only with who needs the file."
        ),
        toolset="files",
        access=Access.READ,
        box_scopes=box_scopes("get_download_url"),
        hints=READ_HINTS,
        input_model=DownloadUrlInput,
        output_model=DownloadUrl,
        handler=get_download_url,
        resources=lambda a: (item("file", a.file_id, Access.READ),),
    ),
    ToolSpec(
        name="get_upload_url",
        title="Get an upload URL",
        description=(
            "Check an upload with Box (name, permission, quota) and return a short-lived URL and token a "
            "client able to reach Box POSTs the bytes to: a new file (folder_id + file_name) or a new "
            "version (file_id). For large or binary content. One upload; expires in minutes; keep it private."
        ),
        toolset="files",
        access=Access.WRITE,
        box_scopes=box_scopes("get_upload_url"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=UploadUrlInput,
        output_model=UploadUrl,
        handler=get_upload_url,
        resources=_upload_resources,
        facts=lambda a: CallFacts(name=a.file_name, extension=extension_of(a.file_name), size_bytes=a.size),
    ),
)
