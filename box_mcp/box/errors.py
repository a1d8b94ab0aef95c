"""Box's error answers as one typed error, with the fix from Box's error table, worded for a model.

Everything here comes from Box (or a proxy in front of it) and is untrusted: text is trimmed, tags are
stripped, and nothing from our own request (token, Authorization header) is ever included.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx2

from box_mcp.errors import BoxError, BoxTransportError

from .error_table import STATUS_CODES, lookup
from .wire import scrub_urls

__all__ = ["BoxAPIError", "BoxTransportError", "NotModified", "error_from_response"]

_MAX_TEXT = 400
_MAX_BODY = 64 * 1024


def _clip(text: str, limit: int = _MAX_TEXT) -> str:
    # Control and format characters (terminal escapes, bidi overrides) go: Box's text reaches terminals.
    # A URL it quotes loses its query and any path that may be a download link's token.
    text = scrub_urls("".join(ch for ch in re.sub(r"\s+", " ", text) if ch.isprintable()).strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class BoxAPIError(BoxError):
    """Box answered with an error. `str(err)` says what Box said and what to do next."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str = "",
        request_id: str | None = None,
        context_info: Mapping[str, Any] | None = None,
        help_url: str | None = None,
        fix: str | None = None,
        *,
        retry_after: float | None = None,
        note: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.context_info: dict[str, Any] = dict(context_info or {})
        self.help_url = help_url
        self.fix = fix
        self.retry_after = retry_after
        self.note = note  # what box-mcp adds: the attempts made, or that a write may have happened
        super().__init__(self._render())

    def retold(self, *, fix: str | None = None, note: str | None = None) -> BoxAPIError:
        """The same Box answer with box-mcp's own fix and/or note (the retry loop's account of it)."""
        return BoxAPIError(
            self.status,
            self.code,
            self.message,
            self.request_id,
            self.context_info,
            self.help_url,
            self.fix if fix is None else fix,
            retry_after=self.retry_after,
            note=self.note if note is None else note,
        )

    def _render(self) -> str:
        text = f"Box said {self.status} {self.code}"
        if self.message:
            text += f": {self.message}"
        conflicts = self.conflicts
        if conflicts:
            named = ", ".join(
                f"{c.get('type', 'item')} {c.get('id', '?')}"
                + (f" ({_clip(str(c['name']), 80)!r})" if c.get("name") else "")
                for c in conflicts[:3]
            )
            text += f" [conflicts with {named}]"
        if self.request_id:
            text += f" (request id {self.request_id})"
        text += "."
        if self.retry_after is not None and self.status == 429:
            text += f" Retry after {self.retry_after:g} s."
        if self.note:
            text += f" {self.note}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text

    @property
    def conflicts(self) -> list[dict[str, Any]]:
        """Items named in `context_info.conflicts`: Box sends a list for folders, an object for some files."""
        raw = self.context_info.get("conflicts")
        if isinstance(raw, dict):
            return [raw]
        if isinstance(raw, list):
            return [c for c in raw if isinstance(c, dict)]
        return []

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild,
            (
                self.status,
                self.code,
                self.message,
                self.request_id,
                self.context_info,
                self.help_url,
                self.fix,
                self.retry_after,
                self.note,
            ),
        )


def _rebuild(*args: Any) -> BoxAPIError:
    *head, retry_after, note = args
    return BoxAPIError(*head, retry_after=retry_after, note=note)


@dataclass(frozen=True, slots=True)
class NotModified:
    """The answer to a GET with `If-None-Match` when the item still has that etag (HTTP 304)."""

    etag: str | None = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; Box sends seconds, HTTP dates are not worth trusting here."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    if seconds != seconds or seconds < 0:  # NaN or negative
        return None
    return seconds


def _text_of(body: bytes, content_type: str) -> str:
    text = body[:_MAX_BODY].decode("utf-8", errors="replace")
    if "html" in content_type or text.lstrip().startswith("<"):
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
        if title:
            text = title.group(1)
        else:
            text = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", text, flags=re.IGNORECASE | re.DOTALL)
            text = re.sub(r"<[^>]+>", " ", text)
        text = html.unescape(text)
    return _clip(text, 200)


def error_from_response(response: httpx2.Response, body: bytes | None = None) -> BoxAPIError:
    """Build the error for a non-2xx response whose body (at most 64 KiB of it) has been read."""
    status = response.status_code
    raw = body if body is not None else response.content
    content_type = response.headers.get("content-type", "").lower()
    payload: Any = None
    try:
        payload = json.loads(raw[:_MAX_BODY]) if raw else None
    except ValueError:
        payload = None
    code = message = ""
    context_info: dict[str, Any] = {}
    help_url = request_id = None
    if isinstance(payload, dict):
        # Box's error object, or an OAuth error ({error, error_description}) from the token endpoints.
        code = str(payload.get("code") or payload.get("error") or "")
        message = str(payload.get("message") or payload.get("error_description") or "")
        if isinstance(payload.get("context_info"), dict):
            context_info = payload["context_info"]
        help_url = payload.get("help_url") if isinstance(payload.get("help_url"), str) else None
        request_id = str(payload["request_id"]) if payload.get("request_id") else None
    elif raw:
        kind = content_type.split(";")[0] or "no content type"
        message = f"a non-JSON answer ({kind}): {_text_of(raw, content_type)}"
    code = _clip(code, 80) or STATUS_CODES.get(status, f"http_{status}")
    request_id = request_id or response.headers.get("box-request-id") or None
    entry = lookup(status, code, message)
    if not message and entry:
        message = entry["message"]
    return BoxAPIError(
        status=status,
        code=code,
        message=_clip(message),
        request_id=_clip(request_id, 80) if request_id else None,
        context_info=context_info,
        help_url=help_url,
        fix=entry["fix"] if entry else None,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )
