"""Streaming multipart upload parsing: `attributes` JSON first, then the file part straight into a blob.

The file part never touches memory as a whole (each chunk is hashed and written as it arrives), and
an upload whose `attributes` come after the file is refused at the first byte of the file part.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from .errors import BoxError
from .store import Blob, BlobWriter, Store

MAX_ATTRIBUTES = 64 * 1024


@dataclass
class Upload:
    attributes: dict[str, Any]
    blob: Blob
    filename: str


@dataclass
class _State:
    store: Store
    attributes_required: bool
    on_attributes: Callable[[dict[str, Any]], None]
    headers: dict[bytes, bytes] = field(default_factory=dict)
    header_field: bytes = b""
    header_value: bytes = b""
    kind: str = ""  # attributes | file | other
    attributes_raw: bytearray = field(default_factory=bytearray)
    attributes: dict[str, Any] | None = None
    writer: BlobWriter | None = None
    filename: str = ""
    file_done: bool = False
    orphan_file: bool = False  # a file part that arrived before the required attributes

    def header_end(self) -> None:
        self.headers[self.header_field.lower()] = self.header_value
        self.header_field, self.header_value = b"", b""

    def headers_finished(self) -> None:
        _, params = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if name == "attributes" and b"filename" not in params:
            self.kind = "attributes"
        elif name == "file" or b"filename" in params:
            if self.writer is not None or self.file_done or self.orphan_file:
                raise BoxError(400, "bad_request", "An upload carries exactly one file part")
            if self.attributes is None and self.attributes_required:
                # Read past it without storing: an attributes part after it means
                # metadata_after_file_contents, none at all means a missing attributes part.
                self.kind, self.orphan_file = "orphan", True
                return
            self.kind = "file"
            self.filename = params.get(b"filename", b"").decode("utf-8", "replace")
            self.writer = self.store.blob_writer()
        else:
            self.kind = "other"  # unknown parts are ignored, as Box does

    def data(self, data: bytes, start: int, end: int) -> None:
        if self.kind == "attributes":
            if len(self.attributes_raw) + end - start > MAX_ATTRIBUTES:
                raise BoxError(400, "bad_request", "The 'attributes' part is larger than 64 KB")
            self.attributes_raw += data[start:end]
        elif self.kind == "file" and self.writer is not None:
            self.writer.write(data[start:end])

    def part_end(self) -> None:
        if self.kind == "attributes":
            if self.file_done or self.writer is not None or self.orphan_file:
                raise BoxError(
                    400,
                    "metadata_after_file_contents",
                    "Metadata is included after file contents in a file upload request.",
                )
            try:
                parsed = json.loads(bytes(self.attributes_raw))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise BoxError(400, "bad_request", "The 'attributes' part is not valid JSON") from None
            if not isinstance(parsed, dict):
                raise BoxError(400, "bad_request", "The 'attributes' part must be a JSON object")
            self.attributes = parsed
            self.on_attributes(parsed)  # refuse (permissions, names) before any file byte is read
        elif self.kind == "file":
            self.file_done = True
        self.kind, self.headers = "", {}


async def read_upload(
    request: Request,
    store: Store,
    *,
    attributes_required: bool,
    on_attributes: Callable[[dict[str, Any]], None] = lambda _: None,
) -> Upload:
    """Parse a Box upload body; the caller gets the attributes and the stored (not yet referenced) blob."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if ctype != b"multipart/form-data" or not boundary:
        raise BoxError(
            400, "bad_request", "Uploads must be multipart/form-data with 'attributes' and 'file' parts"
        )
    state = _State(store, attributes_required, on_attributes)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": state.header_end,
            "on_headers_finished": state.headers_finished,
            "on_part_data": state.data,
            "on_part_end": state.part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        _discard(state)
        raise BoxError(400, "bad_request", "The multipart body is malformed") from None
    except BaseException:
        _discard(state)
        raise
    if state.attributes is None and attributes_required:
        _discard(state)
        raise BoxError(400, "bad_request", "The upload has no 'attributes' part (it must precede 'file')")
    if state.writer is None or not state.file_done:
        _discard(state)
        raise BoxError(
            400, "bad_request", "The upload has no file part (a part named 'file' with a filename)"
        )
    expected = request.headers.get("content-md5")
    if expected is not None and expected.strip().lower() != state.writer.sha1:
        _discard(state)
        raise BoxError(400, "bad_digest", "The specified content-md5 did not match what we received")
    return Upload(attributes=state.attributes or {}, blob=state.writer.finish(), filename=state.filename)


def _discard(state: _State) -> None:
    if state.writer is not None:
        state.writer.discard()
        state.writer = None
