"""Redaction of record fields before they reach the audit log: no file content, no secret, no token.
The five rules (content, secret fields, credential-looking strings, long strings, non-finite numbers)
are listed in docs/audit-format.md; `Redactor` applies them recursively.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

MASK = "[masked]"
TOKEN_MASK = "[masked-token]"
MAX_CHARS = 256
CUT_PREFIX = 64
MAX_DEPTH = 16

CONTENT_FIELDS = frozenset({"content", "content_base64", "file_content", "text", "body", "data", "payload"})
SECRET_FIELDS = frozenset(
    {
        "password",
        "passphrase",
        "secret",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "developer_token",
        "authorization",
        "api_key",
        "apikey",
        "private_key",
        "jwt",
        "assertion",
        "cookie",
        "code_verifier",
        # URLs and tokens that are their own bearer credential (get_download_url, get_upload_url)
        "download_url",
        "upload_url",
        "upload_token",
    }
)

# Why each pattern: "Bearer x" is how tokens travel in headers; JWTs start with a base64 '{"'; Box
# access and developer tokens are 32 alphanumerics. The last one needs upper, lower and a digit so hex
# digests and numeric Box ids are not masked.
_TOKEN_RE = re.compile(
    r"(?i:\bbearer\s+[A-Za-z0-9._~+/=-]{8,})"
    r"|\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"
    r"|(?<![A-Za-z0-9])(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[0-9])"
    r"[A-Za-z0-9]{32}(?![A-Za-z0-9])"
)
_SHORTEST_TOKEN = 15  # "eyJxxxxx.xxxxx." and "Bearer xxxxxxxx": nothing shorter can match
_ALNUM_RUN = re.compile(r"[A-Za-z0-9]{32}")


def _may_hold_token(text: str) -> bool:
    """False only when _TOKEN_RE cannot match `text`: each of its three patterns needs a literal that is
    cheap to look for ("eyJ"; "bearer" in any case: no character outside ASCII matches b, e, a or r
    under re.IGNORECASE, so str.lower() finds every one; a run of 32 ASCII letters and digits). About
    five times cheaper than the substitution on the strings a record usually holds (names, ids, paths)."""
    return (
        "eyJ" in text or "bearer" in text.lower() or (len(text) >= 32 and _ALNUM_RUN.search(text) is not None)
    )


def _norm(name: str) -> str:
    key = name.strip().lower().replace("-", "_")
    if len(_NORM) < 4096:  # field names repeat call after call; bounded, as callers choose them
        _NORM[name] = key
    return key


_NORM: dict[str, str] = {}


def content_digest(value: str | bytes, *, is_base64: bool = False) -> dict[str, Any]:
    """The stand-in for a content payload: its SHA-256 and size in bytes, never the bytes."""
    if isinstance(value, str):
        raw: bytes | None = None
        if is_base64:
            try:
                raw = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raw = None
        data = raw if raw is not None else value.encode("utf-8", "surrogatepass")
    else:
        data = bytes(value)
    return {"redacted": "content", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


NONFINITE_KEY = "$nonfinite"


def finite_or_tagged(value: float) -> float | dict[str, str]:
    """`value` itself when JSON can hold it, else its tagged stand-in ({"$nonfinite": "NaN"}, ...)."""
    if math.isfinite(value):
        return value
    return {NONFINITE_KEY: "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}


def mask_tokens(text: str) -> str:
    """Replace every credential-looking run in `text` with a mask."""
    if len(text) < _SHORTEST_TOKEN or not _may_hold_token(text):
        return text
    return _TOKEN_RE.sub(TOKEN_MASK, text)


def redact_string(text: str, *, max_chars: int = MAX_CHARS) -> Any:
    if len(text) >= _SHORTEST_TOKEN and _may_hold_token(text):
        text = _TOKEN_RE.sub(TOKEN_MASK, text)
    # Lone surrogates cannot be encoded as UTF-8; the log must stay valid UTF-8.
    safe = text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")
    if len(safe) <= max_chars:
        return safe
    return {
        "cut": safe[:CUT_PREFIX],
        "sha256": hashlib.sha256(safe.encode("utf-8")).hexdigest(),
        "chars": len(safe),
    }


class Redactor:
    """Applies the rules above; `secret_fields` adds field names a policy marks secret."""

    def __init__(self, secret_fields: Iterable[str] = (), *, max_chars: int = MAX_CHARS) -> None:
        self.secret_fields = SECRET_FIELDS | {_norm(n) for n in secret_fields}
        self.max_chars = max_chars

    def __call__(self, value: Any) -> Any:
        return self._value(value, 0)

    def _value(self, value: Any, depth: int) -> Any:
        kind = type(value)
        if kind is str:  # the common cases first: this runs on the path of every audited call
            return redact_string(value, max_chars=self.max_chars)
        if value is None or kind is int or kind is bool:
            return value
        if kind is float:
            return finite_or_tagged(value)
        if kind is dict and depth < MAX_DEPTH:
            return {str(k): self._field(str(k), v, depth + 1) for k, v in value.items()}
        if value is None or isinstance(value, bool | int):
            return value
        if isinstance(value, float):
            return finite_or_tagged(float(value))
        if isinstance(value, str):
            return redact_string(value, max_chars=self.max_chars)
        if isinstance(value, bytes | bytearray | memoryview):
            return content_digest(bytes(value))
        if isinstance(value, Enum):
            return self._value(value.value, depth)
        if depth >= MAX_DEPTH:
            return "[too deep]"
        if isinstance(value, Mapping):
            return {str(k): self._field(str(k), v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._value(v, depth + 1) for v in value]
        model_dump = getattr(value, "model_dump", None)
        if callable(model_dump):  # a pydantic model: redact its plain form
            return self._value(model_dump(mode="json"), depth)
        return self._value(str(value), depth)

    def _field(self, name: str, value: Any, depth: int) -> Any:
        key = _NORM.get(name) or _norm(name)
        if key in self.secret_fields:
            return None if value is None else MASK
        if key in CONTENT_FIELDS and isinstance(value, str | bytes | bytearray | memoryview):
            return content_digest(
                value if isinstance(value, str) else bytes(value), is_base64=key.endswith("base64")
            )
        return self._value(value, depth)


def redact(value: Any, secret_fields: Iterable[str] = (), *, max_chars: int = MAX_CHARS) -> Any:
    """Redact `value` (usually a tool's arguments) with the default rules plus `secret_fields`."""
    return Redactor(secret_fields, max_chars=max_chars)(value)
