"""Small wire-level helpers shared by the client modules: query spelling, bodies, paths, results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx2

_MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Verified:
    """A write that failed with 5xx but that the caller's `verify` found had happened: its result."""

    value: Any


def query_params(params: Mapping[str, Any] | None, fields: Sequence[str] | None) -> dict[str, Any] | None:
    query = {k: _param(v) for k, v in (params or {}).items() if v is not None}
    if fields:
        query["fields"] = ",".join(fields)
    return query or None


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return value


def parse_body(response: httpx2.Response) -> Any:
    """JSON for a JSON answer, None for an empty one, bytes otherwise (thumbnails and the like)."""
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.content


async def read_bounded(response: httpx2.Response) -> bytes:
    """At most 64 KiB of an error body (a proxy's error page can be large), then close."""
    buf = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            buf += chunk
            if len(buf) >= _MAX_ERROR_BODY:
                break
    except httpx2.HTTPError:
        pass  # a broken error body still leaves the status code to report
    finally:
        await response.aclose()
    return bytes(buf[:_MAX_ERROR_BODY])


def file_path(file_id: str, suffix: str = "") -> str:
    return f"/files/{quote(file_id, safe='')}{suffix}"
