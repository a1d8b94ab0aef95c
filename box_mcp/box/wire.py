"""Small wire-level helpers shared by the client modules: query spelling, bodies, paths, results, and
the safe spelling of URLs and connection failures in error texts and log lines."""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

_MAX_ERROR_BODY = 64 * 1024
# Paths that name API resources by id and carry no secret; any other path (a download link's
# `/d/1/<token>/download`, the emulator's `/dl/<token>/<id>`) may be the secret itself.
_API_PATHS = ("/2.0/", "/api/2.0/", "/oauth2/")
_URL_IN_TEXT = re.compile(r"\b(?:https?|wss?)://[^\s\"'<>()\[\]{}]+", re.IGNORECASE)


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


def safe_url(url: str) -> str:
    """A URL fit for an error text or a log line: no user info, no query, no fragment, and no path
    unless it is an API path (a signed download link carries its token in the path)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(a URL)"
    if not parts.scheme or not host:
        return "(a URL)"
    host = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    origin = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    path = parts.path if parts.path.startswith(_API_PATHS) else ("/…" if parts.path.strip("/") else "/")
    return origin + path


def url_path_text(url: str) -> str:
    """How an error names the URL a request went to: its API path, or a safe form of anything else
    (the emulator serves its download links, `/dl/<token>/<id>`, on the API's own origin)."""
    path = urlsplit(url).path
    return path if path.startswith(_API_PATHS) else safe_url(url)


def scrub_urls(text: str) -> str:
    """Every URL in `text` as `safe_url` shows it (Box's, or a proxy's, error text may quote one)."""

    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        core = url.rstrip(".,;:!?")  # sentence punctuation after a URL stays in the sentence
        return safe_url(core) + url[len(core) :]

    return _URL_IN_TEXT.sub(one, text)


def connect_reason(exc: BaseException) -> str:
    """Why a connection failed, in plain words: the OS error under httpx's ("All connection attempts
    failed") names it; the exception chain is walked to find it."""
    chain: list[BaseException] = []
    link: BaseException | None = exc
    while link is not None and len(chain) < 10:
        chain.append(link)
        link = link.__cause__ or link.__context__
    text = " ".join(str(e) for e in chain).lower()
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
        s in text for s in ("name or service", "nodename", "getaddrinfo", "name resolution")
    ):
        return "the host name is not known"
    if isinstance(exc, httpx2.TimeoutException) or any(isinstance(e, TimeoutError) for e in chain):
        return "no answer: the connection timed out"
    if "unreachable" in text:
        return "network unreachable"
    if isinstance(exc, httpx2.UnsupportedProtocol):
        return "not an http:// or https:// URL"
    return "the connection failed"


def is_real_box(origin: str) -> bool:
    host = (urlsplit(origin).hostname or "").lower()
    return host == "box.com" or host.endswith(".box.com")


def fix_for_origin(origin: str) -> str:
    """What to do when `origin` cannot be reached: for an emulator, a wrong setting or a stopped process."""
    if is_real_box(origin):
        return "check the network and Box's status (https://status.box.com), then try again."
    return "check --box-url / BOX_MCP_BOX_URL, or that the emulator is running (box-mcp emulator)."


class ScrubURLs(logging.Filter):
    """Rewrites each record as `scrub_urls` shows it: httpx logs every request's full URL at INFO, and a
    download link's URL is its secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "://" in message:
            record.msg, record.args = scrub_urls(message), None
        return True


def file_path(file_id: str, suffix: str = "") -> str:
    return f"/files/{quote(file_id, safe='')}{suffix}"


_NOUN = re.compile(r"[a-z][a-z_]*|\d+\.\d+|oauth2")


def route_template(url: str) -> str:
    """The path of a Box URL with every segment that is not one of Box's nouns as {id}.

    Box spells its nouns in lower case with underscores (files, upload_sessions, metadata_templates), its
    versions as 2.0; anything else (an id, an upload session, a metadata scope with the enterprise id in
    it, a template key) becomes {id}."""
    path = urlsplit(url).path or "/"
    return "/".join(seg if _NOUN.fullmatch(seg) or not seg else "{id}" for seg in path.split("/"))
